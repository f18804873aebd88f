"""fp16 and int8 variants of the converted .tflite with ai-edge-quantizer.

- tflite-fp16: weights cast to fp16 (FLOAT_CASTING, weight-only); the kernels compute in fp32.
- tflite-int8-dynamic: int8 weights per channel, activations quantized at run time.
- tflite-int8-static: int8 weights and activations from the spec's calibration data. Inputs and
  outputs stay float (quantize/dequantize at the edges) so every variant has the same signature
  and the runtime's litert backend serves any of them; integer compute inside is the same.
Nothing assumes int8 is better: the gates and the measured latency decide (select.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compiler.errors import PassError, SpecError, SpecIssue
from compiler.passes.base import Artifact, PassContext, library_versions
from compiler.digest import sha256_file
from compiler.tflite_signature import SIGNATURE, quiet
from compiler.passes.data import Dataset
from compiler.planner import StepConfig

NAME = "tflite-quantize"
LIBS = ("ai-edge-quantizer", "ai-edge-litert")
STATIC_RECIPE = "static_wi8_ai8"


def variant(base: Artifact, step: StepConfig, calibration: Dataset | None, ctx: PassContext) -> Artifact:
    """One variant the plan runs (planner.TFLITE_VARIANTS decides which, and says why not)."""
    from compiler.passes.tflite import fixed_shapes

    config: dict = {"recipe": step.variant}
    samples = None
    if step.variant == STATIC_RECIPE:
        if calibration is None:
            raise SpecError(SpecIssue("model.calibration", f"{step.candidate} needs calibration data"))
        shapes = fixed_shapes(ctx.spec)
        samples = calibration_samples(calibration, shapes)
        config.update({"float_io": True, "data": calibration.digest(),
                       "shapes": {k: list(v) for k, v in sorted(shapes.items())}})
    return _variant(base, step.candidate.value, step.precision, config, ctx, samples)


def calibration_samples(data: Dataset, shapes: dict[str, tuple[int, ...]]) -> list[dict[str, np.ndarray]]:
    """The calibration rows as model-sized batches; the last partial batch is dropped, not padded
    (zero padding would widen the activation ranges)."""
    for name, shape in shapes.items():
        got = data.inputs[name].shape
        if tuple(got[1:]) != tuple(shape[1:]):
            raise SpecError(SpecIssue("model.calibration", f"input '{name}' has shape {list(got)}; the edge model "
                                                           f"is fixed at {list(shape)} (optimize.edge.fixed_dims)"))
    batch = next(iter(shapes.values()))[0]
    if data.size < batch:
        raise SpecError(SpecIssue("model.calibration", f"{data.size} samples, fewer than one batch of "
                                                       f"{batch} (optimize.edge.batch_size)"))
    return [{k: np.ascontiguousarray(v[i:i + batch]) for k, v in data.inputs.items()}
            for i in range(0, data.size - batch + 1, batch)]


def _variant(base: Artifact, candidate: str, precision: str, config: dict, ctx: PassContext,
             samples: list[dict[str, np.ndarray]] | None) -> Artifact:
    key = ctx.cache.key(NAME, config, {"model": base.sha256}, library_versions(*LIBS))
    with ctx.timed(f"{NAME} ({candidate})") as event:
        entry = ctx.cache.get_or_run(key, lambda d: _quantize(base.path, d / "model.tflite", config["recipe"],
                                                              samples, candidate))
        event.cached = entry.hit
    path = entry.file("model.tflite")
    return Artifact(candidate, "tflite", precision, path, sha256_file(path), base.produced_by + (NAME,))


def _quantize(src: Path, dst: Path, recipe_name: str, samples, candidate: str) -> dict:
    with quiet() as log:
        try:
            q = _quantizer(src, recipe_name)
            result = q.calibrate({SIGNATURE: samples}, num_threads=1) if q.need_calibration else None
            model = q.quantize(result, enable_progress_report=False).quantized_model
        except Exception as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else log()
            raise PassError(NAME, f"{candidate}: ai-edge-quantizer failed: {type(exc).__name__}: {text}") from None
    dst.write_bytes(bytes(model))
    return {"recipe": recipe_name}


def _quantizer(src: Path, recipe_name: str):
    from ai_edge_quantizer import quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName as Op

    q = quantizer.Quantizer(str(src))
    if recipe_name == "weight_only_fp16":
        q.add_weight_only_config(".*", Op.ALL_SUPPORTED, 16, algorithm_key=AlgorithmName.FLOAT_CASTING)
    elif recipe_name == "dynamic_wi8_afp32":
        q.load_quantization_recipe(recipe.dynamic_wi8_afp32())
    elif recipe_name == "static_wi8_ai8":
        q.load_quantization_recipe(recipe.static_wi8_ai8())
        # Keep the signature float: the recipe would otherwise make the model's inputs/outputs int8.
        for op in (Op.INPUT, Op.OUTPUT):
            q.update_quantization_recipe(".*", op, None, AlgorithmName.NO_QUANTIZE)
    else:
        raise ValueError(f"unknown recipe {recipe_name}")
    return q
