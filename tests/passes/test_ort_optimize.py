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
