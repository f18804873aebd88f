"""The real server against the real tritonclient.http client, compared with onnxruntime."""

from __future__ import annotations

import gzip

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from .helpers import MODEL


@pytest.fixture(scope="module")
def client(server):
    c = httpclient.InferenceServerClient(url=server.url, connection_timeout=30, network_timeout=30)
    yield c
    c.close()


@pytest.fixture(scope="module")
def session(server):
    return ort.InferenceSession(str(server.root / "model" / "model.onnx"), providers=["CPUExecutionProvider"])


def _inputs(rows: int, seq: int, binary: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((rows, 4)).astype(np.float32)
    ids = rng.integers(0, 50, (rows, seq)).astype(np.int64)
    a = httpclient.InferInput("x", list(xs.shape), "FP32")
    a.set_data_from_numpy(xs, binary_data=binary)
    b = httpclient.InferInput("ids", list(ids.shape), "INT64")
    b.set_data_from_numpy(ids, binary_data=binary)
    return [a, b], {"x": xs, "ids": ids}


def test_health_and_metadata(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, "1")
    assert not client.is_model_ready("other")
    server_meta = client.get_server_metadata()
    assert "binary_tensor_data" in server_meta["extensions"]
    meta = client.get_model_metadata(MODEL)
    assert meta["name"] == MODEL and meta["versions"] == ["1"] and meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]},
                              {"name": "ids", "datatype": "INT64", "shape": [-1, -1]}]
    assert client.get_model_metadata(MODEL, "1") == meta
    with pytest.raises(InferenceServerException, match="not found"):
        client.get_model_metadata("other")


@pytest.mark.parametrize("binary_in", [False, True])
@pytest.mark.parametrize("binary_out", [False, True, None])
def test_infer_equals_onnxruntime(client, session, binary_in, binary_out):
    inputs, feed = _inputs(3, 5, binary_in)
    outputs = None if binary_out is None else [httpclient.InferRequestedOutput(n, binary_data=binary_out)
                                              for n in ("y", "s")]
    result = client.infer(MODEL, inputs, outputs=outputs, request_id="r-1")
    want_y, want_s = session.run(["y", "s"], feed)
    np.testing.assert_allclose(result.as_numpy("y"), want_y, rtol=1e-6)
    np.testing.assert_allclose(result.as_numpy("s"), want_s, rtol=1e-6)
    response = result.get_response()
    assert response["id"] == "r-1" and response["model_name"] == MODEL and response["model_version"] == "1"


def test_output_subset_version_path_and_compression(client, session):
    inputs, feed = _inputs(2, 4, True, seed=3)
    result = client.infer(MODEL, inputs, model_version="1", outputs=[httpclient.InferRequestedOutput("s")],
                          request_compression_algorithm="gzip")
    assert [o["name"] for o in result.get_response()["outputs"]] == ["s"]
    np.testing.assert_allclose(result.as_numpy("s"), session.run(["s"], feed)[0], rtol=1e-6)
    with pytest.raises(InferenceServerException, match="no version '7'"):
        client.infer(MODEL, inputs, model_version="7")


def test_server_errors_come_back_as_protocol_errors(client):
    xs = httpclient.InferInput("x", [1, 4], "FP64")
    xs.set_data_from_numpy(np.zeros((1, 4), np.float64))
    ids = httpclient.InferInput("ids", [1, 2], "INT64")
    ids.set_data_from_numpy(np.zeros((1, 2), np.int64))
    with pytest.raises(InferenceServerException, match=r"inputs\[0\] \('x'\).datatype: expected FP32"):
        client.infer(MODEL, [xs, ids])


def test_concurrent_requests_of_mixed_shapes_are_never_mixed(server, session):
    """Different sequence lengths batch separately; every response matches its own request."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int):
        c = httpclient.InferenceServerClient(url=server.url)
        try:
            inputs, feed = _inputs(1 + i % 3, 2 + i % 4, i % 2 == 0, seed=i)
            got = c.infer(MODEL, inputs)
            return got.as_numpy("s"), session.run(["s"], feed)[0]
        finally:
            c.close()

    with ThreadPoolExecutor(16) as pool:
        for got, want in pool.map(one, range(96)):
            np.testing.assert_allclose(got, want, rtol=1e-6)


def test_gzip_body_is_inflated(server):
    import json

    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
                      {"name": "ids", "datatype": "INT64", "shape": [1, 2], "data": [5, 6]}]}
    status, _, body = server.request("POST", f"/v2/models/{MODEL}/infer", gzip.compress(json.dumps(doc).encode()),
                                     {"Content-Encoding": "gzip"})
    assert status == 200 and json.loads(body)["outputs"][1]["data"] == [11.0]


def test_non_finite_outputs_reach_tritonclient_through_strict_json(client, server):
    """Binary inputs may hold NaN and Infinity (no declared range here); the JSON response
    carries the outputs as the strings "NaN"/"Infinity", which tritonclient reads back."""
    xs = np.array([[np.nan, 0, 0, 0], [np.inf, 0, 0, 0]], np.float32)
    a = httpclient.InferInput("x", [2, 4], "FP32")
    a.set_data_from_numpy(xs, binary_data=True)
    b = httpclient.InferInput("ids", [2, 1], "INT64")
    b.set_data_from_numpy(np.ones((2, 1), np.int64), binary_data=True)
    result = client.infer(MODEL, [a, b], outputs=[httpclient.InferRequestedOutput("y", binary_data=False)])
    y = result.as_numpy("y")
    assert np.isnan(y[0]).all() and np.isinf(y[1]).any()
    raw = result.get_response()["outputs"][0]["data"]
    assert "NaN" in raw and all(isinstance(v, (str, float)) for v in raw)
