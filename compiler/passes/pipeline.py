"""Run the planned model passes: load -> export -> optimize -> verify. Returns plain results."""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.errors import GateFailure
from compiler.passes import aoti, export_onnx, fp16, ort_optimize, prune, quantize, verify
from compiler.passes.base import Artifact, PassContext
from compiler.passes.data import Dataset, load_dataset, verification_set
from compiler.passes.load import LoadedModel, load_model, reference_outputs
from compiler.passes.runners import eager_runner
from compiler.planner import Plan


@dataclass
class PassResults:
    data: Dataset  # the verification inputs
    reference_accuracy: float | None
    candidates: list[Artifact]
    verifications: dict[str, verify.Verification]
    failures: dict[str, list[GateFailure]]
    eager: verify.Verification | None  # the original model, measured the same way
    drift_source: Dataset | None = None  # data the drift baseline is computed from
    notes: dict[str, str] = field(default_factory=dict)


def run_passes(plan: Plan, ctx: PassContext) -> PassResults:
    spec = ctx.spec
    with ctx.timed("load") as event:
        model = load_model(spec)
        calibration = load_dataset(spec, "calibration")
        evaluation = load_dataset(spec, "evaluation")
        data = verification_set(spec, evaluation, calibration)
        reference = _reference(model, data, ctx)
        event.detail = f"verifying on {data.size} {data.origin} samples"
    ref_acc = _accuracy(reference, data, spec.model.task)
    candidates = _candidates(plan, model, calibration, ctx)
    verifications = {a.candidate: verify.verify(a, ctx, data, reference, ref_acc, plan.measure) for a in candidates}
    failures = {name: verify.check_gates(v, spec.gates) for name, v in verifications.items()}
    eager = _eager(model, ctx, data, reference, ref_acc, plan.measure)
    notes = {"onnx-pruned": prune.NOTE} if plan.runs("prune") else {}
    return PassResults(data, ref_acc, candidates, verifications, failures, eager,
                       calibration or evaluation or data, notes)


def _reference(model: LoadedModel, data: Dataset, ctx: PassContext) -> list:
    """The original model's outputs on the verification set, cached like any pass result."""
    import numpy as np

    key = ctx.cache.key("reference", {}, {"model": model.digest, "data": data.digest()},
                        verify.library_versions("torch", "onnxruntime"))

    def produce(folder):
        outputs = reference_outputs(model, data.inputs, ctx.spec)
        np.savez(folder / "outputs.npz", *outputs)
        return {"outputs": len(outputs)}

    entry = ctx.cache.get_or_run(key, produce)
    with np.load(entry.file("outputs.npz")) as npz:
        return [npz[f"arr_{i}"] for i in range(entry.meta["outputs"])]


def _accuracy(reference, data: Dataset, task: str) -> float | None:
    if task != "classification" or data.labels is None:
        return None
    return round(float((reference[0].argmax(-1) == data.labels).mean()), 6)


def _candidates(plan: Plan, model: LoadedModel, calibration: Dataset | None, ctx: PassContext) -> list[Artifact]:
    if plan.runs("tflite"):
        from compiler.passes import tflite

        return tflite.candidates(model, calibration, ctx)
    base = export_onnx.export(model, ctx)
    out = [base]
    if plan.runs("ort-optimize"):
        out.append(ort_optimize.optimize(base, ctx))
    if plan.runs("fp16"):
        out.append(fp16.to_fp16(base, ctx))
    if plan.runs("int8-dynamic"):
        out.append(quantize.int8_dynamic(base, ctx))
    if plan.runs("int8-static"):
        out.append(quantize.int8_static(base, calibration, ctx))
    if plan.runs("prune"):
        out.append(prune.pruned_candidate(model, ctx.spec.optimize.prune.amount, ctx))
    if plan.runs("aoti"):
        out.append(aoti.compile_aoti(model, ctx, "cuda" if ctx.spec.target.is_gpu else "cpu"))
    if plan.runs("tensorrt"):
        from compiler.passes import tensorrt_engine

        out.append(tensorrt_engine.build_engine(base, calibration, ctx))
    return out


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
