"""report.json (data) and report.md (the same, for reviewers) of one target's build.

The data is a typed Report (compiler/report_model.py); this module only gathers it from the
build's results. report.md renders Report.to_json_dict(), exactly what report.json holds."""

from __future__ import annotations

from dataclasses import asdict, replace

from compiler.emitters.base import EmitContext, Files
from compiler.emitters.templating import render
from compiler.report_model import (CandidateRow, Experiment, LatencyRow, Measurement, PlanRow, Report, ReportPlan,
                                   Selected, Variant, VerificationData, read_report)
from compiler.serialize import dumps


def report_data(spec, plan, results, selection) -> Report:
    """Everything the report shows. No timings of passes: they vary per run."""
    v = results.verifications
    rows = [_row(v[a.candidate], a, results.failures[a.candidate]) for a in results.candidates]
    rows += [_broken_row(b) for b in results.broken]
    report = Report(
        name=spec.name, version=spec.version, target=spec.target.name, target_description=spec.target.description,
        plan=ReportPlan(tuple(map(_step, plan.passes)), tuple(map(_step, plan.emitters))),
        latency_note=plan.measure_note, measured=plan.measure,
        verification=VerificationData(results.data.origin, results.data.size, results.reference_accuracy),
        gates={k: val for k, val in asdict(spec.gates).items() if val is not None},
        candidates=tuple(rows), baseline=_measurement(results.eager) if results.eager else None,
        selected=Selected(selection.artifact.candidate, selection.reason, selection.artifact.sha256),
        notes=dict(sorted(results.notes.items())), distillation=results.distillation)
    return with_experiment(report, spec)


def with_experiment(report: Report, spec) -> Report:
    """An experiment's report names both variants: A from the report.json the spec names (the
    front end has checked it), B this build. The image is added later (--image): B's is in `image`."""
    if spec.rollout.strategy != "experiment":
        return report
    path = spec.rollout.experiment.control.report
    control = Variant.of(read_report(spec.resolve_path(path))) if path else None
    return replace(report, experiment=Experiment(control=control, candidate=Variant.of(report)))


def _step(step) -> PlanRow:
    return PlanRow(step.name, step.run, step.reason)


def _measurement(ver) -> Measurement:
    values = asdict(ver)
    return Measurement(**{**values, "latency": tuple(LatencyRow(**lat) for lat in values["latency"])})


def _row(ver, artifact, failures) -> CandidateRow:
    return CandidateRow.measured(asdict(ver), format=artifact.format, precision=artifact.precision,
                                 sha256=artifact.sha256, passes=tuple(artifact.produced_by),
                                 gate_failures=tuple(str(f) for f in failures))


def _broken_row(b) -> CandidateRow:
    """A candidate that could not be built or run: the same fields, no metrics, and why."""
    a = b.artifact
    if a is None:
        return CandidateRow.broken(b.candidate, b.reason)
    return CandidateRow.broken(b.candidate, b.reason, format=a.format, precision=a.precision, sha256=a.sha256,
                               passes=tuple(a.produced_by))


class ReportEmitter:
    name = "report"

    def emit(self, ctx: EmitContext) -> Files:
        data = ctx.report.to_json_dict()
        return {"report.json": dumps(data), "report.md": render("report.md.j2", r=data).encode()}
