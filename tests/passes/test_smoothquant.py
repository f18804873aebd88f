"""int8-smoothquant: exact fp32 smoothing, the down projection kept fp32, and int8 that holds up
where plain dynamic int8 does not (an activation with one outlier channel, as BERT-class encoders
have after LayerNorm)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.frontend import load_spec
from compiler.passes.base import Artifact, PassContext
from compiler.passes.cache import Cache
from compiler.passes.data import Dataset
from compiler.passes.quantize import int8_dynamic
from compiler.passes.smoothquant import activation_maxima, int8_smoothquant, scales, smooth, weight_matmuls
from tests.passes.tiny import DIGITS

HIDDEN, WIDE = 16, 64
OUTLIER = 3  # the channel that runs ~60x wider than the rest


def _block(path) -> None:
    """x [batch, seq, 16] -> q, k (two MatMuls sharing x), up [16, 64], Relu, down [64, 16] -> y."""
    rng = np.random.default_rng(0)
    w = {n: rng.normal(0, 0.3, shape).astype(np.float32)
         for n, shape in (("wq", (HIDDEN, HIDDEN)), ("wk", (HIDDEN, HIDDEN)), ("up", (HIDDEN, WIDE)), ("down", (WIDE, HIDDEN)))}
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"], name="q"),
             helper.make_node("MatMul", ["x", "wk"], ["k"], name="k"),
             helper.make_node("Add", ["q", "k"], ["qk"], name="add"),
             helper.make_node("MatMul", ["qk", "up"], ["h"], name="up_proj"),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", "down"], ["y"], name="down_proj")]
    graph = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", HIDDEN])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", HIDDEN])],
                              [numpy_helper.from_array(v, k) for k, v in w.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _activations(n: int, seed: int) -> Dataset:
    x = np.random.default_rng(seed).normal(0, 1, (n, 8, HIDDEN)).astype(np.float32)
    x[..., OUTLIER] *= 60.0
    return Dataset({"x": x}, None, "calibration")


def _run(path, data: Dataset) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, data.inputs)[0]


def _worst_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(np.min(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


@pytest.fixture
def block(tmp_path):
    path = tmp_path / "block.onnx"
    _block(path)
    ctx = PassContext(load_spec(DIGITS), Cache(tmp_path / "cache"))
    from compiler.digest import sha256_file

    return Artifact("onnx-fp32", "onnx", "fp32", path, sha256_file(path), ("onnx-export",)), ctx


def test_scales_are_powers_of_two_and_idle_channels_keep_one():
    s = scales(np.array([100.0, 1.0, 0.0, 3.0, np.inf, np.nan]), np.array([0.5, 0.5, 0.5, 0.0, 0.5, 0.5]), 0.8)
    assert s.dtype == np.float32 and np.all(s[2:] == 1.0)
    assert np.all(np.exp2(np.round(np.log2(s))) == s)
    assert s[0] > s[1]  # the wide channel is divided down the most


def test_grouping_shares_one_scale_and_keeps_the_down_projection(block):
    art, _ = block
    groups, kept = weight_matmuls(onnx.load(str(art.path)))
    assert {k: sorted(n.name for n in v) for k, v in groups.items()} == {"x": ["k", "q"], "qk": ["up_proj"]}
    assert kept == ["down_proj"]


def test_a_weight_something_else_reads_is_not_scaled(tmp_path):
    """Tied weights: a Gather reads the MatMul's weight too, so scaling its rows would change both."""
    w = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "tied")
    nodes = [helper.make_node("MatMul", ["x", "tied"], ["y"], name="head"),
             helper.make_node("Gather", ["tied", "ids"], ["e"], name="embed")]
    graph = helper.make_graph(nodes, "tied", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4]),
                                              helper.make_tensor_value_info("ids", TensorProto.INT64, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4]),
                               helper.make_tensor_value_info("e", TensorProto.FLOAT, [2, 4])], [w])
    groups, kept = weight_matmuls(helper.make_model(graph))
    assert groups == {} and kept == []


def test_unnamed_matmuls_are_still_quantized_and_the_down_projection_kept(block, tmp_path):
    """onnxruntime excludes nodes by name: unnamed ones get names first, or "" would exclude them all."""
    art, ctx = block
    model = onnx.load(str(art.path))
    for node in model.graph.node:
        node.name = ""
    onnx.save(model, str(tmp_path / "unnamed.onnx"))
    from compiler.digest import sha256_file

    unnamed = Artifact("onnx-fp32", "onnx", "fp32", tmp_path / "unnamed.onnx", sha256_file(tmp_path / "unnamed.onnx"),
                       ("onnx-export",))
    ops = [n.op_type for n in onnx.load(str(int8_smoothquant(unnamed, _activations(32, seed=1), ctx).path)).graph.node]
    assert ops.count("MatMulInteger") == 3 and ops.count("MatMul") == 1


def test_smoothing_alone_computes_the_original_bit_for_bit(block, tmp_path):
    art, _ = block
    data = _activations(16, seed=1)
    model = onnx.load(str(art.path))
    groups, _ = weight_matmuls(model)
    smooth(model, groups, activation_maxima(model, sorted(groups), data), 0.8)
    assert sum(n.op_type == "Mul" for n in model.graph.node) == 2  # one per shared activation
    onnx.save(model, str(tmp_path / "smoothed.onnx"))
    np.testing.assert_array_equal(_run(tmp_path / "smoothed.onnx", data), _run(art.path, data))


def test_int8_smoothquant_holds_where_dynamic_int8_does_not(block):
    art, ctx = block
    held_out = _activations(64, seed=2)
    reference = _run(art.path, held_out)
    sq = int8_smoothquant(art, _activations(32, seed=1), ctx)
    assert (sq.candidate, sq.precision) == ("onnx-int8-smoothquant", "int8")
    ops = [n.op_type for n in onnx.load(str(sq.path)).graph.node]
    assert ops.count("MatMulInteger") == 3 and ops.count("MatMul") == 1  # the down projection stays fp32
    plain = int8_dynamic(art, ctx)
    ours, theirs = _worst_cosine(_run(sq.path, held_out), reference), _worst_cosine(_run(plain.path, held_out), reference)
    assert np.isfinite(ours) and ours > 0.999 and ours > theirs, (ours, theirs)


def test_the_cache_keys_on_the_calibration_data(block):
    art, ctx = block
    first = int8_smoothquant(art, _activations(32, seed=1), ctx)
    assert int8_smoothquant(art, _activations(32, seed=1), ctx).path == first.path
    assert int8_smoothquant(art, _activations(32, seed=5), ctx).path != first.path


def test_the_same_inputs_make_the_same_bytes(block, tmp_path):
    art, ctx = block
    first = int8_smoothquant(art, _activations(32, seed=1), ctx)
    again = int8_smoothquant(art, _activations(32, seed=1), PassContext(ctx.spec, Cache(tmp_path / "other-cache")))
    assert again.path != first.path and again.sha256 == first.sha256
