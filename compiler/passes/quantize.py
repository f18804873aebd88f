"""int8 quantization with onnxruntime.quantization: dynamic, and static with calibration data.

Static QDQ can cost accuracy on transformers (docs/architecture.md: measured top-1 agreement 0.84), so
both are candidates and the gates decide; nothing here assumes int8 is better.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from compiler.candidates import Candidate
from compiler.passes.base import Artifact, PassContext, onnx_transform
from compiler.passes.data import Dataset

LIBS = ("onnxruntime", "onnx")


def int8_dynamic(source: Artifact, ctx: PassContext, candidate: str = Candidate.ONNX_INT8_DYNAMIC.value) -> Artifact:
    config = {"weight_type": "QInt8", "per_channel": False}
    return onnx_transform(ctx, "int8-dynamic", candidate, "int8", source, config, _dynamic, LIBS)


def int8_static(source: Artifact, calibration: Dataset, ctx: PassContext) -> Artifact:
    config = {"format": "QDQ", "per_channel": True, "method": "MinMax", "data": calibration.digest()}
    return onnx_transform(ctx, "int8-static", Candidate.ONNX_INT8_STATIC.value, "int8", source, config,
                          lambda src, dst: _static(src, dst, calibration), LIBS)


def preprocess(src: Path, dst: Path) -> Path:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # On failure, symbolic shape inference drops a debug model into the working directory:
    # run it inside the cache entry's private temp folder so nothing leaks into the user's tree.
    with contextlib.chdir(dst.parent):
        try:
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=False)
        except Exception:
            # It gives up on some dynamic graphs (attention reshapes); ONNX shape inference
            # alone is enough for the quantizer there.
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
        for leftover in dst.parent.glob("sym_shape_infer_temp.onnx*"):
            leftover.unlink()
        for leftover in dst.parent.glob("*.data"):
            leftover.unlink()
    return dst


def _dynamic(src: Path, dst: Path) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    pre = preprocess(src, dst.with_name("pre.onnx"))
    quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8)
    pre.unlink()
    return {}


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over our dataset, one sample at a time."""

    def __init__(self, data: Dataset):
        self._rows = iter(range(data.size))
        self._data = data

    def get_next(self):
        i = next(self._rows, None)
        return None if i is None else {k: np.ascontiguousarray(v[i:i + 1]) for k, v in self._data.inputs.items()}


def _static(src: Path, dst: Path, calibration: Dataset) -> dict:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    pre = preprocess(src, dst.with_name("pre.onnx"))
    quantize_static(str(pre), str(dst), _Reader(calibration), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    pre.unlink()
    for leftover in dst.parent.glob("*.onnx.data"):
        leftover.unlink()
    return {"samples": calibration.size}
