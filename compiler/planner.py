"""Planner: spec + target profile + host probe -> the steps to run, each with its reason and its
typed config. Every decision is made here, once: the passes and the emitters only read the plan,
and `deployc explain` prints the same plan `deployc build` runs (both call `host_plan`).

The target decides what is legal (fp16 only where the target runs it, TensorRT only on
NVIDIA, TFLite only on edge); the spec decides what is wanted; the host what can be built here.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Callable

from compiler.candidates import Candidate as C
from compiler.batch_profile import LatencyPlan, latency_plan
from compiler.capacity import EnginePlan, spec_engine_plan
from compiler.frontend.spec import Spec
from compiler.gpu import Profile, cuda_precision, profile_for

HOST_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())


@dataclass(frozen=True)
class StepConfig:
    """What a pass makes and how: the only settings it reads besides the spec's own values."""

    pass_name: str  # the registered pass that runs this step (compiler/passes/registry.py)
    candidate: C
    precision: str  # fp32 | fp16 | bf16 | int8
    backend: str  # the runtime that serves it: onnxruntime | torch | tensorrt | litert
    variant: str = ""  # the recipe, e.g. a TFLite quantization recipe
    device: str = "cpu"  # where the artifact runs: cpu | cuda
    profile: Profile | None = None  # TensorRT: the shapes the engine is built for


@dataclass(frozen=True)
class Step:
    name: str
    run: bool
    reason: str
    config: StepConfig | None = None  # None for emitters and for steps that make nothing

    def row(self) -> dict:
        """As report.json and `explain --json` show it."""
        return {"name": self.name, "run": self.run, "reason": self.reason}


@dataclass(frozen=True)
class EngineConfig:
    """The TensorRT engine a GPU target builds at first load (onnxruntime's TensorRT EP or
    Triton's accelerator) when no engine ships: runtime.json and Triton's config write these."""

    precision: str
    profile: Profile


@dataclass(frozen=True)
class Plan:
    target: str
    passes: tuple[Step, ...]
    emitters: tuple[Step, ...]
    measure: bool  # latency measured on this host
    measure_note: str
    # Candidate names in preference order, used to select when latency is not measured.
    preference: tuple[str, ...]
    gpu_on_host: bool = False  # what the host probe said
    target_engine: EngineConfig | None = None  # GPU targets only
    engine_plan: EnginePlan | None = None  # serve.engine vllm: its dtype and capacity plan
    latency: LatencyPlan | None = None  # None: latency is not measured on this host
    notes: tuple[str, ...] = ()  # text-generation: the model's size and a build's rough cost (explain)

    def runs(self, name: str) -> bool:
        return any(s.name == name and s.run for s in self.passes)

    def emits(self, name: str) -> bool:
        return any(s.name == name and s.run for s in self.emitters)

    def step(self, name: str) -> Step:
        return next(s for s in self.passes if s.name == name)


def host_probe() -> bool:
    """The one GPU probe of this host; build and explain both reach it through host_plan."""
    from compiler.gpu import gpu_on_host

    return gpu_on_host()


def host_plan(spec: Spec, probe: Callable[[], bool] | None = None) -> Plan:
    """The plan for this host: what `build` runs and `explain` prints. `probe` replaces the GPU
    probe (tests check both answers on any host)."""
    return plan(spec, (probe or host_probe)())


def plan(spec: Spec, gpu_on_host: bool = False) -> Plan:
    if spec.serve.engine == "vllm":
        return _vllm_plan(spec, gpu_on_host)
    if spec.model.task == "text-generation":
        return _genai_plan(spec, gpu_on_host)
    t = spec.target
    steps = _edge_steps(spec) if t.is_edge else _onnx_steps(spec, gpu_on_host)
    measure, note = _measurement(spec)
    return Plan(t.name, tuple(steps), tuple(_emitters(spec)), measure, note, _preference(spec),
                gpu_on_host, target_engine(spec), latency=latency_plan(spec) if measure else None)


def target_engine(spec: Spec) -> EngineConfig | None:
    if not spec.target.is_gpu:
        return None
    return EngineConfig(cuda_precision(spec), profile_for(spec))


def engine_precision(spec: Spec) -> str:
    """int8 when the spec asks for calibrated int8 (a spec rule makes it give the data), else half
    where allowed."""
    if "int8-static" in spec.optimize.quantize and "int8" in spec.target.precisions:
        return "int8"
    return cuda_precision(spec)


# The name a target profile's `passes:` lists for a pass, where it is not the pass's own name.
TARGET_KEYS = {"onnx-transformer-opt": "ort-optimize", "tflite-quantize": "tflite", "distill": "onnx-export",
               "distill-ort-optimize": "ort-optimize", "distill-int8-dynamic": "int8-dynamic"}


def legal(spec: Spec, pass_name: str) -> str | None:
    """None when the target allows the pass, else why not."""
    key = TARGET_KEYS.get(pass_name, pass_name)
    return None if key in spec.target.passes else f"target {spec.target.name} does not run {key}"


def _config(pass_name: str, candidate: C, precision: str = "fp32", backend: str = "onnxruntime", **kw) -> StepConfig:
    return StepConfig(pass_name, candidate, precision, backend, **kw)


def _torch_source(spec: Spec) -> bool:
    """The model is a torch module here (a factory's, or a Hugging Face folder's)."""
    return spec.model.source in ("pytorch", "huggingface")


def _export_step(spec: Spec) -> Step:
    m, exporter = spec.model, spec.optimize.export.exporter
    if m.source == "onnx":
        return Step("onnx-export", True, "the source is ONNX: normalized into one file", _config("onnx-export", C.ONNX_FP32))
    if m.source == "huggingface" and exporter == "auto":
        # onnxruntime's transformer optimizer fuses attention in this exporter's graph, not in
        # the dynamo one's (docs/architecture.md, "Transformers").
        return Step("onnx-export", True, "model and pooling; TorchScript exporter, whose graph onnxruntime's "
                                         "transformer fusions match", _config("onnx-export", C.ONNX_FP32, variant="torchscript"))
    return Step("onnx-export", True, "every ONNX candidate starts from the exported fp32 graph", _config("onnx-export", C.ONNX_FP32))


def _onnx_steps(spec: Spec, gpu_on_host: bool) -> list[Step]:
    o, t = spec.optimize, spec.target
    steps = [_export_step(spec)]
    steps.append(_want("ort-optimize", spec, o.graph, "optimize.graph is false", _config("ort-optimize", C.ONNX_OPT)))
    hf = spec.model.source == "huggingface"
    steps.append(_want("onnx-transformer-opt", spec, o.graph and hf,
                       "needs a huggingface source (its config.json gives heads and width)" if not hf
                       else "optimize.graph is false", _config("onnx-transformer-opt", C.ONNX_TRANSFORMER_OPT),
                       "onnxruntime's transformer optimizer: attention, LayerNorm and GELU fusions"))
    steps.append(_want("fp16", spec, "fp16" in o.precisions and "fp16" in t.precisions,
                       "fp16 not in optimize.precisions" if "fp16" not in o.precisions
                       else f"target {t.name} does not run fp16", _config("fp16", C.ONNX_FP16, "fp16")))
    for q, cand in (("int8-dynamic", C.ONNX_INT8_DYNAMIC), ("int8-smoothquant", C.ONNX_INT8_SMOOTHQUANT),
                    ("int8-static", C.ONNX_INT8_STATIC)):
        steps.append(_want(q, spec, q in o.quantize and "int8" in t.precisions,
                           f"{q} not in optimize.quantize" if q not in o.quantize
                           else f"target {t.name} does not run int8", _config(q, cand, "int8")))
    torch_src = _torch_source(spec)
    steps.append(_want("prune", spec, o.prune.amount > 0 and torch_src,
                       "optimize.prune.amount is 0" if torch_src else "needs a PyTorch source",
                       _config("prune", C.ONNX_PRUNED),
                       f"optimize.prune.amount: {o.prune.amount:.0%} of the weights, by magnitude"))
    steps.append(_aoti(spec, gpu_on_host))
    steps.append(_tensorrt(spec, gpu_on_host))
    return steps + _distill_steps(spec)


def _distill_steps(spec: Spec) -> list[Step]:
    """optimize.distill: the student, then its optimized forms where the teacher's run. Only when
    the spec asks (other plans, and their reports, stay as they were)."""
    d, o, t = spec.optimize.distill, spec.optimize, spec.target
    if d is None:
        return []
    who = f"student {d.student}" if d.student else f"the teacher cut to {d.layers} layers"
    # Exported as the teacher is (huggingface sources: the exporter whose graph onnxruntime fuses).
    exporter = _export_step(spec).config.variant
    train = _want("distill", spec, True, "", _config("distill", C.STUDENT_ONNX_FP32, variant=exporter),
                  f"{who}, trained {d.steps} steps on the teacher's soft targets (temperature {d.temperature:g})")
    if not train.run:
        return [train]
    return [train,
            _want("distill-ort-optimize", spec, o.graph, "optimize.graph is false",
                  _config("distill-ort-optimize", C.STUDENT_ONNX_OPT), "the student's graph, optimized as the teacher's"),
            _want("distill-int8-dynamic", spec, "int8-dynamic" in o.quantize and "int8" in t.precisions,
                  "int8-dynamic not in optimize.quantize" if "int8-dynamic" not in o.quantize
                  else f"target {t.name} does not run int8",
                  _config("distill-int8-dynamic", C.STUDENT_ONNX_INT8_DYNAMIC, "int8"), "the student, int8 dynamic")]


def _want(name: str, spec: Spec, wanted: bool, why_not: str, config: StepConfig,
          why: str = "asked for by the spec") -> Step:
    illegal = legal(spec, name)
    if illegal:
        return Step(name, False, illegal, config)
    return Step(name, True, why, config) if wanted else Step(name, False, why_not, config)


def _aoti(spec: Spec, gpu_on_host: bool) -> Step:
    t, mode = spec.target, spec.optimize.aoti
    precision = cuda_precision(spec) if t.is_gpu else "fp32"
    config = (_config("aoti", C.aoti_cuda(precision), precision, "torch", device="cuda") if t.is_gpu
              else _config("aoti", C.AOTI_CPU, "fp32", "torch"))
    illegal = legal(spec, "aoti")
    if illegal or mode == "never" or not _torch_source(spec):
        why = illegal or ("optimize.aoti is never" if mode == "never" else "needs a PyTorch source")
        return Step("aoti", False, why, config)
    if mode == "auto" and t.runtime != "torch" and not t.is_gpu:
        return Step("aoti", False, f"target runtime is {t.runtime}; set optimize.aoti: always to add a .pt2 candidate",
                    config)
    if t.is_gpu and not gpu_on_host:
        return Step("aoti", False, "AOTInductor for CUDA compiles on a GPU build host; this host has none", config)
    if t.is_gpu:
        from compiler.gpu import host_compute_capability

        host_cc, want = host_compute_capability(), t.gpu.compute_capability if t.gpu else "?"
        if host_cc != want:
            return Step("aoti", False, f"a CUDA .pt2 holds kernels for the build host's GPU (sm {host_cc}), "
                                       f"not the target's (sm {want})", config)
        return Step("aoti", True, f"compiles a CUDA .pt2 ({precision}) for the torch backend", config)
    if t.arch != HOST_ARCH:
        return Step("aoti", False, f"a .pt2 holds native code for the build host ({HOST_ARCH}), not {t.arch}", config)
    return Step("aoti", True, "compiles a .pt2 for the torch backend", config)


def _tensorrt(spec: Spec, gpu_on_host: bool) -> Step:
    precision = engine_precision(spec)
    # int8 calibrates at the opt shape, so its non-batch dims follow the calibration data's.
    config = _config("tensorrt", C.tensorrt(precision), precision, "tensorrt", device="cuda",
                     variant="calibrated-opt-shapes" if precision == "int8" else "", profile=profile_for(spec))
    illegal = legal(spec, "tensorrt")
    if illegal:
        return Step("tensorrt", False, illegal, config)
    from compiler.gpu import tensorrt_status

    ok, why = tensorrt_status(spec.target, gpu_on_host)
    if ok:
        return Step("tensorrt", True, why, config)
    return Step("tensorrt", False, f"{why}; engines are built on the target GPU at first load "
                                   "(onnxruntime TensorRT execution provider with an engine cache)", config)


# TFLite variants: (candidate, precision, ai-edge-quantizer recipe, what the spec must ask for).
TFLITE_VARIANTS = ((C.TFLITE_FP16, "fp16", "weight_only_fp16"),
                   (C.TFLITE_INT8_DYNAMIC, "int8", "dynamic_wi8_afp32"),
                   (C.TFLITE_INT8_STATIC, "int8", "static_wi8_ai8"))


def _edge_steps(spec: Spec) -> list[Step]:
    convert = _config("tflite", C.TFLITE_FP32, "fp32", "litert")
    illegal = legal(spec, "tflite")
    if not _torch_source(spec):
        return [Step("tflite", False, "litert-torch converts PyTorch modules; the source is ONNX", convert)]
    why = "litert-torch conversion at fixed shapes"
    if spec.model.source == "huggingface":  # the front end fixed seq at model.max_length
        why += f" (seq = model.max_length = {spec.model.max_length}; a shorter text is padded)"
    steps = [Step("tflite", illegal is None, illegal or why, convert)]
    if spec.optimize.distill is not None:
        steps.append(Step("distill", False, "students are ONNX candidates; edge targets ship TFLite",
                          _config("distill", C.STUDENT_ONNX_FP32)))
    for cand, precision, recipe in TFLITE_VARIANTS:
        config = _config("tflite-quantize", cand, precision, "litert", variant=recipe)
        steps.append(Step(str(cand), *_tflite_variant(spec, cand, precision, illegal), config))
    return steps


def _tflite_variant(spec: Spec, cand: C, precision: str, illegal: str | None) -> tuple[bool, str]:
    o, t = spec.optimize, spec.target
    asked = "fp16" in o.precisions if precision == "fp16" else cand.removeprefix("tflite-") in o.quantize
    if illegal:
        return False, illegal
    if not asked:
        return False, ("fp16 not in optimize.precisions" if precision == "fp16"
                       else f"{cand.removeprefix('tflite-')} not in optimize.quantize")
    if precision not in t.precisions:
        return False, f"target {t.name} does not run {precision}"
    if cand == C.TFLITE_INT8_STATIC and spec.model.calibration is None:
        return False, "int8-static needs model.calibration"  # the spec rules refuse this earlier
    return True, f"ai-edge-quantizer {_RECIPES[cand]}"


_RECIPES = {C.TFLITE_FP16: "weight-only fp16", C.TFLITE_INT8_DYNAMIC: "int8 weights, dynamic activations",
            C.TFLITE_INT8_STATIC: "int8 weights and activations from model.calibration"}


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
    fused = (C.ONNX_TRANSFORMER_OPT,) if spec.model.source == "huggingface" else ()
    if spec.target.is_gpu:
        return (C.ONNX_FP16, *fused, C.ONNX_OPT, C.ONNX_FP32)
    if spec.target.is_edge:
        return (C.TFLITE_INT8_DYNAMIC, C.TFLITE_FP16, C.TFLITE_FP32)
    # Unmeasured CPU: int8 was not faster on small models here (docs/architecture.md); stay with fp32.
    return (*fused, C.ONNX_OPT, C.ONNX_FP32)


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


def _vllm_plan(spec: Spec, gpu_on_host: bool) -> Plan:
    """serve.engine vllm (an NVIDIA target, a spec rule): vLLM loads the Hugging Face folder itself,
    so no ONNX pass runs; the capacity plan decides dtype, parallelism and replicas once."""
    engine = spec_engine_plan(spec)
    c = engine.capacity
    passes = (Step("passes", False, "serve.engine is vllm: vLLM loads the Hugging Face folder itself (its "
                                    f"{engine.quantization or engine.dtype} weights); no ONNX pass runs"),)
    layout = (f"tensor parallel {c.tensor_parallel}" + (f" x pipeline parallel {c.pipeline_parallel} "
                                                        f"(LeaderWorkerSet of {c.pipeline_parallel} pods)"
                                                        if c.multi_node else " in one pod"))
    emitters = [Step("model", True, "the Hugging Face folder, served as it is (mounted, not copied)"),
                Step("vllm-image", True, f"vLLM's OpenAI server image, --dtype {engine.dtype}: {engine.why}"),
                Step("vllm-kubernetes", "kubernetes" in spec.target.emitters, f"{layout}; and a KServe alternative"),
                Step("vllm-monitoring", "monitoring" in spec.target.emitters and spec.monitoring.enabled,
                     "rules and dashboards on vLLM's own metrics (its pinned version's catalog)"),
                Step("report", True, "report.md and report.json")]
    note = "not measured by deployc: vLLM serves on the target's GPUs; the capacity plan estimates throughput"
    return Plan(spec.target.name, passes, tuple(emitters), False, note, (), gpu_on_host, None, engine_plan=engine)


def _genai_plan(spec: Spec, gpu_on_host: bool) -> Plan:
    """text-generation compiled by onnxruntime-genai's model builder: one folder per precision the
    target runs and its memory holds (compiler/llm_memory.py); edge targets have no builder route."""
    from compiler.frontend.huggingface import generation_model
    from compiler.llm_memory import choices

    t = spec.target
    if t.is_edge:
        steps = [Step("genai-build", False, f"target {t.name} is an edge target: litert-torch's generative export "
                                            "is not wired into deployc yet; build text-generation for a CPU or "
                                            "NVIDIA target", _config("genai-build", C.GENAI_FP32, "fp32",
                                                                     "onnxruntime-genai"))]
        notes: list[str] = []
    else:
        made, notes = choices(spec, generation_model(spec))
        notes += [f"{c.precision} not built: {c.reason}" for c in made
                  if c.precision not in ("int4", "int8", "fp16", "fp32")]
        steps = [Step("genai-build", c.run, c.reason, _config("genai-build", C.genai(c.precision), c.precision,
                                                              "onnxruntime-genai", device=c.device))
                 for c in made if c.precision in ("int4", "int8", "fp16", "fp32")]
    measure, note = _measurement(spec)
    if measure:  # what genai_verify times: onnxruntime-genai's own decoding loop
        note = (f"decode time per output token at batch 1 (greedy, over the verification prompts), measured on "
                f"the build host ({HOST_ARCH})")
    if t.is_gpu:
        measure, note = False, (f"not measured on this host (onnxruntime-genai's CUDA build runs on the "
                                f"target's {t.gpu.model if t.gpu else 'NVIDIA'} GPU)")
    preference = tuple(C.genai(p) for p in ("fp16", "int4", "fp32", "int8") if p in spec.optimize.precisions)
    return Plan(t.name, tuple(steps), tuple(_emitters(spec)), measure, note, preference, gpu_on_host,
                notes=tuple(notes))
