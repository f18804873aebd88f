"""The sweep report: <OUT>/sweep.md, sweep.csv and sweep.png, one row per job.

Deterministic: rows in job order, numbers as the per-target reports hold them, no times, no
launcher name, no absolute paths. A latency cell is a measured number or the words
"not measured on this host" (a GPU target built on a CPU host); never an invented number.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from compiler.report_model import CandidateRow, LatencyRow, Report

NOT_MEASURED = "not measured on this host"


@dataclass(frozen=True)
class Row:
    job: str
    overrides: str
    target: str
    status: str  # ok | failed
    error: str
    selected: str
    sha256: str
    format: str
    precision: str
    size_mb: float | None
    latency_batch: int | None
    p50_ms: float | None
    p99_ms: float | None
    latency_note: str
    cosine: float | None
    top1_agreement: float | None
    accuracy: float | None
    accuracy_drop: float | None
    gates: str  # "3/4 candidates pass"
    emitters: str


def rows(result) -> list[Row]:
    return [_row(job, outcome) for job, outcome in zip(result.jobs, result.outcomes)]


def _row(job, outcome) -> Row:
    base = dict(job=job.label, overrides=" ".join(job.overrides), target=job.target)
    if outcome.ok and outcome.engine is not None:
        return _engine_row(base, outcome.engine)
    if not outcome.ok or outcome.report is None:
        return Row(**base, status="failed", error=_one_line(outcome.error), selected="", sha256="", format="",
                   precision="", size_mb=None, latency_batch=None, p50_ms=None, p99_ms=None, latency_note="",
                   cosine=None, top1_agreement=None, accuracy=None, accuracy_drop=None, gates="", emitters="")
    r = outcome.report
    chosen = r.chosen
    lat = _latency(chosen, r)
    passing = sum(c.passed for c in r.candidates)
    return Row(**base, status="ok", error="", selected=chosen.candidate, sha256=chosen.sha256,
               format=chosen.format, precision=chosen.precision, size_mb=chosen.size_mb,
               latency_batch=lat and lat.batch, p50_ms=lat and lat.p50_ms, p99_ms=lat and lat.p99_ms,
               latency_note=_note(r), cosine=chosen.cosine, top1_agreement=chosen.top1_agreement,
               accuracy=chosen.accuracy, accuracy_drop=chosen.accuracy_drop,
               gates=f"{passing}/{len(r.candidates)} candidates pass",
               emitters=", ".join(s.name for s in r.plan.emitters if s.run))


def _engine_row(base: dict, engine: dict) -> Row:
    """serve.engine vllm: what the capacity plan decided (nothing is measured or verified here)."""
    c = engine["capacity"]
    layout = f"vllm: tensor parallel {c['tensor_parallel']} x pipeline parallel {c['pipeline_parallel']}"
    replicas = f", {c['replicas']} replicas" if c["replicas"] is not None else ""
    emitters = [s["name"] for s in engine["plan"] if s["run"] and s["name"] != "passes"]
    return Row(**base, status="ok", error="", selected=layout + replicas, sha256="", format="huggingface",
               precision=engine["quantization"] or engine["dtype"], size_mb=round(c["weights_gib"] * 2**30 / 1e6, 3),
               latency_batch=None, p50_ms=None, p99_ms=None, latency_note="not measured: vLLM serves on the target's GPUs",
               cosine=None, top1_agreement=None, accuracy=None, accuracy_drop=None,
               gates="none (vLLM serves the folder as it is)", emitters=", ".join(emitters))


def _latency(candidate: CandidateRow, report: Report) -> LatencyRow | None:
    """Batch 1 where measured (else the first batch size measured); None when not measured here."""
    if not report.measured or not candidate.latency:
        return None
    return candidate.latency_at(1) or candidate.latency[0]


def _note(report: Report) -> str:
    note = report.latency_note
    if report.measured:
        return note
    # The per-target report words it "latency not measured on this host (...)" or similar;
    # the sweep always leads with the same words so a reader (or a script) can rely on them.
    return note if note.startswith(NOT_MEASURED) else f"{NOT_MEASURED}: {note}".rstrip(": ")


def _one_line(text: str) -> str:
    parts = [p.strip().lstrip("- ").strip() for p in (text or "").splitlines() if p.strip()]
    return "; ".join(parts).replace("gates:;", "gates:")


def _num(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _latency_cell(row: Row) -> str:
    if row.status != "ok":
        return "-"
    if row.p50_ms is None:
        return NOT_MEASURED
    return f"{row.p50_ms:.4f} / {row.p99_ms:.4f} (b{row.latency_batch})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(result, table: list[Row]) -> str:
    name = _spec_name(result)
    failed = [r for r in table if r.status != "ok"]
    lines = [f"# Sweep: {name}", "",
             f"`deployc build {result.spec_file} -m {' '.join(_task_overrides(result))}`: "
             f"{len(table)} job(s), {len(table) - len(failed)} built, {len(failed)} failed.", "",
             "| job | status | selected | size MB | p50 / p99 ms | cosine | top-1 agreement | accuracy | gates | emitters |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        status = "ok" if r.status == "ok" else f"FAILED: {r.error}"
        selected = f"{r.selected} ({r.format} {r.precision}, `{r.sha256[:12]}`)" if r.selected else "-"
        size = "-" if r.size_mb is None else f"{r.size_mb:.4f}"
        lines.append("| " + " | ".join(_cell(c) for c in (
            r.job, status, selected, size, _latency_cell(r), _num(r.cosine, 6), _num(r.top1_agreement),
            _num(r.accuracy), r.gates or "-", r.emitters or "-")) + " |")
    notes = [f"- {r.job}: {r.latency_note}" for r in table if r.status == "ok" and r.latency_note]
    if notes:
        lines += ["", "Latency (p50 / p99 of the selected artifact):", *notes]
    if failed:
        lines += ["", "Failures:", *(f"- {r.job} (`{r.overrides}`): {r.error}" for r in failed)]
    return "\n".join(lines) + "\n"


def _task_overrides(result) -> list[str]:
    """The launcher (hydra/launcher=..., --jobs) changes how jobs run, never what they build."""
    from compiler.sweep.jobs import is_hydra_override

    return [o for o in result.overrides if not is_hydra_override(o)]


def _spec_name(result) -> str:
    report = next((o.report for o in result.outcomes if o.report), None)
    return f"{report.name} {report.version}" if report else result.spec_file


def csv_text(table: list[Row]) -> str:
    buf = io.StringIO()
    names = list(Row.__dataclass_fields__)
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for r in table:
        writer.writerow({k: "" if v is None else v for k, v in asdict(r).items()})
    return buf.getvalue()
