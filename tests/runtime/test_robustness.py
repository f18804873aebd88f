"""Timeouts, the concurrency limit, a model that fails to load, and a model that fails to run."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time

import onnx
from onnx import TensorProto, helper, numpy_helper

import numpy as np

from compiler.runtime.config import TensorInfo
from .helpers import MODEL, Server, metric_value, toy_config

INFER = f"/v2/models/{MODEL}/infer"
DOC = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
                  {"name": "ids", "datatype": "INT64", "shape": [1, 2], "data": [5, 6]}]}


def half_request(port: int) -> http.client.HTTPConnection:
    """A request whose body never finishes arriving: in flight, holding a slot."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.putrequest("POST", INFER)
    conn.putheader("Content-Length", "1000")
    conn.endheaders(b'{"inputs": [')
    time.sleep(0.2)
    return conn


def test_timeouts_and_concurrency_limit(tmp_path):
    srv = Server(tmp_path, toy_config(request_timeout_s=1.0, max_queue_delay_ms=5000, max_concurrency=2))
    try:
        srv.wait_ready()
        slow = half_request(srv.port)  # makes the batcher wait for company, and holds 1 of 2 slots
        results: dict = {}

        def queued() -> None:
            # The client's own `timeout` parameter (microseconds) is honoured below the server's.
            start = time.monotonic()
            results["queued"] = (*srv.post_json(INFER, {**DOC, "parameters": {"timeout": 300_000}}),
                                 time.monotonic() - start)

        t = threading.Thread(target=queued)
        t.start()
        time.sleep(0.1)
        status, body = srv.post_json(INFER, DOC)  # a third request: over max_concurrency=2
        assert status == 503 and "over max_concurrency (2 requests in flight)" in body["error"]
        t.join(10)
        status, body, took = results["queued"]
        assert status == 504 and "longer than its timeout (0.3 s)" in body["error"], body
        assert 0.25 < took < 0.9
        # The half-read request: its body did not come within request_timeout_s, the client's
        # fault (a 408, client_error), not the server's timeout (test_slow_clients has more).
        resp = slow.getresponse()
        assert resp.status == 408 and "(1.0 s)" in json.loads(resp.read())["error"]
        slow.close()
        text = srv.metrics_text()
        assert metric_value(text, "deployc_requests_total", {"outcome": "rejected"}) == 1
        assert metric_value(text, "deployc_requests_total", {"outcome": "timeout"}) == 1
        assert metric_value(text, "deployc_requests_total", {"outcome": "client_error"}) == 1
        # Nothing stuck: the next request runs at once (no other request is coming, so no wait).
        start = time.monotonic()
        assert srv.post_json(INFER, DOC)[0] == 200
        assert time.monotonic() - start < 0.5
    finally:
        assert srv.terminate() == 0


def test_model_that_fails_to_load(tmp_path):
    srv = Server(tmp_path, toy_config(), model_bytes=b"this is not an onnx model")
    try:
        srv.wait_live()
        time.sleep(1.5)  # first attempt and one retry
        status, _, body = srv.request("GET", "/v2/health/ready")
        assert status == 503 and "failed to load" in json.loads(body)["reason"]
        assert srv.request("GET", f"/v2/models/{MODEL}/ready")[0] == 503
        status, body = srv.post_json(INFER, DOC)
        assert status == 503 and "not ready" in body["error"] and "onnxruntime could not load" in body["error"]
        text = srv.metrics_text()
        assert metric_value(text, "deployc_model_load_failures_total") >= 1
        assert metric_value(text, "deployc_model_ready") == 0
    finally:
        assert srv.terminate() == 0


def test_config_that_does_not_match_the_model(tmp_path):
    config = toy_config(inputs=[TensorInfo("pixels", "FP32", [-1, 4], ["batch", None], None),
                                        TensorInfo("ids", "INT64", [-1, -1], ["batch", "seq"], None)])
    srv = Server(tmp_path, config)
    try:
        srv.wait_live()
        time.sleep(0.5)
        status, _, body = srv.request("GET", "/v2/health/ready")
        assert status == 503 and "runtime.json inputs ['ids', 'pixels'] do not match the model's ['ids', 'x']" in \
            json.loads(body)["reason"]
    finally:
        srv.terminate()


def _reshape_model() -> bytes:
    """Runs for batch 1 only: Reshape to a fixed [1, 4] fails inside onnxruntime for other batches."""
    shape = numpy_helper.from_array(np.array([1, 4], np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "fixed",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_unexpected_backend_failure_is_a_500_with_an_error_id(tmp_path):
    config = toy_config(batching=False, inputs=[TensorInfo("x", "FP32", [-1, 4], ["batch", None], None)],
                        outputs=[TensorInfo("y", "FP32", [-1, 4], ["batch", None], None)], drift={})
    srv = Server(tmp_path, config, model_bytes=_reshape_model())
    try:
        srv.wait_ready()
        one = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
        assert srv.post_json(INFER, one)[0] == 200
        two = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4], "data": [0] * 8}]}
        status, body = srv.post_json(INFER, two)
        assert status == 500
        error_id = re.search(r"error id ([0-9a-f]{12})", body["error"]).group(1)
        assert srv.post_json(INFER, one)[0] == 200  # still serving
        assert metric_value(srv.metrics_text(), "deployc_requests_total", {"outcome": "server_error"}) == 1
    finally:
        assert srv.terminate() == 0
    log = srv.log.read_text()
    assert f"error id {error_id}" in log and "Traceback" in log
    onnx.load_from_string(_reshape_model())  # the model itself is valid
