"""/metrics exports exactly the catalog (on the main port and the metrics port) and drift counts."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from compiler.runtime.catalog import CATALOG, OUTCOMES, PREFIX, SERIES
from .helpers import MODEL, Server, metric_value, toy_config


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("metered"), toy_config(max_concurrency=7), metrics_port=True)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def _families(text: str) -> dict[str, set[str]]:
    return {f.name: {s.name for s in f.samples} for f in text_string_to_metric_families(text)}


def _family_name(metric) -> str:
    return metric.full_name.removesuffix("_total") if metric.type == "counter" else metric.full_name


@pytest.mark.parametrize("port", ["main", "metrics"])
def test_metric_names_are_exactly_the_catalog(metered, port):
    text = metered.metrics_text(None if port == "main" else metered.metrics_port)
    families = _families(text)
    ours = {name: samples for name, samples in families.items() if name.startswith(PREFIX + "_")}
    assert set(ours) == {_family_name(m) for m in CATALOG}
    assert set().union(*ours.values()) == set(SERIES)
    assert "_created" not in text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in SERIES:
                labels = set(SERIES[sample.name].labels_of(sample.name))
                assert set(sample.labels) == labels, sample


def test_static_gauges(metered):
    text = metered.metrics_text()
    assert metric_value(text, "deployc_max_concurrency") == 7
    assert metric_value(text, "deployc_model_ready", {"model": MODEL}) == 1
    assert metric_value(text, "deployc_model_info",
                        {"model": MODEL, "version": "1", "backend": "onnxruntime", "artifact": "model.onnx"}) == 1
    assert [metric_value(text, "deployc_input_baseline_ratio", {"input": "x", "bucket": str(i)})
            for i in range(4)] == [0.25] * 4
    assert {o: metric_value(text, "deployc_requests_total", {"outcome": o}) for o in OUTCOMES} == dict.fromkeys(
        OUTCOMES, 0)


def test_drift_buckets_count_every_input_value(metered):
    # edges [-1, 0, 1]: bucket i holds edges[i-1] <= v < edges[i]
    values = [-5.0, -0.5, 0.0, 0.5, 1.0, 7.0, 9.0, -1.0]
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4], "data": values},
                      {"name": "ids", "datatype": "INT64", "shape": [2, 1], "data": [1, 2]}]}
    before = metered.metrics_text()
    assert metered.post_json(f"/v2/models/{MODEL}/infer", doc)[0] == 200
    after = metered.metrics_text()
    counts = [metric_value(after, "deployc_input_bucket_total", {"input": "x", "bucket": str(i)})
              - metric_value(before, "deployc_input_bucket_total", {"input": "x", "bucket": str(i)})
              for i in range(4)]
    assert counts == [1, 2, 2, 3]
    assert metric_value(after, "deployc_input_bucket_total", {"input": "ids"}) == 0  # no baseline, no series
    assert metric_value(after, "deployc_requests_total", {"outcome": "success"}) == 1 + metric_value(
        before, "deployc_requests_total", {"outcome": "success"})


def test_outcomes_are_counted(metered):
    before = metered.metrics_text()
    metered.request("POST", f"/v2/models/{MODEL}/infer", b"{", {})
    metered.request("POST", "/v2/models/other/infer", json.dumps({}).encode(), {})
    after = metered.metrics_text()
    delta = metric_value(after, "deployc_requests_total", {"outcome": "client_error"}) - metric_value(
        before, "deployc_requests_total", {"outcome": "client_error"})
    assert delta == 2
