"""The passes deployc knows, registered explicitly, in the order a build runs them.

A pass is a name (as targets/*.yaml lists it), the candidates it makes (compiler/candidates.py),
whether the target allows it, and `run(step, inputs, ctx) -> Artifact`, which reads its settings
from the plan's step (compiler/planner.py decides them) and never re-decides. Runs import their
module only when called, so `validate` and `explain` stay light.

Adding a pass: a module with the transform, one `register(...)` line below, and its decision in
compiler/planner.py (README, "Adding a pass, a model source or a backend").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from compiler.candidates import Candidate as C
from compiler.errors import DeploycError, PassError

if TYPE_CHECKING:
    from compiler.passes.base import Artifact, PassContext
    from compiler.planner import Step


@dataclass
class PassInputs:
    """What a step can build on: the loaded model, the calibration data, and the base artifact
    (the first step's: the exported fp32 ONNX graph, or the fp32 .tflite)."""

    model: Any  # passes.load.LoadedModel
    calibration: Any  # passes.data.Dataset | None
    base: Artifact | None = None
    student: Artifact | None = None  # the distilled student's fp32 ONNX graph (optimize.distill)


Run = Callable[["Step", PassInputs, "PassContext"], "Artifact"]


@dataclass(frozen=True)
class PassDef:
    name: str
    candidates: tuple[C, ...]
    run: Run  # whether the target allows it is the planner's decision (planner.legal)


_PASSES: dict[str, PassDef] = {}


def register(p: PassDef) -> PassDef:
    if p.name in _PASSES:
        raise ValueError(f"pass {p.name!r} is registered twice")
    _PASSES[p.name] = p
    return p


def get(name: str) -> PassDef:
    if name not in _PASSES:
        raise DeploycError(f"no pass named {name!r} is registered (known: {', '.join(_PASSES)})")
    return _PASSES[name]


def names() -> tuple[str, ...]:
    return tuple(_PASSES)


# ---- runs: each reads its settings from the step's config --------------------------------------

def _export(step, inputs, ctx):
    from compiler.passes import export_onnx

    return export_onnx.export(inputs.model, ctx, exporter=step.config.variant or None)


def _transformer_opt(step, inputs, ctx):
    from compiler.passes import transformer_opt

    return transformer_opt.optimize(inputs.base, ctx)


def _ort_optimize(step, inputs, ctx):
    from compiler.passes import ort_optimize

    return ort_optimize.optimize(inputs.base, ctx)


def _fp16(step, inputs, ctx):
    from compiler.passes import fp16

    return fp16.to_fp16(inputs.base, ctx)


def _int8_dynamic(step, inputs, ctx):
    from compiler.passes import quantize

    return quantize.int8_dynamic(inputs.base, ctx)


def _int8_static(step, inputs, ctx):
    from compiler.passes import quantize

    return quantize.int8_static(inputs.base, inputs.calibration, ctx)


def _int8_smoothquant(step, inputs, ctx):
    from compiler.passes import smoothquant

    return smoothquant.int8_smoothquant(inputs.base, inputs.calibration, ctx)


def _prune(step, inputs, ctx):
    from compiler.passes import prune

    return prune.pruned_candidate(inputs.model, ctx.spec.optimize.prune.amount, ctx)


def _aoti(step, inputs, ctx):
    from compiler.passes import aoti

    return aoti.compile_aoti(inputs.model, ctx, step.config.device, step.config.precision)


def _tensorrt(step, inputs, ctx):
    from compiler.passes import tensorrt_engine

    return tensorrt_engine.build_engine(inputs.base, inputs.calibration, ctx, step.config)


def _tflite(step, inputs, ctx):
    from compiler.passes import tflite

    return tflite.convert_step(inputs.model, ctx)


def _tflite_quantize(step, inputs, ctx):
    from compiler.passes import tflite_quantize

    return tflite_quantize.variant(inputs.base, step.config, inputs.calibration, ctx)


def _distill(step, inputs, ctx):
    from compiler.passes import distill

    artifact, ctx.facts["distill"] = distill.distill(inputs.model, inputs.calibration, ctx, step.config.variant or None)
    inputs.student = artifact  # the base of the student's optimized forms (the steps after this one)
    return artifact


def _student(transform):
    """A teacher's ONNX -> ONNX pass run on the student's graph, making the step's candidate."""
    def run(step, inputs, ctx):
        if inputs.student is None:
            raise PassError(step.config.pass_name, "the student was not made (see the distill step)")
        return transform(inputs.student, ctx, step.config.candidate.value)
    return run


def _student_optimize(source, ctx, candidate):
    from compiler.passes import ort_optimize

    return ort_optimize.optimize(source, ctx, candidate)


def _student_int8(source, ctx, candidate):
    from compiler.passes import quantize

    return quantize.int8_dynamic(source, ctx, candidate)


def _genai_build(step, inputs, ctx):
    from compiler.passes import genai_build

    folder, digest = inputs.model  # text-generation: the Hugging Face folder and its digest
    return genai_build.build(step, folder, digest, ctx)


register(PassDef("onnx-export", (C.ONNX_FP32,), _export))
register(PassDef("ort-optimize", (C.ONNX_OPT,), _ort_optimize))
# Graph optimization too: a target that runs ort-optimize runs it (huggingface sources only, planner.py).
register(PassDef("onnx-transformer-opt", (C.ONNX_TRANSFORMER_OPT,), _transformer_opt))
register(PassDef("fp16", (C.ONNX_FP16,), _fp16))
register(PassDef("int8-dynamic", (C.ONNX_INT8_DYNAMIC,), _int8_dynamic))
register(PassDef("int8-static", (C.ONNX_INT8_STATIC,), _int8_static))
register(PassDef("int8-smoothquant", (C.ONNX_INT8_SMOOTHQUANT,), _int8_smoothquant))
register(PassDef("prune", (C.ONNX_PRUNED,), _prune))
register(PassDef("aoti", (C.AOTI_CPU, C.AOTI_CUDA_FP32, C.AOTI_CUDA_FP16, C.AOTI_CUDA_BF16), _aoti))
register(PassDef("tensorrt", (C.TENSORRT_FP32, C.TENSORRT_FP16, C.TENSORRT_BF16, C.TENSORRT_INT8), _tensorrt))
register(PassDef("tflite", (C.TFLITE_FP32,), _tflite))
register(PassDef("tflite-quantize", (C.TFLITE_FP16, C.TFLITE_INT8_DYNAMIC, C.TFLITE_INT8_STATIC), _tflite_quantize))
register(PassDef("distill", (C.STUDENT_ONNX_FP32,), _distill))
register(PassDef("distill-ort-optimize", (C.STUDENT_ONNX_OPT,), _student(_student_optimize)))
register(PassDef("distill-int8-dynamic", (C.STUDENT_ONNX_INT8_DYNAMIC,), _student(_student_int8)))
# text-generation: onnxruntime-genai's model builder, one folder per precision (passes/genai_pipeline.py).
register(PassDef("genai-build", (C.GENAI_FP32, C.GENAI_FP16, C.GENAI_INT8, C.GENAI_INT4), _genai_build))
