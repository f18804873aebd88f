"""The sweep's console summary: the report's rows, plus the run-specific cache counts."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from compiler.sweep.report import NOT_MEASURED, rows


def print_summary(console: Console, result) -> None:
    if console.is_terminal:
        _table(console, result)
    else:  # logs and CI: one line per job, never wrapped mid-word
        for r in rows(result):
            console.print(_line(r), markup=False)
    for job, outcome in result.failed:
        console.print(f"FAILED {job.label}: {outcome.error}", markup=False)
    ran = sum(not e["cached"] for o in result.outcomes for e in o.events)
    cached = sum(e["cached"] for o in result.outcomes for e in o.events)
    console.print(f"{len(result.jobs)} job(s) via {result.launcher}; {cached} passes from the cache, {ran} run; "
                  f"wrote {result.out}/sweep.md, sweep.csv, sweep.png", markup=False)


def _line(r) -> str:
    if r.status != "ok":
        return f"{r.job}: FAILED"
    p50 = NOT_MEASURED if r.p50_ms is None else f"p50 {r.p50_ms:.4f} ms"
    return (f"{r.job}: ok, {r.selected}, {r.size_mb:.4f} MB, {p50}, cosine {r.cosine:.6f}, "
            f"accuracy {'-' if r.accuracy is None else f'{r.accuracy:.4f}'}, {r.gates}")


def _table(console: Console, result) -> None:
    table = Table(title=f"sweep: {len(result.jobs)} job(s) via {result.launcher}", show_edge=False)
    for col in ("job", "status", "selected", "size MB", "p50 ms", "cosine", "accuracy", "gates"):
        table.add_column(col, overflow="fold")
    for r in rows(result):
        p50 = "-" if r.status != "ok" else NOT_MEASURED if r.p50_ms is None else f"{r.p50_ms:.4f}"
        table.add_row(r.job, "ok" if r.status == "ok" else "FAILED", r.selected or "-",
                      "-" if r.size_mb is None else f"{r.size_mb:.4f}", p50,
                      "-" if r.cosine is None else f"{r.cosine:.6f}",
                      "-" if r.accuracy is None else f"{r.accuracy:.4f}", r.gates.replace(" candidates", "") or "-")
    console.print(table)
