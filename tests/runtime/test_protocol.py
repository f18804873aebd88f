"""Decoding and validation of Open Inference Protocol requests, without a server."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compiler.runtime.config import TensorInfo
from compiler.runtime.drift import baseline, bucket_counts
from compiler.runtime.errors import InferError, NotFound
from compiler.runtime.protocol import Signature, check_model, decode, encode
from .helpers import toy_config

SIG = Signature.of(toy_config())


def body(inputs, **extra) -> bytes:
    return json.dumps({"inputs": inputs, **extra}).encode()


def x(shape=(2, 4), data=None, datatype="FP32", **extra):
    n = int(np.prod(shape))
    return {"name": "x", "datatype": datatype, "shape": list(shape),
            "data": list(range(n)) if data is None else data, **extra}


def ids(shape=(2, 3), data=None):
    return {"name": "ids", "datatype": "INT64", "shape": list(shape),
            "data": [1] * int(np.prod(shape)) if data is None else data}


def refused(payload: bytes, header: str | None = None) -> str:
    with pytest.raises(InferError) as info:
        decode(payload, header, SIG)
    assert 400 <= info.value.status < 500
    return info.value.message


def test_flat_and_nested_data_decode_row_major():
    flat = decode(body([x(), ids()]), None, SIG)
    nested = decode(body([x(data=[[0, 1, 2, 3], [4, 5, 6, 7]]), ids()]), None, SIG)
    for req in (flat, nested):
        assert req.inputs["x"].dtype == np.float32 and req.inputs["x"].shape == (2, 4)
        np.testing.assert_array_equal(req.inputs["x"], np.arange(8, dtype=np.float32).reshape(2, 4))
        assert req.rows == 2 and req.outputs == ("y", "s") and not req.binary_outputs
    assert list(flat.inputs) == ["x", "ids"]  # signature order, whatever the request's order


def test_binary_inputs_and_outputs():
    xs = np.arange(8, dtype=np.float32).reshape(2, 4)
    head = json.dumps({"inputs": [
        {"name": "x", "datatype": "FP32", "shape": [2, 4], "parameters": {"binary_data_size": 32}},
        ids()], "outputs": [{"name": "s", "parameters": {"binary_data": True}}]}).encode()
    req = decode(head + xs.tobytes(), str(len(head)), SIG)
    np.testing.assert_array_equal(req.inputs["x"], xs)
    assert req.outputs == ("s",) and req.binary_outputs == {"s"}
    out = np.array([1.5, 2.5], np.float32)
    content, hlen = encode(req, {"s": out}, "toy", "1")
    doc = json.loads(content[:hlen])
    assert doc["outputs"] == [{"name": "s", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}]
    np.testing.assert_array_equal(np.frombuffer(content[hlen:], np.float32), out)


def test_binary_data_output_parameter_applies_to_all_outputs():
    req = decode(body([x(), ids()], parameters={"binary_data_output": True}), None, SIG)
    assert req.binary_outputs == {"y", "s"}


@pytest.mark.parametrize("payload, needle", [
    (b"{not json", "malformed JSON"),
    (b"[1, 2]", "JSON object"),
    (body([]), "inputs: must be a non-empty list"),
    (body([x(datatype="INT64"), ids()]), "inputs[0] ('x').datatype: expected FP32, got 'INT64'"),
    (body([x(shape=(2, 5)), ids()]), "inputs[0] ('x').shape: [2, 5] does not match the model's [-1, 4]"),
    (body([x(shape=(9, 4)), ids((9, 3))]), "over max_batch_size 8"),
    (body([x(shape=(2, -4)), ids()]), "non-negative integers"),
    (body([x()]), "inputs: missing ['ids']"),
    (body([x(), ids(), {"name": "z", "datatype": "FP32", "shape": [1], "data": [1]}]), "unknown input"),
    (body([x(), x(), ids()]), "given twice"),
    (body([x(data=[1, 2, 3]), ids()]), "3 elements, but shape [2, 4] needs 8"),
    (body([x(data=["a"] * 8), ids()]), "values of kind string do not fit datatype FP32"),
    (body([x(data=[[1, 2], [3]]), ids()]), "not a rectangular array"),
    (body([x(), ids(data=[1.5] * 6)]), "values of kind float do not fit datatype INT64"),
    (body([x(), ids((3, 3))]), "inputs[1] ('ids').shape: dim 0 (batch) is 3, but inputs[0] ('x') has batch = 2"),
    (body([x(), ids()], outputs=[{"name": "nope"}]), "outputs[0].name: unknown output 'nope'"),
    (body([x(), ids()], parameters={"timeout": -1}), "parameters.timeout"),
    (body([x(data=None) | {"data": None}, ids()]), "values of kind mixed/other"),
    (body([{k: v for k, v in x().items() if k != "data"}, ids()]), "inputs[0] ('x').data: missing"),
])
def test_bad_requests_name_the_field(payload, needle):
    assert needle in refused(payload)


def test_binary_size_mismatches_are_refused():
    head = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4],
                                   "parameters": {"binary_data_size": 16}}, ids()]}).encode()
    assert "needs 32" in refused(head + b"\0" * 16, str(len(head)))
    head = head.replace(b"16", b"32")
    assert "only 4 binary bytes" in refused(head + b"\0" * 4, str(len(head)))
    assert "trailing bytes" in refused(head + b"\0" * 40, str(len(head)))
    assert "outside the body" in refused(head, str(len(head) + 1))
    assert "not an integer" in refused(head, "ten")


def test_int_range_is_checked():
    sig = Signature.of(toy_config(inputs=[TensorInfo("q", "INT8", [-1], ["batch"], None)], outputs=[]))
    req = {"name": "q", "datatype": "INT8", "shape": [2], "data": [1, 300]}
    with pytest.raises(InferError, match="outside the range of INT8"):
        decode(body([req]), None, sig)


def test_model_and_version_lookup():
    config = toy_config()
    check_model("toy", None, config)
    check_model("toy", "1", config)
    with pytest.raises(NotFound, match="model 'other' not found"):
        check_model("other", None, config)
    with pytest.raises(NotFound, match="no version '2'"):
        check_model("toy", "2", config)


def test_drift_buckets_and_baseline():
    edges = np.array([-1.0, 0.0, 1.0])
    # bucket i holds edges[i-1] <= v < edges[i]
    np.testing.assert_array_equal(bucket_counts(np.array([-5, -1, -0.5, 0, 0.5, 1, 7]), edges), [1, 2, 2, 2])
    base = baseline(np.random.default_rng(0).standard_normal(10_000), 4)
    assert len(base.ratios) == len(base.edges) + 1 == 4
    assert abs(sum(base.ratios) - 1) < 1e-9 and all(abs(r - 0.25) < 0.01 for r in base.ratios)


def test_json_output_round_trips_exactly():
    from compiler.runtime.protocol import InferRequest

    rng = np.random.default_rng(5)
    outs = {"f": (rng.standard_normal((3, 7)) * 1e6).astype(np.float32),
            "g": np.array([np.nan, np.inf, 1.5], np.float32), "b": np.array([True, False]),
            "i": np.array([[-(2**62), 7]], np.int64), "h": np.array([0.1], np.float16)}
    req = InferRequest(inputs={}, outputs=tuple(outs), binary_outputs=frozenset(), id='q"1')
    content, hlen = encode(req, outs, "m", "2")
    assert hlen is None
    doc = json.loads(content, parse_constant=pytest.fail)  # strict JSON: no bare NaN or Infinity
    assert doc["id"] == 'q"1' and doc["model_version"] == "2"
    for out in doc["outputs"]:
        want = outs[out["name"]]
        got = np.asarray(out["data"], dtype=want.dtype).reshape(out["shape"])
        np.testing.assert_array_equal(got, want)
    assert [o["datatype"] for o in doc["outputs"]] == ["FP32", "FP32", "BOOL", "INT64", "FP16"]


# --- values: strict JSON, declared ranges, shared dims ------------------------------------------

RANGED = Signature.of(toy_config(inputs=[TensorInfo("x", "FP32", [-1, 4], ["batch", None], [-1.0, 1.5]),
                                         TensorInfo("ids", "INT64", [-1, -1], ["batch", "seq"], None)]))


def raw_x(data: str, shape=(1, 4)) -> bytes:
    return (f'{{"inputs":[{{"name":"x","datatype":"FP32","shape":{list(shape)},"data":{data}}},'
            '{"name":"ids","datatype":"INT64","shape":[1,1],"data":[1]}]}').encode()


@pytest.mark.parametrize("data, needle", [
    ("[1, NaN, 3, 4]", "inputs[0] ('x').data[1]: NaN is not valid JSON"),
    ("[[1, 2], [3, -Infinity]]", "inputs[0] ('x').data[1][1]: -Infinity is not valid JSON"),
    ("[1, 2, 3, 1e999]", "inputs[0] ('x').data: value inf at index [0, 3] is outside the range of FP32"),
    ("[1, 2, 3e38, 4e38]", "inputs[0] ('x').data: value 4e+38 at index [0, 3] is outside the range of FP32"),
    (f"[1, 2, 3, {2**2000}]", "inputs[0] ('x').data: value 114813069527... (603 digits) at index [0, 3] is outside"),
])
def test_json_numbers_are_strict_and_finite(data, needle):
    assert needle in refused(raw_x(data, (2, 2) if data.startswith("[[") else (1, 4)))


@pytest.mark.parametrize("data, needle", [
    ([2**70], "inputs[1] ('ids').data: value 1180591620717411303424 at index [0, 0] is outside the range of INT64"),
    ([-1, 2**64 - 1], "inputs[1] ('ids').data: value 18446744073709551615 at index [0, 1] is outside the range"),
])
def test_whole_numbers_past_the_datatype_are_out_of_range_not_of_the_wrong_kind(data, needle):
    assert needle in refused(body([x((1, 4)), ids((1, len(data)), data)]))


def test_whole_numbers_past_int64_are_fine_as_floats():
    req = decode(body([x((1, 4), [1, 2, 3, 2**70]), ids((1, 1))]), None, SIG)
    assert req.inputs["x"][0, 3] == np.float32(2**70)


def test_non_json_literals_are_refused_anywhere():
    assert refused(body([x(), ids()])[:-1] + b',"parameters":{"priority":Infinity}}') == (
        "parameters.priority: Infinity is not valid JSON; JSON tensor data holds finite numbers only "
        "(send non-finite values as binary tensor data)")


def test_declared_range_names_input_index_and_value():
    assert _refused_with(RANGED, raw_x("[0.5, -1, 1.5, 2]")) == "inputs[0] ('x').data: value 2.0 at index [0, 3] is outside the declared range [-1, 1.5]"
    decode(raw_x("[0.5, -1, 1.5, 1]"), None, RANGED)  # the bounds themselves are inside


def test_declared_range_refuses_nan_in_binary_tensors():
    xs = np.array([[0.5, np.nan, 0, 0]], np.float32)
    head = json.dumps({"inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 4], "parameters": {"binary_data_size": 16}},
        ids((1, 1))]}).encode()
    assert _refused_with(RANGED, head + xs.tobytes(), str(len(head))).startswith(
        "inputs[0] ('x').data: value nan at index [0, 1] is outside the declared range")


def _refused_with(sig: Signature, payload: bytes, header: str | None = None) -> str:
    with pytest.raises(InferError) as info:
        decode(payload, header, sig)
    assert info.value.status == 400
    return info.value.message


@pytest.mark.parametrize("payload, needle", [
    (body([x((2, 4)), ids((2, 0), [])]), "inputs[1] ('ids').shape: dim 1 (seq) is 0; every dim must be at least 1"),
    (body([x((0, 4), []), ids((0, 3), [])]), "inputs[0] ('x').shape: dim 0 (batch) is 0"),
    (body([x((2, 4)), ids((1, 3))]), "inputs[1] ('ids').shape: dim 0 (batch) is 1, but inputs[0] ('x') has batch = 2"),
])
def test_shapes_name_the_dim_at_fault(payload, needle):
    assert needle in refused(payload)


def test_non_finite_outputs_are_strict_json_strings():
    from compiler.runtime.protocol import InferRequest

    outs = {"y": np.array([[np.nan, np.inf, -np.inf, 0.25]], np.float32), "s": np.array([np.inf], np.float64)}
    req = InferRequest(inputs={}, outputs=("y", "s"), binary_outputs=frozenset())
    content, _ = encode(req, outs, "m", "1")
    doc = json.loads(content, parse_constant=pytest.fail)
    assert doc["outputs"][0]["data"] == ["NaN", "Infinity", "-Infinity", 0.25]
    assert doc["outputs"][1]["data"] == ["Infinity"]
