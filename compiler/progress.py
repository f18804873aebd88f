"""Build progress: a live spinner with per-pass lines on a terminal, plain lines otherwise."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from compiler.passes.base import PassEvent
from compiler.report_model import CandidateRow, Report


class Progress:
    def __init__(self, console: Console):
        self.console = console
        self._status = None

    def __enter__(self) -> "Progress":
        if self.console.is_terminal:
            self._status = self.console.status("building...")
            self._status.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._status is not None:
            self._status.__exit__(*exc)

    def event(self, e: PassEvent) -> None:
        how = f"FAILED: {e.detail}" if e.failed else "cached" if e.cached else f"{e.seconds:.2f}s"
        self.console.print(f"  {e.name:40} {how}", markup=False, highlight=False)

    def step(self, name: str, done: int, total: int) -> None:
        """A long pass's progress (distillation's training steps): a bar in the live status line on
        a terminal, redrawn each 5 %; nothing otherwise (the pass's own line follows when it ends)."""
        if self._status is None or total <= 0:
            return
        filled = done * 20 // total
        if done == total or filled != (done - 1) * 20 // total:
            # Text, not a string: rich would read "[###...]" as markup and drop it.
            self._status.update(Text(f"{name} [{'#' * filled}{'.' * (20 - filled)}] {done}/{total} steps"))

    def summary(self, result) -> None:
        r: Report = result.report
        table = Table(title=f"{r.name} {r.version} -> {r.target}", show_edge=False)
        if any(c.token_agreement is not None for c in r.candidates):
            _generation_rows(table, r)
        else:
            _rows(table, r)
        self.console.print(table)
        for c in r.candidates:  # why each one failed, on the console too
            whys = [f"{c.candidate}: could not be built or run: {c.error}"] if c.error else c.gate_failures
            for why in whys:
                self.console.print(f"  - {why}", markup=False, highlight=False)
        cached = sum(e.cached for e in result.events)
        self.console.print(f"selected {r.selected.candidate}: {r.selected.reason}", markup=False)
        self.console.print(f"{cached} of {len(result.events)} passes from the cache; wrote {result.target_dir}",
                           markup=False)


def _generation_rows(table: Table, r: Report) -> None:
    """text-generation: greedy agreement, perplexity increase, decode speed, TTFT, memory."""
    for col in ("candidate", "size MB", "token agreement", "ppl increase", "tokens/s", "TTFT ms", "peak MB", "gates"):
        table.add_column(col)
    for c in r.candidates:
        table.add_row(c.candidate, _cell(c, "size_mb", ".1f"), _cell(c, "token_agreement", ".4f"),
                      _cell(c, "perplexity_increase", ".4f"), _cell(c, "tokens_per_s", ".1f"),
                      _cell(c, "ttft_ms", ".1f"), _cell(c, "peak_memory_mb", ".0f"), "pass" if c.passed else "FAIL")


def _rows(table: Table, r: Report) -> None:
    for col in ("candidate", "size MB", "cosine", "accuracy", "p50 ms (b1)", "gates"):
        table.add_column(col)
    for c in r.candidates:
        lat = c.latency_at(1)
        p50 = None if lat is None else lat.p50_ms
        table.add_row(c.candidate, _cell(c, "size_mb", ".3f"), _cell(c, "cosine", ".6f"),
                      _cell(c, "accuracy", ".4f"), "-" if p50 is None else f"{p50:.4f}",
                      "pass" if c.passed else "FAIL")


def _cell(row: CandidateRow, key: str, fmt: str) -> str:
    """A report metric: null is '-' unless it was a NaN or Inf, which the row spells out."""
    if key in row.non_finite:
        return row.non_finite[key]
    value = getattr(row, key)
    return "-" if value is None else format(value, fmt)
