"""ort-optimize on a tiny model: onnxruntime's extended graph optimizations fuse the graph and
keep its numbers."""

import onnx

from compiler.passes.export_onnx import export
from compiler.passes.ort_optimize import optimize
from tests.passes.tiny import pixels, run_onnx, tiny


def test_optimized_graph_is_smaller_same_signature_same_numbers(tmp_path):
    _, model, ctx = tiny(tmp_path)
    base = export(model, ctx)
    opt = optimize(base, ctx)
    assert (opt.candidate, opt.precision) == ("onnx-opt", "fp32")
    assert opt.produced_by[-1] == "ort-optimize"
    before, after = onnx.load(str(base.path)).graph, onnx.load(str(opt.path)).graph
    assert len(after.node) < len(before.node)  # e.g. Conv+Relu, Gemm+Relu fused
    assert [i.name for i in after.input] == ["pixels"] and [o.name for o in after.output] == ["logits"]
    data = pixels(16)
    assert abs(run_onnx(opt.path, data) - run_onnx(base.path, data)).max() < 1e-5


def test_the_cpu_file_keeps_add_and_layer_norm_apart(tmp_path):
    """onnxruntime's SkipLayerNormalization CPU kernel is slower than the Add and
    LayerNormalization it fuses (docs/architecture.md, "Layer norm fusion on the CPU"): the
    optimized file leaves that fusion out, as the runtime's CPU sessions do; other execution
    providers keep onnxruntime's defaults."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from compiler.passes.base import Artifact, PassContext
    from compiler.passes.cache import Cache
    from compiler.runtime.backend_onnx import disabled_optimizers

    spec, _, _ = tiny(tmp_path)
    x, r = (helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", "seq", 8]) for n in ("x", "r"))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 8])  # 3-D: the fusion's pattern
    ones, zeros = numpy_helper.from_array(np.ones(8, np.float32), "g"), numpy_helper.from_array(np.zeros(8, np.float32), "b")
    graph = helper.make_graph([helper.make_node("Add", ["x", "r"], ["s"]),
                               helper.make_node("LayerNormalization", ["s", "g", "b"], ["y"], axis=-1)],
                              "skip", [x, r], [y], [ones, zeros])
    src = tmp_path / "skip.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    opt = optimize(Artifact("onnx-fp32", "onnx", "fp32", src, "0" * 64, ("test",)), PassContext(spec, Cache(tmp_path / "c")))
    ops = [n.op_type for n in onnx.load(str(opt.path)).graph.node]
    assert "SkipLayerNormalization" not in ops and "LayerNormalization" in ops
    assert disabled_optimizers(["CPUExecutionProvider"]) == ["SkipLayerNormFusion"]
    assert disabled_optimizers(["CUDAExecutionProvider", "CPUExecutionProvider"]) == []
