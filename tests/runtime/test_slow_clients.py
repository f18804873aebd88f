"""The time a client takes to send its request is the client's: a body (or gRPC message) that
does not arrive within request_timeout_s is a 408 counted as `client_error`, a client that
leaves mid-body is the client's too, and request_timeout_s for the server's own work (decode,
queue, inference) starts once the body is in, keeping its 504 and `timeout` outcome.

Availability alerts and canary analysis count outcome=~"server_error|timeout": one stalled
client must not page anyone nor roll a canary back.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import grpc
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.runtime.config import TensorInfo
from .helpers import MODEL, Server, metric_value, toy_config

INFER = f"/v2/models/{MODEL}/infer"
TIMEOUT_S = 0.5
GRPC_INFER = "/inference.GRPCInferenceService/ModelInfer"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("slow"), toy_config(request_timeout_s=TIMEOUT_S),
                    metrics_port=True, grpc_port=True)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def outcomes(server: Server) -> dict[str, float]:
    text = server.metrics_text(server.metrics_port)
    return {o: metric_value(text, "deployc_requests_total", {"outcome": o})
            for o in ("success", "client_error", "timeout", "server_error", "rejected")}


def wait_outcome(server: Server, before: dict, outcome: str, timeout: float = 5.0) -> dict:
    """The counters once `outcome` went up (the server counts after the client has gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = outcomes(server)
        if now[outcome] > before[outcome]:
            return now
        time.sleep(0.05)
    raise AssertionError(f"{outcome} never counted: {outcomes(server)}")


def stalled(port: int, path: str) -> socket.socket:
    """A raw request that declares 100 bytes of body and sends 10 of them."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 100\r\n\r\n{\"inputs\":".encode())
    return sock


def read_response(sock: socket.socket) -> tuple[str, dict, bytes]:
    """Status line, headers and body (Content-Length long) of one response."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"\r\n\r\n"  # closed before any answer: an empty status
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(65536)
    return lines[0], headers, body


@pytest.mark.parametrize("path", [INFER, "/v1/embeddings"])
def test_a_body_that_never_arrives_is_a_408_counted_as_the_clients(srv, path):
    before = outcomes(srv)
    sock = stalled(srv.port, path)
    start = time.monotonic()
    try:
        status, headers, body = read_response(sock)
        assert sock.recv(1) == b""  # and the server has closed the connection
    finally:
        sock.close()
    took = time.monotonic() - start
    assert status == "HTTP/1.1 408 Request Timeout", (status, body)
    assert TIMEOUT_S * 0.8 < took < TIMEOUT_S + 3
    assert headers["connection"] == "close"  # the rest of the body may still come: never reuse
    doc = json.loads(body)
    message = doc["error"] if path == INFER else doc["error"]["message"]
    assert f"did not arrive within request_timeout_s ({TIMEOUT_S} s)" in message
    if path != INFER:
        assert doc["error"]["type"] == "invalid_request_error"
    after = wait_outcome(srv, before, "client_error")
    assert after["client_error"] == before["client_error"] + 1
    assert after["timeout"] == before["timeout"] and after["server_error"] == before["server_error"]


def test_a_client_that_leaves_mid_body_is_not_a_server_failure(srv):
    before = outcomes(srv)
    stalled(srv.port, INFER).close()
    after = wait_outcome(srv, before, "client_error")
    assert after["timeout"] == before["timeout"] and after["server_error"] == before["server_error"]
    time.sleep(TIMEOUT_S + 0.2)  # nor does it turn into a timeout later
    assert outcomes(srv) == after


def test_a_grpc_message_that_never_arrives_is_the_clients(srv):
    """A client-streamed ModelInfer that sends no message: the client's error, not a timeout."""
    before = outcomes(srv)
    release = threading.Event()

    def never():
        release.wait(30)
        return
        yield  # a generator that sends nothing until released

    with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as channel:
        call = channel.stream_unary(GRPC_INFER, request_serializer=bytes, response_deserializer=bytes)
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            call(never(), timeout=20)
        release.set()
    assert time.monotonic() - start < TIMEOUT_S + 3
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    assert f"did not arrive within request_timeout_s ({TIMEOUT_S} s)" in info.value.details()
    after = wait_outcome(srv, before, "client_error")
    assert after["timeout"] == before["timeout"] and after["server_error"] == before["server_error"]


def test_the_clients_own_grpc_deadline_is_not_our_timeout(srv):
    before = outcomes(srv)
    release = threading.Event()

    def never():
        release.wait(30)
        return
        yield

    with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as channel:
        call = channel.stream_unary(GRPC_INFER, request_serializer=bytes, response_deserializer=bytes)
        with pytest.raises(grpc.RpcError) as info:
            call(never(), timeout=TIMEOUT_S / 5)
        release.set()
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(TIMEOUT_S + 0.3)
    after = outcomes(srv)
    assert after["timeout"] == before["timeout"] and after["server_error"] == before["server_error"]


def slow_onnx() -> bytes:
    """y = sin applied round(max(x)) times to x (an ONNX Loop): as slow as the request asks."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Sin", ["v"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, ["batch", 4])])
    nodes = [helper.make_node("ReduceMax", ["x"], ["top"], keepdims=0),
             helper.make_node("Cast", ["top"], ["n"], to=TensorProto.INT64),
             helper.make_node("Loop", ["n", "", "x"], ["y"], body=body)]
    graph = helper.make_graph(nodes, "slow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def x_doc(first: float) -> dict:
    return {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [first, 0, 0, 0]}]}


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    """A server of slow_onnx, and the loop count that takes about 1 s here."""
    config = toy_config(request_timeout_s=TIMEOUT_S, drift={},
                        inputs=[TensorInfo("x", "FP32", [-1, 4], ["batch", None], None)],
                        outputs=[TensorInfo("y", "FP32", [-1, 4], ["batch", None], None)])
    server = Server(tmp_path_factory.mktemp("slow-model"), config, model_bytes=slow_onnx())
    try:
        server.wait_ready()
        status, doc = server.post_json(INFER, x_doc(3))
        assert status == 200 and np.isclose(doc["outputs"][0]["data"][0], np.sin(np.sin(np.sin(3.0))))
        probe = 20_000
        start = time.monotonic()
        assert server.post_json(INFER, x_doc(probe))[0] == 200
        yield server, int(probe / max(time.monotonic() - start, 1e-3))
    finally:
        server.stop()


def test_a_slow_body_then_the_server_gets_its_own_full_timeout(slow):
    """A body sent in 0.6 of the timeout, then work that takes about 0.6 of it: the sum is over
    request_timeout_s, each part within it, so it succeeds."""
    srv, per_second = slow
    body = json.dumps(x_doc(int(per_second * TIMEOUT_S * 0.6)))
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        sock.sendall(f"POST {INFER} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n{body[:10]}".encode())
        time.sleep(TIMEOUT_S * 0.6)
        sock.sendall(body[10:].encode())
        status, _, answer = read_response(sock)
    finally:
        sock.close()
    assert status == "HTTP/1.1 200 OK", answer


def test_a_genuinely_slow_model_is_still_a_504_timeout(slow):
    srv, per_second = slow
    before = outcomes(srv)
    start = time.monotonic()
    status, doc = srv.post_json(INFER, x_doc(int(per_second * TIMEOUT_S * 4)))
    assert time.monotonic() - start < TIMEOUT_S + 2
    assert status == 504 and f"longer than its timeout ({TIMEOUT_S} s)" in doc["error"], doc
    after = outcomes(srv)
    assert after["timeout"] == before["timeout"] + 1 and after["client_error"] == before["client_error"]
