"""A served text model exports the unknown-token share against its build-time baseline: known and
unknown tokens counted in the two buckets of `text:unknown_tokens` (compiler/runtime/drift.py),
the baseline shares as gauges, next to tokens per text; a real server on the tiny BERT."""

from __future__ import annotations

from compiler.runtime.config import DriftBaseline
from compiler.runtime.drift import TEXT_INPUT, UNKNOWN_EDGES, unknown_input

from .helpers import MODEL, metric_value
from .text_model import Reference, start


def test_unknown_token_share_is_counted_against_its_baseline(tmp_path, artifact):
    folder, _ = artifact
    reference = Reference(folder / "model.onnx", folder / "tokenizer.json")
    unknown = unknown_input(TEXT_INPUT)
    drift = {TEXT_INPUT: DriftBaseline(edges=[8.0], ratios=[0.6, 0.4]),
             unknown: DriftBaseline(edges=list(UNKNOWN_EDGES), ratios=[0.99, 0.01])}
    srv = start(tmp_path, artifact, drift=drift)
    try:
        texts = ["🦜 and 🦜", "plain words"]  # each parrot is [UNK] to MiniLM's WordPiece
        status, _ = srv.post_json("/v1/embeddings", {"model": MODEL, "input": texts})
        assert status == 200
        doc = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["🦜"]}]}
        status, _ = srv.post_json(f"/v2/models/{MODEL}/infer", doc)
        assert status == 200
        metrics = srv.metrics_text()
    finally:
        srv.stop()
    tokens = sum(len(reference.ids(t)) for t in texts + ["🦜"])
    counted = {b: metric_value(metrics, "deployc_input_bucket_total", {"input": unknown, "bucket": b}) for b in "01"}
    assert counted == {"0": tokens - 3, "1": 3}
    assert metric_value(metrics, "deployc_tokens_total") == tokens
    assert metric_value(metrics, "deployc_unknown_tokens_total") == 3
    assert metric_value(metrics, "deployc_input_baseline_ratio", {"input": unknown, "bucket": "1"}) == 0.01
    assert metric_value(metrics, "deployc_request_tokens_count") == 2  # tokens per request: two requests
