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
from compiler.passes.data import Dataset

NAME = "tflite-quantize"
LIBS = ("ai-edge-quantizer", "ai-edge-litert")


def variants(base: Artifact, calibration: Dataset | None, shapes: dict[str, tuple[int, ...]],
             ctx: PassContext) -> list[Artifact]:
    """Each variant that fails is reported broken (ctx.attempt); the others are still judged."""
    o, t = ctx.spec.optimize, ctx.spec.target
    out = []
    if "fp16" in o.precisions and "fp16" in t.precisions:
        out.append(ctx.attempt("tflite-fp16", lambda: _variant(
            base, "tflite-fp16", "fp16", {"recipe": "weight_only_fp16"}, ctx, None)))
    if "int8-dynamic" in o.quantize and "int8" in t.precisions:
        out.append(ctx.attempt("tflite-int8-dynamic", lambda: _variant(
            base, "tflite-int8-dynamic", "int8", {"recipe": "dynamic_wi8_afp32"}, ctx, None)))
    if "int8-static" in o.quantize and "int8" in t.precisions and calibration is not None:
        samples = calibration_samples(calibration, shapes)
        config = {"recipe": "static_wi8_ai8", "float_io": True, "data": calibration.digest(),
                  "shapes": {k: list(v) for k, v in sorted(shapes.items())}}
        out.append(ctx.attempt("tflite-int8-static", lambda: _variant(
            base, "tflite-int8-static", "int8", config, ctx, samples)))
    return [a for a in out if a is not None]


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
    from compiler.passes.tflite import SIGNATURE, _quiet

    with _quiet() as log:
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
