"""SIGTERM: readiness goes false at once, in-flight and queued requests finish, exit code 0."""

from __future__ import annotations

import http.client
import json
import threading
import time

from .helpers import MODEL, Server, metric_value, toy_config

INFER = f"/v2/models/{MODEL}/infer"
DOC = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
                             {"name": "ids", "datatype": "INT64", "shape": [1, 2], "data": [5, 6]}]}).encode()


class Client(threading.Thread):
    """Keep-alive client sending until the server says `Connection: close` (or refuses a new
    connection). Anything else that is not a 200 is a lost request."""

    def __init__(self, port: int, stop: threading.Event) -> None:
        super().__init__()
        self.port, self.stop_event = port, stop
        self.ok, self.closed_by_server, self.lost = 0, False, []

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.connect()
        except ConnectionRefusedError:
            return  # never accepted: nothing lost
        try:
            while not self.stop_event.is_set():
                conn.request("POST", INFER, DOC, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    self.lost.append(f"{resp.status} {body[:200]!r}")
                self.ok += resp.status == 200
                if resp.getheader("connection") == "close":
                    self.closed_by_server = True
                    return
        except Exception as exc:
            self.lost.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()


def test_sigterm_during_load_loses_nothing(tmp_path):
    srv = Server(tmp_path, toy_config(max_batch_size=16, drain_seconds=15))
    srv.wait_ready()
    stop = threading.Event()
    clients = [Client(srv.port, stop) for _ in range(64)]
    for c in clients:
        c.start()
    time.sleep(1.0)
    sent_at = time.monotonic()
    srv.proc.send_signal(15)
    # Readiness flips at once (the listener stays open during the drain, so probes get an answer).
    status = None
    while time.monotonic() - sent_at < 2:
        try:
            status = srv.request("GET", "/v2/health/ready")[0]
        except OSError:
            break
        if status == 503:
            break
    try:
        code = srv.proc.wait(30)
    finally:
        stop.set()
        for c in clients:
            c.join(30)
        srv.stop()
    assert status == 503, f"readiness did not go false after SIGTERM: {status}"
    assert code == 0, srv.log.read_text()
    assert [lost for c in clients for lost in c.lost] == []
    assert sum(c.ok for c in clients) > 64
    assert all(c.closed_by_server for c in clients), "a client was never told to close"
    log = srv.log.read_text()
    assert "draining" in log and "drained; shutting down" in log


def test_sigterm_waits_for_queued_and_half_read_requests(tmp_path):
    """A request still uploading its body and one waiting in the batch queue both finish."""
    srv = Server(tmp_path, toy_config(max_queue_delay_ms=1500, drain_seconds=15))
    srv.wait_ready()
    slow = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    slow.putrequest("POST", INFER)
    slow.putheader("Content-Type", "application/json")
    slow.putheader("Content-Length", str(len(DOC)))
    slow.endheaders(DOC[:20])  # the rest comes after SIGTERM
    time.sleep(0.2)
    queued: dict = {}

    def send_queued() -> None:
        queued["status"], queued["headers"], queued["body"] = srv.request("POST", INFER, DOC)

    t = threading.Thread(target=send_queued)
    t.start()
    time.sleep(0.3)  # queued: the batcher waits for the half-read request to join
    srv.proc.send_signal(15)
    time.sleep(0.3)
    assert srv.request("GET", "/v2/health/ready")[0] == 503
    assert srv.proc.poll() is None, "exited with requests in flight"
    slow.send(DOC[20:])
    resp = slow.getresponse()
    assert resp.status == 200 and resp.getheader("connection") == "close"
    assert json.loads(resp.read())["outputs"][1]["data"] == [11.0]
    t.join(30)
    assert queued["status"] == 200, queued
    assert srv.proc.wait(30) == 0, srv.log.read_text()
    slow.close()


def test_sigterm_when_idle_exits_quickly_and_drain_is_bounded(tmp_path):
    srv = Server(tmp_path / "idle", toy_config())
    srv.wait_ready()
    start = time.monotonic()
    assert srv.terminate() == 0
    assert time.monotonic() - start < 3
    # A request that never finishes uploading cannot hold the pod past drain_seconds.
    srv = Server(tmp_path / "stuck", toy_config(drain_seconds=2))
    srv.wait_ready()
    stuck = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    stuck.putrequest("POST", INFER)
    stuck.putheader("Content-Length", str(len(DOC)))
    stuck.endheaders(DOC[:10])
    time.sleep(0.2)
    assert metric_value(srv.metrics_text(), "deployc_inflight_requests") == 1
    start = time.monotonic()
    code = srv.terminate(timeout=20)
    took = time.monotonic() - start
    stuck.close()
    assert code == 0, srv.log.read_text()
    assert 2 <= took < 6, took
    assert "drain_seconds passed with 1 requests in flight" in srv.log.read_text()
