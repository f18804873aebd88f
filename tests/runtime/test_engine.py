"""The batching engine on a real onnxruntime session: one request's bad values fail it alone."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from prometheus_client import generate_latest

from compiler.runtime.backend import load_backend
from compiler.runtime.engine import BatchingEngine
from compiler.runtime.errors import BadValues
from compiler.runtime.metrics import Metrics
from compiler.runtime.protocol import InferRequest
from .helpers import embedding_config, embedding_onnx, metric_value


def _request(tokens: list[int]) -> InferRequest:
    arr = np.array([tokens], np.int64)
    return InferRequest({"tokens": arr, "mask": np.ones_like(arr)}, ("y",), frozenset(), rows=1,
                        key=(arr.shape[1:], arr.shape[1:]))


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    (root / "model").mkdir()
    embedding_onnx(root / "model" / "model.onnx")
    return load_backend(embedding_config(), root / "model")


def test_a_bad_request_in_a_batch_fails_alone(backend):
    config = embedding_config(max_batch_size=3, max_queue_delay_ms=5000.0)
    reqs = [_request([1, 2]), _request([1, 100]), _request([3, 4])]

    async def main():
        metrics = Metrics(config)
        # Three requests are in the server: the first waits for the other two, so all three
        # run as one batch of max_batch_size rows.
        engine = BatchingEngine(backend, config, metrics, inflight=lambda: len(reqs))
        try:
            return await asyncio.gather(*(engine.infer(r) for r in reqs), return_exceptions=True), metrics
        finally:
            await engine.close()

    (good, bad, other), metrics = asyncio.run(main())
    table = np.arange(400, dtype=np.float32).reshape(100, 4)
    np.testing.assert_array_equal(good["y"], table[[1, 2]].sum(0, keepdims=True))
    np.testing.assert_array_equal(other["y"], table[[3, 4]].sum(0, keepdims=True))
    assert isinstance(bad, BadValues) and "idx=100" in bad.message and bad.status == 400
    body = generate_latest(metrics.registry).decode()
    # One batch of three rows ran (and failed), then each request alone.
    assert metric_value(body, "deployc_batch_size_count") == 1
    assert metric_value(body, "deployc_batch_size_sum") == 3
