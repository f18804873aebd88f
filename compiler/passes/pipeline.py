"""Run the planned model passes: load -> export -> optimize -> verify. Returns plain results."""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.errors import GateFailure
from compiler.passes import aoti, export_onnx, fp16, ort_optimize, prune, quantize, verify
from compiler.passes.base import Artifact, Broken, PassContext
from compiler.passes.data import Dataset, load_dataset, verification_set
from compiler.passes.load import LoadedModel, load_model
from compiler.passes.reference import check_labels, reference
from compiler.passes.runners import eager_runner
from compiler.planner import Plan


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
    made = _candidates(plan, model, calibration, ctx)
    candidates, verifications, failures = judge(made, ctx, data, ref_outputs, ref_acc, plan)
    eager = _eager(model, ctx, data, ref_outputs, ref_acc, plan.measure)
    notes = {"onnx-pruned": prune.NOTE} if plan.runs("prune") else {}
    return PassResults(data, ref_acc, candidates, verifications, failures, eager,
                       calibration or evaluation or data, notes, list(ctx.broken))


def judge(made: list[Artifact], ctx: PassContext, data: Dataset, ref_outputs, ref_acc, plan: Plan):
    """Verify and gate each candidate. One that fails to load or run is reported broken
    (ctx.broken) and left out; the others are still judged."""
    verifications = {}
    for a in made:
        v = ctx.attempt(a.candidate, lambda a=a: verify.verify(a, ctx, data, ref_outputs, ref_acc, plan.measure), a)
        if v is not None:
            verifications[a.candidate] = v
    unmeasured = "" if plan.measure else plan.measure_note
    failures = {name: verify.check_gates(v, ctx.spec.gates, unmeasured) for name, v in verifications.items()}
    return [a for a in made if a.candidate in verifications], verifications, failures


def _accuracy(reference, data: Dataset, task: str) -> float | None:
    if task != "classification" or data.labels is None:
        return None
    return round(float((reference[0].argmax(-1) == data.labels).mean()), 6)


def _candidates(plan: Plan, model: LoadedModel, calibration: Dataset | None, ctx: PassContext) -> list[Artifact]:
    """The export is fatal when it fails (nothing to judge); any later pass fails only its candidate."""
    if plan.runs("tflite"):
        from compiler.passes import tflite

        return tflite.candidates(model, calibration, ctx)
    base = export_onnx.export(model, ctx)
    device = "cuda" if ctx.spec.target.is_gpu else "cpu"
    steps = [
        ("ort-optimize", "onnx-opt", lambda: ort_optimize.optimize(base, ctx)),
        ("fp16", "onnx-fp16", lambda: fp16.to_fp16(base, ctx)),
        ("int8-dynamic", "onnx-int8-dynamic", lambda: quantize.int8_dynamic(base, ctx)),
        ("int8-static", "onnx-int8-static", lambda: quantize.int8_static(base, calibration, ctx)),
        ("prune", "onnx-pruned", lambda: prune.pruned_candidate(model, ctx.spec.optimize.prune.amount, ctx)),
        ("aoti", f"aoti-{device}", lambda: aoti.compile_aoti(model, ctx, device)),
        ("tensorrt", "tensorrt", lambda: _tensorrt(base, calibration, ctx)),
    ]
    made = [ctx.attempt(name, make) for step, name, make in steps if plan.runs(step)]
    return [base] + [a for a in made if a is not None]


def _tensorrt(base: Artifact, calibration: Dataset | None, ctx: PassContext) -> Artifact:
    from compiler.passes import tensorrt_engine

    return tensorrt_engine.build_engine(base, calibration, ctx)


def _eager(model: LoadedModel, ctx: PassContext, data: Dataset, reference, ref_acc, measure: bool):
    """torch eager as the baseline row of the report (latency only; parity is exact by definition)."""
    if model.onnx_path is not None or not measure:
        return None
    with ctx.timed("measure (torch eager)") as event:
        key = ctx.cache.key("eager-latency", {"latency": ctx.spec.optimize.latency.__dict__,
                                              "threads": ctx.spec.serve.threads, "host": verify.host_fingerprint()},
                            {"model": model.digest, "data": data.digest()}, verify.library_versions("torch"))
        entry = ctx.cache.get_or_run(key, lambda d: {"latency": [l.__dict__ for l in verify.measure_latency(
            eager_runner(model.module, ctx.spec.serve.threads), ctx.spec, data)]})
        event.cached = entry.hit
    v = verify.Verification("torch-eager", 0.0, 1.0, accuracy=ref_acc)
    v.latency = [verify.Latency(**l) for l in entry.meta["latency"]]
    return v
