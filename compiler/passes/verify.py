"""Verify a candidate against the original model on the same inputs, and measure it.

Parity: max abs error, mean per-sample cosine similarity of the first output, top-1 agreement
(classifiers). Accuracy on labelled evaluation data. Latency p50/p99 per batch size on the
build host. Results are cached by artifact digest, data digest and host, so a rebuild reuses
them and the report stays byte-identical.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict

import numpy as np

from compiler.frontend.spec import Gates, Spec
from compiler.errors import GateFailure, PassError
from compiler.passes.base import Artifact, PassContext, library_versions
from compiler.passes.data import Dataset
from compiler.passes.runners import Runner, run_chunked, runner_for
from compiler.verification import Latency, Verification


TEXT_TASKS = ("sentence-embedding", "text-classification", "token-classification")


def host_fingerprint() -> dict:
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine()}


def parity(candidate: str, outputs: list[np.ndarray], reference: list[np.ndarray], data: Dataset,
           task: str, ref_accuracy: float | None) -> Verification:
    out, ref = outputs[0].astype(np.float64), reference[0].astype(np.float64)
    max_err = max(float(np.max(np.abs(o.astype(np.float64) - r))) for o, r in zip(outputs, reference))
    a, b = out.reshape(len(out), -1), ref.reshape(len(ref), -1)
    denom = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    per_sample = np.sum(a * b, axis=1) / np.maximum(denom, 1e-12)
    v = Verification(candidate, round(max_err, 6), round(float(np.mean(per_sample)), 6))
    v.non_finite_outputs = int(np.sum(np.logical_or.reduce(
        [~np.isfinite(o.reshape(len(o), -1)).all(axis=1) for o in outputs])))
    if task in TEXT_TASKS:  # one sentence's embedding or scores must not go wrong unseen in a mean
        v.cosine_min = round(float(np.min(per_sample)), 6)
    if task in ("classification", "text-classification"):
        v.top1_agreement = round(float(np.mean(out.argmax(-1) == ref.argmax(-1))), 6)
        if data.labels is not None:
            v.accuracy = round(float(np.mean(out.argmax(-1) == data.labels)), 6)
            v.accuracy_drop = round(ref_accuracy - v.accuracy, 6) if ref_accuracy is not None else None
    elif task == "token-classification":  # per token, padding excluded
        real = data.inputs["attention_mask"].astype(bool)
        v.top1_agreement = round(float(np.mean((out.argmax(-1) == ref.argmax(-1))[real])), 6)
    return v


def measure_latency(run: Runner, spec: Spec, data: Dataset, batches: tuple[int, ...] | None = None) -> list[Latency]:
    """p50/p99 per batch: the plan's batches (optimize.latency.batch_sizes and the serving batch),
    else the spec's."""
    cfg = spec.optimize.latency
    out = []
    for batch in batches or cfg.batch_sizes:
        reps = -(-batch // data.size)
        inputs = {k: np.ascontiguousarray(np.concatenate([v] * reps)[:batch]) for k, v in data.inputs.items()}
        for _ in range(cfg.warmup):
            run(inputs)
        times = []
        for _ in range(cfg.iterations):
            start = time.perf_counter()
            run(inputs)
            times.append((time.perf_counter() - start) * 1000)
        out.append(Latency(batch, round(float(np.percentile(times, 50)), 4), round(float(np.percentile(times, 99)), 4)))
    return out


def verify(artifact: Artifact, ctx: PassContext, data: Dataset, reference: list[np.ndarray],
           ref_accuracy: float | None, measure: bool, batches: tuple[int, ...] | None = None) -> Verification:
    spec = ctx.spec
    config = {"task": spec.model.task, "latency": latency_key(spec, batches) if measure else None,
              "threads": spec.serve.threads, "host": host_fingerprint(), "ref_accuracy": ref_accuracy}
    inputs = {"artifact": artifact.sha256, "data": data.digest()}
    key = ctx.cache.key("verify", config, inputs, library_versions("onnxruntime", "torch", "ai-edge-litert"))
    with ctx.timed(f"verify ({artifact.candidate})") as event:
        entry = ctx.cache.get_or_run(key, lambda d: asdict(_verify(artifact, spec, data, reference, ref_accuracy,
                                                                   measure, batches)))
        event.cached = entry.hit
    meta = dict(entry.meta)
    meta["latency"] = [Latency(**l) for l in meta["latency"]]
    meta["candidate"] = artifact.candidate
    return Verification(**meta)


def latency_key(spec: Spec, batches: tuple[int, ...] | None) -> dict:
    """The latency settings as a cache key holds them: the batches actually timed (the same key as
    before when the plan adds none)."""
    cfg = asdict(spec.optimize.latency)
    return {**cfg, "batch_sizes": list(batches or cfg["batch_sizes"])}


def _verify(artifact: Artifact, spec: Spec, data: Dataset, reference, ref_accuracy, measure: bool,
            batches: tuple[int, ...] | None = None) -> Verification:
    try:
        run = runner_for(artifact.format, artifact.path, spec.serve.threads)
        outputs = run_chunked(run, data.inputs)
    except Exception as exc:
        raise PassError("verify", f"{artifact.candidate} failed to run: {type(exc).__name__}: {exc}") from None
    v = parity(artifact.candidate, outputs, reference, data, spec.model.task, ref_accuracy)
    v.size_mb = round(artifact.path.stat().st_size / 1e6, 4)
    if measure:
        v.latency = measure_latency(run, spec, data, batches)
    return v


def check_gates(v: Verification, gates: Gates, unmeasured: str = "") -> list[GateFailure]:
    """A gate passes only on a finite value within its threshold: NaN compares false both ways,
    so `value < threshold` alone would pass it. A gate whose metric was not computed fails too."""
    checks = [
        ("max_abs_error", v.max_abs_error, gates.max_abs_error, "<="),
        # Text models: the worst sentence's cosine, so every sentence is held to the gate.
        ("cosine", v.cosine if v.cosine_min is None else v.cosine_min, gates.min_cosine, ">="),
        ("top1_agreement", v.top1_agreement, gates.min_top1_agreement, ">="),
        ("accuracy", v.accuracy, gates.min_accuracy, ">="),
        ("accuracy_drop", v.accuracy_drop, gates.max_accuracy_drop, "<="),
        ("size_mb", v.size_mb, gates.max_size_mb, "<="),
        ("token_agreement", v.token_agreement, gates.min_token_agreement, ">="),
        ("perplexity_increase", v.perplexity_increase, gates.max_perplexity_increase, "<="),
    ]
    p99 = max((l.p99_ms for l in v.latency if l.batch == 1), default=None)
    checks.append(("latency_p99_ms_batch1", p99, gates.max_latency_p99_ms, "<="))
    # Always on, gated or not: a candidate that outputs NaN/Inf where the original does not is broken.
    failures = [GateFailure(v.candidate, "non_finite_outputs", 0, v.non_finite_outputs, "<=",
                            "samples with NaN or Inf outputs; the original model's are finite")
                ] if v.non_finite_outputs else []
    for metric, measured, threshold, op in checks:
        if threshold is None or _within(measured, threshold, op):
            continue
        failures.append(GateFailure(v.candidate, metric, threshold, measured, op, _why(metric, measured, unmeasured)))
    return failures


def _within(measured: float | None, threshold: float, op: str) -> bool:
    if measured is None or not math.isfinite(measured):
        return False
    return measured >= threshold if op == ">=" else measured <= threshold


def _why(metric: str, measured: float | None, unmeasured: str) -> str:
    if measured is None:
        return f"latency {unmeasured}" if metric.startswith("latency") and unmeasured else "not computed for this model"
    return "" if math.isfinite(measured) else "not a finite number"
