"""Cross-field rules that a per-field schema cannot express. Each returns the issues it finds."""

from __future__ import annotations

import math
import re

from compiler.errors import SpecIssue
from compiler.frontend import genai, rules_distill, rules_gates, rules_kubernetes, rules_target, rules_values, rules_vllm
from compiler.frontend.spec import Spec


def check(spec: Spec) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    for rule in (_model_source, _calibration, _replicas, _canary, _blue_green, _gpu_on_cpu,
                 _edge_batch, _labels, _latency_threshold, _triton, rules_gates.check, rules_kubernetes.check,
                 rules_values.check, rules_target.check, rules_distill.check,
                 rules_vllm.check, genai.check):
        issues.extend(rule(spec))
    return issues


def _model_source(spec: Spec):
    m = spec.model
    if m.source == "pytorch" and not m.factory:
        yield SpecIssue("model.factory", "required when model.source is pytorch (e.g. model.py:build)")
    if m.source == "onnx" and not m.onnx:
        yield SpecIssue("model.onnx", "required when model.source is onnx")
    if m.source == "onnx" and m.weights:
        yield SpecIssue("model.weights", "only for model.source pytorch; an ONNX file carries its weights")
    for key in ("calibration", "evaluation"):
        src = getattr(m, key)
        if src is not None and not (src.factory or src.npz or src.text):
            yield SpecIssue(f"model.{key}", "needs 'factory' or 'npz' (or 'text' for a huggingface source)")


def _calibration(spec: Spec):
    for mode in ("int8-static", "int8-smoothquant"):
        if mode in spec.optimize.quantize and spec.model.calibration is None:
            yield SpecIssue("optimize.quantize", f"{mode} needs calibration data: set model.calibration")


def _replicas(spec: Spec):
    r = spec.serve.replicas
    if r.min > r.max:
        yield SpecIssue("serve.replicas.min", f"min ({r.min}) is above max ({r.max})")


def _canary(spec: Spec):
    if spec.rollout.strategy != "canary":
        return
    last = 0
    for i, step in enumerate(spec.rollout.canary.steps):
        if not any(v is not None for v in (step.set_weight, step.pause, step.analysis)):
            yield SpecIssue(f"rollout.canary.steps[{i}]", "a step needs set_weight, pause or analysis")
        if step.set_weight is None:
            continue
        path = f"rollout.canary.steps[{i}].set_weight"
        if step.set_weight > 100:
            yield SpecIssue(path, f"weight {step.set_weight} is above 100")
        elif step.set_weight <= last:
            yield SpecIssue(path, f"weights must increase: {step.set_weight} after {last}")
        last = step.set_weight


def _blue_green(spec: Spec):
    bg = spec.rollout.blue_green
    if spec.rollout.strategy == "blue-green" and bg.preview_port is None:
        yield SpecIssue("rollout.blue_green.preview_port", "blue-green needs a preview port")
    if spec.rollout.strategy == "blue-green" and spec.rollout.controller == "flagger":
        yield SpecIssue("rollout.controller", "flagger blue-green is not supported; use argo")


def _gpu_on_cpu(spec: Spec):
    t = spec.target
    if t.kind != "nvidia" and t.resources.gpu > 0:
        yield SpecIssue("target.resources.gpu", f"GPU resources on a {t.kind} target ({t.name})")
    if t.kind == "nvidia" and t.gpu is None:
        yield SpecIssue("target.gpu", "an nvidia target must describe its GPU")


def _triton(spec: Spec):
    t = spec.target
    if spec.serve.engine == "triton" and t.kind != "nvidia":
        yield SpecIssue("serve.engine", f"triton serves on NVIDIA GPU targets; target {t.name} is a {t.kind} target "
                                        "(use serve.engine: deployc)")


def _edge_batch(spec: Spec):
    b = spec.optimize.edge.batch_size
    if isinstance(b, str):
        if spec.target.is_edge:
            yield SpecIssue("optimize.edge.batch_size",
                            f"edge targets need a fixed batch size (got {b!r}); TFLite has fixed shapes")
        elif not re.fullmatch(r"[A-Za-z_]\w*", b):
            yield SpecIssue("optimize.edge.batch_size", f"must be an integer or a symbolic dim name (got {b!r})")


def _latency_threshold(spec: Spec):
    """The latency SLI reads one bucket of the runtime's histogram: the threshold must be a bound."""
    from compiler.runtime.catalog import LATENCY_BUCKETS

    threshold = spec.monitoring.slo.latency_threshold_seconds
    # vLLM's rules read its own TTFT histogram; its emitter checks that bound (emitters/vllm/monitoring.py).
    if spec.monitoring.enabled and spec.serve.engine != "vllm" and not any(math.isclose(b, threshold) for b in LATENCY_BUCKETS):
        yield SpecIssue("monitoring.slo.latency_threshold_seconds",
                        f"{threshold:g} is not a bucket bound of the request-duration histogram; use one of: "
                        + ", ".join(f"{b:g}" for b in LATENCY_BUCKETS))


def _labels(spec: Spec):
    m = spec.model
    if m.labels and m.task not in ("classification", "text-classification", "token-classification"):
        yield SpecIssue("model.labels", "labels are for task: classification")
    if m.task == "classification" and m.labels:
        last = m.outputs[0].shape[-1]
        if isinstance(last, int) and last != len(m.labels):
            yield SpecIssue("model.labels", f"{len(m.labels)} labels for an output with {last} classes")
