"""int8-dynamic and int8-static on a tiny model: int8 weights in the graph, close outputs."""

import numpy as np
import onnx

from compiler.passes.export_onnx import export
from compiler.passes.quantize import int8_dynamic, int8_static
from tests.passes.tiny import cosine, pixels, run_onnx, tiny


def _int8_initializers(path) -> int:
    return sum(t.data_type == onnx.TensorProto.INT8 for t in onnx.load(str(path)).graph.initializer)


def test_int8_dynamic_has_int8_weights_and_stays_close(tmp_path):
    _, model, ctx = tiny(tmp_path)
    base = export(model, ctx)
    q = int8_dynamic(base, ctx)
    assert (q.candidate, q.precision) == ("onnx-int8-dynamic", "int8")
    assert _int8_initializers(q.path) >= 1
    data = pixels(64)
    assert cosine(run_onnx(q.path, data), run_onnx(base.path, data)) > 0.99


def test_int8_static_calibrates_on_the_data_and_stays_close(tmp_path):
    _, model, ctx = tiny(tmp_path)
    base = export(model, ctx)
    q = int8_static(base, pixels(64, seed=2), ctx)
    assert (q.candidate, q.precision) == ("onnx-int8-static", "int8")
    ops = {n.op_type for n in onnx.load(str(q.path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format: activations quantized too
    data = pixels(64)
    out = run_onnx(q.path, data)
    assert np.isfinite(out).all() and cosine(out, run_onnx(base.path, data)) > 0.99
    # Other calibration data is another model (the cache keys on the data's digest).
    other = int8_static(base, pixels(64, seed=3), ctx)
    assert other.path != q.path
