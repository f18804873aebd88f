"""fp16 on a tiny model (as Olive's test_float16_conversion): float16 initializers, float32 I/O,
and it still runs in onnxruntime close to the fp32 graph."""

import numpy as np
import onnx

from compiler.passes.export_onnx import export
from compiler.passes.fp16 import to_fp16
from tests.passes.tiny import cosine, pixels, run_onnx, tiny


def test_fp16_weights_float32_io_and_parity(tmp_path):
    _, model, ctx = tiny(tmp_path)
    base = export(model, ctx)
    half = to_fp16(base, ctx)
    assert (half.candidate, half.precision) == ("onnx-fp16", "fp16")
    m = onnx.load(str(half.path))
    kinds = {onnx.helper.tensor_dtype_to_np_dtype(t.data_type) for t in m.graph.initializer}
    assert {k for k in kinds if k.kind == "f"} == {np.dtype(np.float16)}  # int64 shape constants stay
    f32 = onnx.TensorProto.FLOAT
    assert [i.type.tensor_type.elem_type for i in m.graph.input] == [f32]  # keep_io_types
    assert [o.type.tensor_type.elem_type for o in m.graph.output] == [f32]
    data = pixels(64)
    out = run_onnx(half.path, data)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert cosine(out, run_onnx(base.path, data)) > 0.99
    assert half.path.stat().st_size < base.path.stat().st_size
