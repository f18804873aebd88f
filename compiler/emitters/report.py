"""report.json (data) and report.md (the same, for reviewers) of one target's build."""

from __future__ import annotations

import math
from dataclasses import asdict

from compiler.emitters.base import EmitContext, Files
from compiler.emitters.templating import render
from compiler.passes.verify import Verification
from compiler.writer import dumps


def report_data(spec, plan, results, selection) -> dict:
    """Everything the report shows, as plain data. No timings of passes: they vary per run."""
    v = results.verifications
    rows = [_row(asdict(v[a.candidate]), a, results.failures[a.candidate]) for a in results.candidates]
    rows += [_broken_row(b) for b in results.broken]
    return {
        "name": spec.name, "version": spec.version, "target": spec.target.name,
        "target_description": spec.target.description,
        "plan": {"passes": [asdict(s) for s in plan.passes], "emitters": [asdict(s) for s in plan.emitters]},
        "latency_note": plan.measure_note, "measured": plan.measure,
        "verification": {"origin": results.data.origin, "samples": results.data.size,
                         "reference_accuracy": results.reference_accuracy},
        "gates": {k: val for k, val in asdict(spec.gates).items() if val is not None},
        "candidates": rows,
        "baseline": asdict(results.eager) if results.eager else None,
        "selected": {"candidate": selection.artifact.candidate, "reason": selection.reason,
                     "sha256": selection.artifact.sha256},
        "notes": dict(sorted(results.notes.items())),
    }


def _row(ver: dict, artifact, failures) -> dict:
    row = {**ver, "format": artifact.format, "precision": artifact.precision, "sha256": artifact.sha256,
           "passes": list(artifact.produced_by), "gate_failures": [str(f) for f in failures],
           "passed": not failures}
    return _strict(row)


def _broken_row(b) -> dict:
    """A candidate that could not be built or run: the same keys, no metrics, and why."""
    empty = {k: None for k in Verification.__dataclass_fields__}
    a = b.artifact
    return {**empty, "candidate": b.candidate, "latency": [], "non_finite_outputs": None,
            "format": a.format if a else None, "precision": a.precision if a else None,
            "sha256": a.sha256 if a else None, "passes": list(a.produced_by) if a else [],
            "gate_failures": [], "passed": False, "error": b.reason}


def _strict(row: dict) -> dict:
    """JSON has no NaN or Infinity: a non-finite metric becomes null, and `non_finite` names it
    with its value as text, so the report stays strict JSON and still says what was measured."""
    bad = {k: str(val) for k, val in row.items() if isinstance(val, float) and not math.isfinite(val)}
    for lat in row["latency"]:
        bad.update({f"latency.b{lat['batch']}.{k}": str(val) for k, val in lat.items()
                    if isinstance(val, float) and not math.isfinite(val)})
        lat.update({k: None for k, val in lat.items() if isinstance(val, float) and not math.isfinite(val)})
    if not bad:
        return row
    return {**row, **{k: None for k in bad if "." not in k}, "non_finite": bad}


class ReportEmitter:
    name = "report"

    def emit(self, ctx: EmitContext) -> Files:
        data = ctx.report
        return {"report.json": dumps(data), "report.md": render("report.md.j2", r=data).encode()}
