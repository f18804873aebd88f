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


def test_a_cast_to_float_inside_the_graph_still_loads(tmp_path):
    """Pooling casts the int64 attention mask to the hidden states' float type: after fp16 that
    Cast must make float16 (onnxconverter-common left it at float, and the graph did not load)."""
    import onnxruntime as ort
    import torch

    from compiler.digest import sha256_file
    from compiler.passes.base import Artifact

    class MaskedMean(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(4, 4)

        def forward(self, x, mask):
            m = mask.unsqueeze(-1).to(x.dtype)
            return (self.proj(x) * m).sum(1) / m.sum(1).clamp(min=1e-9)

    torch.manual_seed(0)
    x, mask = torch.randn(2, 5, 4), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    path = tmp_path / "masked.onnx"
    torch.onnx.export(MaskedMean().eval(), (x, mask), str(path), input_names=["x", "mask"], output_names=["y"],
                      dynamic_axes={"x": {0: "b", 1: "s"}, "mask": {0: "b", 1: "s"}}, opset_version=17, dynamo=False)
    assert any(n.op_type == "Cast" for n in onnx.load(str(path)).graph.node)
    _, _, ctx = tiny(tmp_path)
    half = to_fp16(Artifact("onnx-fp32", "onnx", "fp32", path, sha256_file(path), ("export",)), ctx)
    feeds = {"x": x.numpy(), "mask": mask.numpy()}
    got = ort.InferenceSession(str(half.path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert got.dtype == np.float32 and cosine(got, want) > 0.999
