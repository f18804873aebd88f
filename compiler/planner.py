"""Planner: spec + target profile -> the passes and emitters to run, each with the reason why.

The target decides what is legal (fp16 only where the target runs it, TensorRT only on
NVIDIA, TFLite only on edge); the spec decides what is wanted. `deployc explain` prints this.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from compiler.frontend.spec import Spec

HOST_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())


@dataclass(frozen=True)
class Step:
    name: str
    run: bool
    reason: str


@dataclass(frozen=True)
class Plan:
    target: str
    passes: tuple[Step, ...]
    emitters: tuple[Step, ...]
    measure: bool  # latency measured on this host
    measure_note: str
    # Candidate names in preference order, used to select when latency is not measured.
    preference: tuple[str, ...]

    def runs(self, name: str) -> bool:
        return any(s.name == name and s.run for s in self.passes)

    def emits(self, name: str) -> bool:
        return any(s.name == name and s.run for s in self.emitters)


def plan(spec: Spec, gpu_on_host: bool = False) -> Plan:
    t = spec.target
    steps = _edge_steps(spec) if t.is_edge else _onnx_steps(spec, gpu_on_host)
    measure, note = _measurement(spec)
    return Plan(t.name, tuple(steps), tuple(_emitters(spec)), measure, note, _preference(spec))


def _legal(spec: Spec, pass_name: str) -> str | None:
    """None when the target allows the pass, else why not."""
    if pass_name not in spec.target.passes:
        return f"target {spec.target.name} does not run {pass_name}"
    return None


def _onnx_steps(spec: Spec, gpu_on_host: bool) -> list[Step]:
    o, t = spec.optimize, spec.target
    steps = [Step("onnx-export", True, "every ONNX candidate starts from the exported fp32 graph"
                  if spec.model.source == "pytorch" else "the source is ONNX: normalized into one file")]
    steps.append(_want("ort-optimize", spec, o.graph, "optimize.graph is false"))
    steps.append(_want("fp16", spec, "fp16" in o.precisions and "fp16" in t.precisions,
                       "fp16 not in optimize.precisions" if "fp16" not in o.precisions
                       else f"target {t.name} does not run fp16"))
    for q in ("int8-dynamic", "int8-static"):
        steps.append(_want(q, spec, q in o.quantize and "int8" in t.precisions,
                           f"{q} not in optimize.quantize" if q not in o.quantize
                           else f"target {t.name} does not run int8"))
    torch_src = spec.model.source == "pytorch"
    steps.append(_want("prune", spec, o.prune.amount > 0 and torch_src,
                       "optimize.prune.amount is 0" if torch_src else "needs a PyTorch source"))
    steps.append(_aoti(spec, gpu_on_host))
    steps.append(_tensorrt(spec, gpu_on_host))
    return steps


def _want(name: str, spec: Spec, wanted: bool, why_not: str) -> Step:
    illegal = _legal(spec, name)
    if illegal:
        return Step(name, False, illegal)
    return Step(name, True, "asked for by the spec") if wanted else Step(name, False, why_not)


def _aoti(spec: Spec, gpu_on_host: bool) -> Step:
    t, mode = spec.target, spec.optimize.aoti
    illegal = _legal(spec, "aoti")
    if illegal or mode == "never" or spec.model.source != "pytorch":
        return Step("aoti", False, illegal or ("optimize.aoti is never" if mode == "never" else "needs a PyTorch source"))
    if mode == "auto" and t.runtime != "torch" and not t.is_gpu:
        return Step("aoti", False, f"target runtime is {t.runtime}; set optimize.aoti: always to add a .pt2 candidate")
    if t.is_gpu and not gpu_on_host:
        return Step("aoti", False, "AOTInductor for CUDA compiles on a GPU build host; this host has none")
    if t.is_gpu:
        from compiler.passes.aoti import cuda_precision
        from compiler.passes.tensorrt_probe import host_compute_capability

        host_cc, want = host_compute_capability(), t.gpu.compute_capability if t.gpu else "?"
        if host_cc != want:
            return Step("aoti", False, f"a CUDA .pt2 holds kernels for the build host's GPU (sm {host_cc}), "
                                       f"not the target's (sm {want})")
        return Step("aoti", True, f"compiles a CUDA .pt2 ({cuda_precision(spec)}) for the torch backend")
    if not t.is_gpu and t.arch != HOST_ARCH:
        return Step("aoti", False, f"a .pt2 holds native code for the build host ({HOST_ARCH}), not {t.arch}")
    return Step("aoti", True, "compiles a .pt2 for the torch backend")


def _tensorrt(spec: Spec, gpu_on_host: bool) -> Step:
    illegal = _legal(spec, "tensorrt")
    if illegal:
        return Step("tensorrt", False, illegal)
    from compiler.passes.tensorrt_probe import tensorrt_status

    ok, why = tensorrt_status(spec.target, gpu_on_host)
    if ok:
        return Step("tensorrt", True, why)
    return Step("tensorrt", False, f"{why}; engines are built on the target GPU at first load "
                                   "(onnxruntime TensorRT execution provider with an engine cache)")


def _edge_steps(spec: Spec) -> list[Step]:
    illegal = _legal(spec, "tflite")
    if spec.model.source != "pytorch":
        return [Step("tflite", False, "litert-torch converts PyTorch modules; the source is ONNX")]
    return [Step("tflite", illegal is None, illegal or "litert-torch conversion, fp32/fp16/int8 variants")]


def _measurement(spec: Spec) -> tuple[bool, str]:
    t, lat = spec.target, spec.optimize.latency
    runs = f"p50/p99 of {lat.iterations} runs after {lat.warmup} warm-up runs"
    if t.is_edge:
        return True, f"measured on the build host ({HOST_ARCH}), not on the device; {runs}"
    if t.kind == "cpu" and t.arch == HOST_ARCH:
        return True, f"measured on the build host ({HOST_ARCH}); {runs}"
    what = f"an NVIDIA {t.gpu.model} GPU" if t.is_gpu and t.gpu else f"an {t.arch} CPU"
    return False, f"not measured on this host (the target runs on {what}; this host is {HOST_ARCH} without it)"


def _preference(spec: Spec) -> tuple[str, ...]:
    if spec.target.is_gpu:
        return ("onnx-fp16", "onnx-opt", "onnx-fp32")
    if spec.target.is_edge:
        return ("tflite-int8-dynamic", "tflite-fp16", "tflite-fp32")
    # Unmeasured CPU: int8 was not faster on small models here (DESIGN.md); stay with fp32.
    return ("onnx-opt", "onnx-fp32")


# serve.engine: triton (NVIDIA targets only, a spec rule): Triton serves the model repository, so
# its image replaces ours, and our manifests and alerts (our ports, our metric catalog) do not fit it.
TRITON_SKIPS = {
    "kubernetes": "serve.engine is triton: the manifests target deployc's server (ports, probes, "
                  "rollout analysis on its metrics); Triton listens on 8000 (HTTP) and 8002 (metrics)",
    "monitoring": "serve.engine is triton: Triton exports its own metrics (nv_inference_*), not "
                  "deployc's catalog, so no alert or SLO rule here would match them",
}


def _emitters(spec: Spec) -> list[Step]:
    out = [Step("model", True, "the selected artifact")]
    triton = spec.serve.engine == "triton" and spec.target.is_gpu
    for name in ("image", "kubernetes", "monitoring", "bundle"):
        if name not in spec.target.emitters:
            out.append(Step(name, False, f"target {spec.target.name} has no {name} output"))
        elif triton and name == "image":
            out.append(Step("triton", True, "serve.engine is triton: a Triton model repository and its image"))
        elif triton and name in TRITON_SKIPS:
            out.append(Step(name, False, TRITON_SKIPS[name]))
        elif name == "monitoring" and not spec.monitoring.enabled:
            out.append(Step(name, False, "monitoring.enabled is false"))
        else:
            out.append(Step(name, True, f"target {spec.target.name} emits {name}"))
    out.append(Step("report", True, "report.md and report.json"))
    return out
