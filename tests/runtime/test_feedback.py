"""POST /v2/models/{name}/feedback: the quality signal of an A/B experiment, on a real server."""

from __future__ import annotations

import json

import pytest

from .helpers import MODEL, metric_value

FEEDBACK = f"/v2/models/{MODEL}/feedback"


def _post(server, body: bytes, path: str = FEEDBACK, headers: dict | None = None):
    status, _, raw = server.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
    return status, json.loads(raw)


def _count(server, correct: str) -> float:
    return metric_value(server.metrics_text(), "deployc_feedback_total", {"model": MODEL, "correct": correct})


def test_feedback_counts_by_correctness(server):
    before = {c: _count(server, c) for c in ("true", "false")}
    for correct in (True, True, False):
        assert _post(server, json.dumps({"correct": correct}).encode()) == (200, {"accepted": True})
    assert _post(server, b'{"correct": true}', f"/v2/models/{MODEL}/versions/1/feedback")[0] == 200
    assert _count(server, "true") - before["true"] == 3
    assert _count(server, "false") - before["false"] == 1


def test_feedback_is_not_an_inference_request(server):
    before = metric_value(server.metrics_text(), "deployc_requests_total")
    _post(server, b'{"correct": false}')
    assert metric_value(server.metrics_text(), "deployc_requests_total") == before


@pytest.mark.parametrize("body, status, words", [
    (b"", 400, "not JSON"),
    (b"{", 400, "not JSON"),
    (b'{"correct": NaN}', 400, "not JSON"),
    (b"\xff\xfe", 400, "not JSON"),
    (b"[true]", 400, "JSON object"),
    (b"{}", 400, "'correct' is required"),
    (b'{"correct": 1}', 400, "must be true or false, got 1"),
    (b'{"correct": "true"}', 400, 'got "true"'),
    (b'{"correct": null}', 400, "got null"),
    (b'{"correct": true, "label": 3}', 400, "unknown field 'label'"),
    (b'{"correct": true, "pad": "' + b"x" * 2000 + b'"}', 413, "at most 1024"),
])
def test_bad_feedback_is_a_client_error_naming_the_field(server, body, status, words):
    before = {c: _count(server, c) for c in ("true", "false")}
    got, doc = _post(server, body)
    assert got == status and words in doc["error"], doc
    assert {c: _count(server, c) for c in ("true", "false")} == before


def test_wrong_model_and_method(server):
    status, doc = _post(server, b'{"correct": true}', "/v2/models/other/feedback")
    assert status == 404 and "other" in doc["error"]
    assert _post(server, b'{"correct": true}', f"/v2/models/{MODEL}/versions/9/feedback")[0] == 404
    assert server.request("GET", FEEDBACK)[0] == 405


def test_both_series_exist_before_any_feedback(tmp_path):
    from .helpers import Server, toy_config

    srv = Server(tmp_path, toy_config())
    try:
        srv.wait_ready()
        text = srv.metrics_text()
        for correct in ("true", "false"):
            assert f'deployc_feedback_total{{correct="{correct}",model="{MODEL}"}} 0.0' in text
    finally:
        srv.stop()
