"""The runtime over gRPC: tritonclient.grpc gets tritonclient.http's answers from the same server,
grpc.health.v1 follows readiness and drain, bad requests get the mapped status codes and count
as client errors, and SIGTERM loses no gRPC call.

The server runs in a subprocess (helpers.Server): this process imports tritonclient.grpc, whose
messages share the proto package `inference` with the runtime's.
"""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

from .helpers import MODEL, Server, metric_value, toy_config
from .text_model import text_config

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("grpc"), toy_config(), grpc_port=True)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _clients(server: Server):
    return (grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}"),
            httpclient.InferenceServerClient(url=server.url, network_timeout=30))


def _feed(rows: int, seq: int, seed: int):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((rows, 4)).astype(np.float32),
            "ids": rng.integers(0, 50, (rows, seq)).astype(np.int64)}


def _inputs(module, feed: dict):
    out = []
    for name, arr in feed.items():
        item = module.InferInput(name, list(arr.shape), "FP32" if arr.dtype == np.float32 else "INT64")
        item.set_data_from_numpy(arr)
        out.append(item)
    return out


def _health(server: Server, service: str) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_grpc_answers_equal_http(srv):
    g, h = _clients(srv)
    assert g.is_server_live() and g.is_server_ready() and g.is_model_ready(MODEL) and g.is_model_ready(MODEL, "1")
    meta, hmeta = g.get_model_metadata(MODEL, as_json=True), h.get_model_metadata(MODEL)
    assert meta["name"] == hmeta["name"] and meta["platform"] == hmeta["platform"]
    assert [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in meta["inputs"]] == \
        [(t["name"], t["datatype"], t["shape"]) for t in hmeta["inputs"]]
    assert "binary_tensor_data" in g.get_server_metadata(as_json=True)["extensions"]
    for rows, seq, seed in ((1, 3, 0), (5, 7, 1), (8, 2, 2)):
        feed = _feed(rows, seq, seed)
        got = g.infer(MODEL, _inputs(grpcclient, feed), request_id=f"r{seed}")
        want = h.infer(MODEL, _inputs(httpclient, feed))
        for name in ("y", "s"):
            assert got.as_numpy(name).tobytes() == want.as_numpy(name).tobytes()
        assert got.get_response().id == f"r{seed}" and got.get_response().model_version == "1"
    sub = g.infer(MODEL, _inputs(grpcclient, _feed(2, 3, 4)), outputs=[grpcclient.InferRequestedOutput("s")])
    assert [o.name for o in sub.get_response().outputs] == ["s"]


def test_health_serving_once_ready(srv):
    # Health follows readiness on the server's 0.1 s tick: allow a few ticks after HTTP says ready.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and _health(srv, "") != SERVING:
        time.sleep(0.05)
    assert _health(srv, "") == SERVING
    assert _health(srv, "inference.GRPCInferenceService") == SERVING
    assert _health(srv, "live") == SERVING


def _raw_call(server: Server, request: service_pb2.ModelInferRequest) -> grpc.RpcError:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                   request_serializer=service_pb2.ModelInferRequest.SerializeToString,
                                   response_deserializer=service_pb2.ModelInferResponse.FromString)
        try:
            return call(request, timeout=10)
        except grpc.RpcError as exc:
            return exc


def test_typed_contents_answer_like_raw(srv):
    feed = _feed(2, 3, 5)
    req = service_pb2.ModelInferRequest(model_name=MODEL)
    req.inputs.add(name="x", datatype="FP32", shape=[2, 4]).contents.fp32_contents.extend(feed["x"].ravel().tolist())
    req.inputs.add(name="ids", datatype="INT64", shape=[2, 3]).contents.int64_contents.extend(feed["ids"].ravel().tolist())
    got = _raw_call(srv, req)
    g, _ = _clients(srv)
    want = g.infer(MODEL, _inputs(grpcclient, feed))
    assert got.raw_output_contents[0] == want.as_numpy("y").tobytes()


def _typed_int32_for_fp32() -> service_pb2.ModelInferRequest:
    req = service_pb2.ModelInferRequest(model_name=MODEL)
    req.inputs.add(name="x", datatype="FP32", shape=[1, 4]).contents.int_contents.extend([1, 2, 3, 4])
    req.inputs.add(name="ids", datatype="INT64", shape=[1, 1]).contents.int64_contents.append(1)
    return req


def _one_raw_for_two_inputs() -> service_pb2.ModelInferRequest:
    req = service_pb2.ModelInferRequest(model_name=MODEL)
    req.inputs.add(name="x", datatype="FP32", shape=[1, 4])
    req.inputs.add(name="ids", datatype="INT64", shape=[1, 1])
    req.raw_input_contents.append(np.zeros(4, np.float32).tobytes())
    return req


def test_bad_requests_get_codes_and_count_as_client_errors(srv):
    g, _ = _clients(srv)
    before = metric_value(srv.metrics_text(), "deployc_requests_total", {"outcome": "client_error"})
    bad_dtype = grpcclient.InferInput("x", [1, 4], "FP64")
    bad_dtype.set_data_from_numpy(np.zeros((1, 4), np.float64))
    ids = _inputs(grpcclient, {"ids": np.ones((1, 2), np.int64)})
    cases = [  # (call, code, words the message must hold)
        (lambda: g.infer(MODEL, [bad_dtype] + ids), "StatusCode.INVALID_ARGUMENT", "inputs[0] ('x').datatype"),
        (lambda: g.infer("other", _inputs(grpcclient, _feed(1, 2, 0))), "StatusCode.NOT_FOUND", "'other' not found"),
        (lambda: g.infer(MODEL, _inputs(grpcclient, _feed(1, 2, 0)), model_version="7"),
         "StatusCode.NOT_FOUND", "no version '7'"),
        (lambda: g.infer(MODEL, _inputs(grpcclient, _feed(8, 4000, 0))), "StatusCode.RESOURCE_EXHAUSTED", ""),
        (lambda: g.infer(MODEL, _inputs(grpcclient, _feed(9, 2, 0))), "StatusCode.INVALID_ARGUMENT", "max_batch_size"),
    ]
    for call, code, words in cases:
        with pytest.raises(InferenceServerException) as info:
            call()
        assert info.value.status() == code and words in info.value.message(), info.value
    for req, words in ((_typed_int32_for_fp32(), "takes only fp32_contents"),
                       (_one_raw_for_two_inputs(), "raw_input_contents: 1 entries")):
        err = _raw_call(srv, req)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and words in err.details(), err
    with pytest.raises(InferenceServerException, match="not found"):
        g.get_model_metadata("other")
    text = srv.metrics_text()
    assert metric_value(text, "deployc_requests_total", {"outcome": "client_error"}) - before == len(cases) + 2
    assert metric_value(text, "deployc_requests_total", {"outcome": "server_error"}) == 0


def test_text_over_grpc(tmp_path, artifact):
    folder, vocab = artifact
    (tmp_path / "root" / "model").mkdir(parents=True)
    (tmp_path / "root" / "model" / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes())
    server = Server(tmp_path, text_config(vocab), (folder / "model.onnx").read_bytes(), grpc_port=True)
    try:
        server.wait_ready()
        g, h = _clients(server)
        texts = np.array(["The cat sat on the mat.", "Short.", "Über naïve café"], dtype=object)
        gi, hi = grpcclient.InferInput("text", [3], "BYTES"), httpclient.InferInput("text", [3], "BYTES")
        gi.set_data_from_numpy(texts)
        hi.set_data_from_numpy(texts)
        got, want = g.infer(MODEL, [gi]).as_numpy("embedding"), h.infer(MODEL, [hi]).as_numpy("embedding")
        assert got.shape == want.shape and np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        bad = grpcclient.InferInput("text", [1], "BYTES")
        bad.set_data_from_numpy(np.array([b"\xff\xfe"], dtype=object))
        with pytest.raises(InferenceServerException, match="not valid UTF-8") as info:
            g.infer(MODEL, [bad])
        assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    finally:
        server.stop()


def test_sigterm_drains_grpc_calls(tmp_path):
    server = Server(tmp_path, toy_config(max_batch_size=16, drain_seconds=15), grpc_port=True)
    server.wait_ready()
    stop, results, lost = threading.Event(), [], []

    def client() -> None:
        g = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
        while not stop.is_set():
            try:
                g.infer(MODEL, _inputs(grpcclient, _feed(1, 2, 0)))
                results.append(1)
            except InferenceServerException as exc:
                if exc.status() != "StatusCode.UNAVAILABLE":  # the listener closed: the call never started
                    lost.append(str(exc))
                return

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    server.proc.send_signal(15)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _health(server, "") != NOT_SERVING:
        time.sleep(0.05)
    assert _health(server, "") == NOT_SERVING and _health(server, "live") == SERVING
    stop.set()
    for t in threads:
        t.join(30)
    assert server.proc.wait(30) == 0, server.log.read_text()
    assert results and not lost, lost[:3]
