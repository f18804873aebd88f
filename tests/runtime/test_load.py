"""64 concurrent clients: nothing fails, every answer is the caller's own, and batching batches."""

from __future__ import annotations

import http.client
import json
import threading

import numpy as np
import pytest

from .helpers import MODEL, Server, metric_value, toy_config

CLIENTS, PER_CLIENT = 64, 15


def hammer(port: int, clients: int = CLIENTS, per_client: int = PER_CLIENT) -> list[str]:
    """Each client sends its own ids and checks it gets its own sums back; returns the failures."""
    failures: list[str] = []
    start = threading.Barrier(clients)

    def client(i: int) -> None:
        rng = np.random.default_rng(i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        try:
            for _ in range(per_client):
                rows, seq = int(rng.integers(1, 4)), int(rng.integers(1, 5))
                ids = rng.integers(0, 100, (rows, seq))
                doc = {"inputs": [
                    {"name": "x", "datatype": "FP32", "shape": [rows, 4], "data": [0.5] * (rows * 4)},
                    {"name": "ids", "datatype": "INT64", "shape": [rows, seq], "data": ids.ravel().tolist()}]}
                conn.request("POST", f"/v2/models/{MODEL}/infer", json.dumps(doc), {"Content-Type": "application/json"})
                resp = conn.getresponse()
                body = json.loads(resp.read())
                if resp.status != 200:
                    failures.append(f"client {i}: {resp.status} {body}")
                    continue
                sums = next(o["data"] for o in body["outputs"] if o["name"] == "s")
                if sums != ids.sum(axis=1).astype(float).tolist():
                    failures.append(f"client {i}: got {sums} for {ids.tolist()}")
        except Exception as exc:  # a dropped connection is a failure, not a test crash
            failures.append(f"client {i}: {type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures


@pytest.mark.parametrize("batching", [True, False], ids=["batching", "no-batching"])
def test_64_clients(tmp_path, batching):
    srv = Server(tmp_path, toy_config(batching=batching, max_batch_size=16, max_queue_delay_ms=5))
    try:
        srv.wait_ready()
        assert hammer(srv.port) == []
        text = srv.metrics_text()
    finally:
        assert srv.terminate() == 0
    total = CLIENTS * PER_CLIENT
    assert metric_value(text, "deployc_requests_total", {"outcome": "success"}) == total
    assert metric_value(text, "deployc_request_duration_seconds_count") == total
    batches = metric_value(text, "deployc_batch_size_count")
    single = metric_value(text, "deployc_batch_size_bucket", {"le": "1.0"})
    rows = metric_value(text, "deployc_batch_size_sum")
    assert rows >= total  # every row ran once (requests carry 1-3 rows)
    if batching:
        assert batches < total and single < batches, "no batch ever held more than one request"
        assert metric_value(text, "deployc_batch_size_bucket", {"le": "16.0"}) == batches  # max_batch_size held
    else:
        assert batches == total
    assert metric_value(text, "deployc_inflight_requests") == 0
