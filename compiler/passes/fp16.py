"""fp16 conversion with onnxconverter-common, keeping fp32 inputs and outputs.

Keeping the I/O types means clients and the runtime's signature do not change with precision.
"""

from __future__ import annotations

from pathlib import Path

from compiler.candidates import Candidate
from compiler.passes.base import Artifact, PassContext, onnx_transform

NAME = "fp16"


def to_fp16(source: Artifact, ctx: PassContext) -> Artifact:
    return onnx_transform(ctx, NAME, Candidate.ONNX_FP16.value, "fp16", source, {"keep_io_types": True},
                          _convert, ("onnxconverter-common", "onnx"))


def _convert(src: Path, dst: Path) -> dict:
    import onnx
    from onnxconverter_common import float16

    model = float16.convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
    return {}
