"""Run the planned model passes: load -> export -> optimize -> verify. Returns plain results."""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.candidates import Candidate
from compiler.errors import GateFailure, PassError, SpecError, SpecIssue
from compiler.passes import distill_gates, prune, registry, verify
from compiler.passes.base import Artifact, Broken, PassContext
from compiler.passes.data import Dataset, load_dataset, verification_set
from compiler.passes.load import LoadedModel, load_model
from compiler.passes.reference import check_labels, reference
from compiler.passes.runners import eager_runner
from compiler.planner import Plan, Step
from compiler.report_model import Distillation
from compiler.passes.registry import PassInputs


@dataclass
class PassResults:
    data: Dataset  # the verification inputs
    reference_accuracy: float | None
    candidates: list[Artifact]  # built and verified
    verifications: dict[str, verify.Verification]
    failures: dict[str, list[GateFailure]]
    eager: verify.Verification | None  # the original model, measured the same way
    drift_source: Dataset | None = None  # data the drift baseline is computed from
    notes: dict[str, str] = field(default_factory=dict)
    broken: list[Broken] = field(default_factory=list)  # could not be built or run: never selected
    distillation: Distillation | None = None  # optimize.distill: the student against the teacher


def run_passes(plan: Plan, ctx: PassContext) -> PassResults:
    spec = ctx.spec
    with ctx.timed("load") as event:
        model = load_model(spec)
        calibration = load_dataset(spec, "calibration")
        evaluation = load_dataset(spec, "evaluation")
        data = verification_set(spec, evaluation, calibration)
        check_labels(spec, data)
        ref_outputs = reference(model, data, ctx)
        event.detail = f"verifying on {data.size} {data.origin} samples"
    ref_acc = _accuracy(ref_outputs, data, spec.model.task)
    made = run_steps(plan, model, calibration, ctx)
    candidates, verifications, failures = judge(made, ctx, data, ref_outputs, ref_acc, plan)
    eager = _eager(model, ctx, data, ref_outputs, ref_acc, plan.measure, _batches(plan))
    notes = {Candidate.ONNX_PRUNED.value: prune.NOTE} if plan.runs("prune") else {}
    training = ctx.facts.get("distill")
    distilled = distill_gates.summary(spec, training, verifications, failures, ref_acc) if training else None
    return PassResults(data, ref_acc, candidates, verifications, failures, eager,
                       calibration or evaluation or data, notes, list(ctx.broken), distilled)


def judge(made: list[Artifact], ctx: PassContext, data: Dataset, ref_outputs, ref_acc, plan: Plan):
    """Verify and gate each candidate. One that fails to load or run is reported broken
    (ctx.broken) and left out; the others are still judged."""
    verifications = {}
    for a in made:
        v = ctx.attempt(a.candidate, lambda a=a: verify.verify(a, ctx, data, ref_outputs, ref_acc, plan.measure,
                                                                   _batches(plan)), a)
        if v is not None:
            verifications[a.candidate] = v
    unmeasured = "" if plan.measure else plan.measure_note
    # Students (optimize.distill) are judged by their own gates, and by the speed they gain.
    failures = {name: verify.check_gates(v, distill_gates.gates_for(ctx.spec, name), unmeasured)
                for name, v in verifications.items()}
    distill_gates.add_speedup_gates(ctx.spec, verifications, failures, unmeasured)
    return [a for a in made if a.candidate in verifications], verifications, failures


def _accuracy(reference, data: Dataset, task: str) -> float | None:
    if task not in ("classification", "text-classification") or data.labels is None:
        return None
    return round(float((reference[0].argmax(-1) == data.labels).mean()), 6)


def edge_candidates(model: LoadedModel, calibration: Dataset | None, ctx: PassContext) -> list[Artifact]:
    """The fp32 .tflite and the variants the plan runs for an edge target, as a build makes them
    (for tests and bench/tflite_bench.py)."""
    from compiler.planner import plan

    return run_steps(plan(ctx.spec), model, calibration, ctx)


def run_steps(plan: Plan, model: LoadedModel, calibration: Dataset | None, ctx: PassContext) -> list[Artifact]:
    """Each planned step through its registered pass, with the step's config. The first step (the
    export, or the fp32 .tflite) is fatal when it fails: nothing to judge; a later step fails only
    its candidate."""
    steps = [s for s in plan.passes if s.run]
    if not steps:
        raise SpecError(SpecIssue("target", f"no pass makes a candidate for {plan.target}: "
                                  + "; ".join(f"{s.name}: {s.reason}" for s in plan.passes)))
    inputs = PassInputs(model, calibration)
    inputs.base = _made(steps[0], inputs, ctx)
    made = [ctx.attempt(s.config.candidate.value, lambda s=s: _made(s, inputs, ctx)) for s in steps[1:]]
    return [inputs.base] + [a for a in made if a is not None]


def _made(step: Step, inputs: PassInputs, ctx: PassContext) -> Artifact:
    artifact = registry.get(step.config.pass_name).run(step, inputs, ctx)
    if artifact.candidate != step.config.candidate:  # a pass and the plan disagree: a bug, said plainly
        raise PassError(step.config.pass_name, f"made {artifact.candidate}; the plan's step is {step.config.candidate}")
    return artifact


def _batches(plan: Plan) -> tuple[int, ...] | None:
    return plan.latency.batches if plan.latency else None


def _eager(model: LoadedModel, ctx: PassContext, data: Dataset, reference, ref_acc, measure: bool,
           batches: tuple[int, ...] | None = None):
    """torch eager as the baseline row of the report and the bar `fastest` holds candidates to
    (latency only; parity is exact by definition)."""
    if model.onnx_path is not None or not measure:
        return None
    with ctx.timed("measure (torch eager)") as event:
        key = ctx.cache.key("eager-latency", {"latency": verify.latency_key(ctx.spec, batches),
                                              "threads": ctx.spec.serve.threads, "host": verify.host_fingerprint()},
                            {"model": model.digest, "data": data.digest()}, verify.library_versions("torch"))
        entry = ctx.cache.get_or_run(key, lambda d: {"latency": [l.__dict__ for l in verify.measure_latency(
            eager_runner(model.module, ctx.spec.serve.threads), ctx.spec, data, batches)]})
        event.cached = entry.hit
    v = verify.Verification("torch-eager", 0.0, 1.0, accuracy=ref_acc)
    v.latency = [verify.Latency(**l) for l in entry.meta["latency"]]
    return v
