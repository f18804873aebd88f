"""A request's bad values are the client's error: 400, counted as client_error, never a 500.

A real ONNX embedding model served by the real runtime: an id past the table fails inside
onnxruntime itself (no declared range), and must still be a 400 that does not feed the
availability alerts or the canary's error ratio.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from .helpers import MODEL, Server, embedding_config, embedding_onnx, metric_value

INFER = f"/v2/models/{MODEL}/infer"


def doc(tokens: list[list[int]], mask: list[list[int]] | None = None) -> dict:
    mask = [[1] * len(row) for row in tokens] if mask is None else mask
    return {"inputs": [
        {"name": "tokens", "datatype": "INT64", "shape": [len(tokens), len(tokens[0])], "data": tokens},
        {"name": "mask", "datatype": "INT64", "shape": [len(mask), len(mask[0])], "data": mask}]}


def want(tokens: list[list[int]]) -> np.ndarray:
    table = np.arange(400, dtype=np.float32).reshape(100, 4)
    return table[np.asarray(tokens)].sum(axis=1)


def _serve(tmp_path_factory, name: str, **config) -> Server:
    tmp = tmp_path_factory.mktemp(name)
    embedding_onnx(tmp / "embedding.onnx")
    srv = Server(tmp, embedding_config(**config), (tmp / "embedding.onnx").read_bytes())
    srv.wait_ready()
    return srv


@pytest.fixture(scope="module")
def undeclared(tmp_path_factory):
    """No declared range: the backend is the one that finds the bad id."""
    srv = _serve(tmp_path_factory, "undeclared", max_queue_delay_ms=300.0)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def declared(tmp_path_factory):
    srv = _serve(tmp_path_factory, "declared", token_range=[0, 99])
    yield srv
    srv.stop()


def outcomes(srv: Server) -> dict[str, float]:
    text = srv.metrics_text()
    return {o: metric_value(text, "deployc_requests_total", {"outcome": o})
            for o in ("success", "client_error", "server_error")}


def test_an_id_past_the_table_is_a_client_error_from_the_backend(undeclared):
    before = outcomes(undeclared)
    status, body = undeclared.post_json(INFER, doc([[1, 100, 3]]))
    assert status == 400, body
    assert "inputs: the model cannot run on these values: Gather: indices element out of data bounds, idx=100" \
        in body["error"]
    status, body = undeclared.post_json(INFER, doc([[1, -101, 3]]))
    assert status == 400 and "idx=-101" in body["error"]
    after = outcomes(undeclared)
    assert after["client_error"] - before["client_error"] == 2
    assert after["server_error"] == before["server_error"] == 0
    status, body = undeclared.post_json(INFER, doc([[1, 2, 3]]))  # the server is fine afterwards
    assert status == 200 and body["outputs"][0]["data"] == want([[1, 2, 3]]).ravel().tolist()


def test_a_shape_the_spec_admits_but_the_model_refuses_is_a_server_error(tmp_path_factory):
    """A spec that gives the mask its own, unnamed dim admits tokens [1, 3] with mask [1, 4];
    the model cannot combine them (onnxruntime FAIL in Mul). The request kept to the declared
    signature, so the model and its spec disagree: a 500 that pages, not the client's 400."""
    from compiler.runtime.config import TensorInfo

    inputs = [TensorInfo(n, "INT64", [-1, -1], ["batch", None], None) for n in ("tokens", "mask")]
    srv = _serve(tmp_path_factory, "unnamed", inputs=inputs)
    try:
        status, body = srv.post_json(INFER, doc([[1, 2, 3]], [[1, 1, 1, 1]]))
        assert status == 500 and "error id" in body["error"], body
        assert outcomes(srv)["server_error"] == 1
    finally:
        srv.stop()


def test_one_bad_request_does_not_fail_the_batch_it_shares(undeclared):
    """Requests sent together are batched (300 ms queue delay); the bad one fails alone."""
    rows = [[[i, i + 1, i + 2]] for i in range(5)] + [[[1, 500, 2]]]
    got: dict[int, tuple[int, dict]] = {}
    start = threading.Barrier(len(rows))

    def send(i: int) -> None:
        start.wait()
        got[i] = undeclared.post_json(INFER, doc(rows[i]))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(rows))]
    batches_before = metric_value(undeclared.metrics_text(), "deployc_batch_size_count")
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i, tokens in enumerate(rows[:-1]):
        status, body = got[i]
        assert status == 200, body
        assert body["outputs"][0]["data"] == want(tokens).ravel().tolist()
    status, body = got[len(rows) - 1]
    assert status == 400 and "idx=500" in body["error"]
    # The six requests really shared batches (else this test proves nothing about batching).
    assert metric_value(undeclared.metrics_text(), "deployc_batch_size_count") - batches_before < len(rows)


def test_declared_range_is_checked_before_the_model(declared):
    status, body = declared.post_json(INFER, doc([[1, 2, 3], [4, 100, 6]]))
    assert status == 400
    assert body["error"] == ("inputs[0] ('tokens').data: value 100 at index [1, 1] is outside "
                             "the declared range [0, 99]")
    assert outcomes(declared)["server_error"] == 0


def test_declared_range_covers_binary_tensors(declared):
    tokens = np.array([[3, -1]], np.int64)
    head = json.dumps({"inputs": [
        {"name": "tokens", "datatype": "INT64", "shape": [1, 2], "parameters": {"binary_data_size": 16}},
        {"name": "mask", "datatype": "INT64", "shape": [1, 2], "data": [1, 1]}]}).encode()
    status, _, raw = declared.request("POST", INFER, head + tokens.tobytes(),
                                      {"Inference-Header-Content-Length": str(len(head))})
    assert status == 400
    assert "inputs[0] ('tokens').data: value -1 at index [0, 1] is outside the declared range" \
        in json.loads(raw)["error"]


def test_inputs_that_share_a_dim_must_agree_on_it(declared):
    status, body = declared.post_json(INFER, doc([[1, 2, 3]], [[1, 1, 1, 1]]))
    assert status == 400
    assert body["error"] == ("inputs[1] ('mask').shape: dim 1 (seq) is 4, but inputs[0] ('tokens') has seq = 3; "
                             "inputs that share the dim 'seq' must agree on its size")


def test_a_zero_length_dim_is_refused_for_that_reason(declared):
    status, body = declared.post_json(INFER, {"inputs": [
        {"name": "tokens", "datatype": "INT64", "shape": [1, 0], "data": []},
        {"name": "mask", "datatype": "INT64", "shape": [1, 0], "data": []}]})
    assert status == 400
    assert body["error"].startswith("inputs[0] ('tokens').shape: dim 1 (seq) is 0; every dim must be at least 1")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_literals_are_refused_naming_the_input(declared, literal):
    raw = json.dumps(doc([[1, 2, 3]])).replace("[[1, 1, 1]]", f"[[1, {literal}, 1]]").encode()
    status, _, body = declared.request("POST", INFER, raw, {"Content-Type": "application/json"})
    assert status == 400
    assert json.loads(body)["error"].startswith(f"inputs[1] ('mask').data[0][1]: {literal} is not valid JSON")
