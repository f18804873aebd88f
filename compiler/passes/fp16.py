"""fp16 conversion with onnxruntime's converter (onnxruntime.transformers.float16), keeping fp32
inputs and outputs.

Keeping the I/O types means clients and the runtime's signature do not change with precision.
onnxruntime's converter, not onnxconverter-common's: the latter retypes a Cast node's output to
float16 but leaves its `to` attribute at float, so a graph that casts to float inside (a
sentence-transformers pooling casts the attention mask to the hidden states' type) fails to load
("Type (tensor(float16)) of output arg (/Cast_output_0) of node (/Cast) does not match").
"""

from __future__ import annotations

from pathlib import Path

from compiler.candidates import Candidate
from compiler.passes.base import Artifact, PassContext, onnx_transform

NAME = "fp16"


def to_fp16(source: Artifact, ctx: PassContext) -> Artifact:
    return onnx_transform(ctx, NAME, Candidate.ONNX_FP16.value, "fp16", source, {"keep_io_types": True},
                          _convert, ("onnxruntime", "onnx"))


def _convert(src: Path, dst: Path) -> dict:
    import warnings

    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with warnings.catch_warnings():  # per-constant "truncated to fp16" notices; verify judges the result
        warnings.simplefilter("ignore")
        model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
    return {}
