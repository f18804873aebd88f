"""report.json (data) and report.md (the same, for reviewers) of one target's build."""

from __future__ import annotations

from dataclasses import asdict

from compiler.emitters.base import EmitContext, Files
from compiler.emitters.templating import render
from compiler.writer import dumps


def report_data(spec, plan, results, selection) -> dict:
    """Everything the report shows, as plain data. No timings of passes: they vary per run."""
    v = results.verifications
    rows = [_row(asdict(v[a.candidate]), a, results.failures[a.candidate]) for a in results.candidates]
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
    return {**ver, "format": artifact.format, "precision": artifact.precision, "sha256": artifact.sha256,
            "passes": list(artifact.produced_by), "gate_failures": [str(f) for f in failures],
            "passed": not failures}


class ReportEmitter:
    name = "report"

    def emit(self, ctx: EmitContext) -> Files:
        data = ctx.report
        return {"report.json": dumps(data), "report.md": render("report.md.j2", r=data).encode()}
