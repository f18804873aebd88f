"""onnx-export on a tiny model: the spec's names and dynamic batch, the module's numbers."""

import onnx

from compiler.passes.export_onnx import export
from tests.passes.tiny import cosine, eager, pixels, run_onnx, tiny


def test_export_names_the_signature_keeps_batch_dynamic_and_matches_eager(tmp_path):
    spec, model, ctx = tiny(tmp_path)
    art = export(model, ctx)
    assert (art.candidate, art.format, art.precision) == ("onnx-fp32", "onnx", "fp32")
    graph = onnx.load(str(art.path)).graph
    assert [i.name for i in graph.input] == ["pixels"] and [o.name for o in graph.output] == ["logits"]
    assert not graph.input[0].type.tensor_type.shape.dim[0].HasField("dim_value")  # batch is symbolic
    for n in (1, 7):  # two batch sizes through the same graph
        data = pixels(n)
        out = run_onnx(art.path, data)
        assert out.shape == (n, 10)
        assert abs(out - eager(data)).max() < 1e-4


def test_a_second_export_is_a_cache_hit_with_the_same_bytes(tmp_path):
    _, model, ctx = tiny(tmp_path)
    first = export(model, ctx)
    again = export(model, ctx)
    assert again.sha256 == first.sha256
    assert ctx.events[-1].cached and not ctx.events[0].cached
    assert cosine(run_onnx(again.path, pixels()), eager(pixels())) > 0.9999
