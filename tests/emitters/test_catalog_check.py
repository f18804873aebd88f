"""The one check of a PromQL expression against the runtime's metric catalog (both emitters use it)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from compiler.emitters.catalog_check import SCRAPE_LABELS, expr_problems, known_series, result_labels
from compiler.runtime.catalog import BY_NAME, LATENCY_BUCKETS


@pytest.mark.parametrize("expr", [
    'sum by (job, instance) (up{job="m"})',  # Prometheus' own series and target labels
    'deployc_requests_total{outcome=~".*_error"}',  # a regex that selects real outcomes
    'deployc_requests_total{outcome=~"(server|client)_error|timeout"}',  # `|` inside a group
    'deployc_requests_total{outcome!~"server_error|timeout", model="{{ args.model }}"}',
    'deployc_request_duration_seconds_bucket{le=~"0.25|+Inf"}',
    'deployc_batch_size_bucket{le="8.0"}',
    'rate(deployc_requests_total{model="m"}[$__rate_interval]) atan2 deployc_model_ready',
])
def test_expressions_the_runtime_can_answer_pass(expr):
    assert expr_problems(expr) == []


@pytest.mark.parametrize("expr, problem", [
    ('deployc_requests_total{outcome!="sucess"}', "outcome 'sucess' is never set"),  # keeps every series
    ('deployc_requests_total{outcome=~"5.."}', "outcome '5..' is never set"),
    ('deployc_batch_size_bucket{le="8"}', "le '8' is never set (values: 1.0, 2.0, 4.0, 8.0,"),
    ('{__name__=~"deployc_requests_total"}', "selector without a metric name"),
    ("vector(1)", "expression names no metric: vector(1)"),
    ("rate(x[5m)", "cannot read query: unexpected '[5m)' at offset 6"),
])
def test_each_rule_names_the_culprit(expr, problem):
    assert any(problem in p for p in expr_problems(expr)), expr_problems(expr)


def test_le_values_are_the_bounds_prometheus_client_writes():
    registry = CollectorRegistry()
    Histogram("h_seconds", "", buckets=LATENCY_BUCKETS, registry=registry).observe(0.3)
    written = [line.split('le="')[1].split('"')[0] for line in generate_latest(registry).decode().splitlines()
               if line.startswith("h_seconds_bucket")]
    assert len(written) == len(LATENCY_BUCKETS) + 1 and written[-1] == "+Inf" and "1.0" in written
    assert BY_NAME["deployc_request_duration_seconds"].buckets == LATENCY_BUCKETS
    for le in written:
        assert expr_problems(f'deployc_request_duration_seconds_bucket{{le="{le}"}}') == []


def test_an_unknown_metric_is_reported_once_without_follow_up_noise():
    assert expr_problems("sum by (le) (x_bucket) / sum by (le) (x_bucket)") == [
        "unknown metric 'x_bucket' (not exported by the runtime)"]


def test_recorded_series_are_known_with_the_labels_they_keep():
    known = known_series()
    rule = "sum by (model) (rate(deployc_requests_total[5m]))"
    assert expr_problems(rule, known) == []
    known["model:x:rate5m"] = result_labels(rule, known)
    assert known["model:x:rate5m"] == {"model"}
    assert expr_problems('model:x:rate5m{model="m"}', known) == []
    assert expr_problems('model:x:rate5m{outcome="timeout"}', known) == [
        "unknown label 'outcome': 'outcome' is not on metric 'model:x:rate5m' (it has: model)"]
    assert result_labels("deployc_inflight_requests / deployc_max_concurrency", known) == {
        "model", "job", "instance", "namespace", "pod", "rollouts_pod_template_hash"}


def test_scrape_labels_are_on_every_scraped_series_and_on_up():
    known = known_series()
    for name in ("deployc_requests_total", "deployc_request_duration_seconds_bucket", "up"):
        assert known[name] >= SCRAPE_LABELS
    q = ('sum by (pod) (rate(deployc_requests_total{model="m",namespace="{{ namespace }}",'
         'pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",rollouts_pod_template_hash="{{args.canary-hash}}"}[1m]))')
    assert expr_problems(q) == []
    assert expr_problems('up{rollouts_pod_template_hash="5d8f9c7b4"} == 0') == []


@pytest.mark.parametrize("label", ["rollout_pod_template_hash", "rollouts-pod-template-hash",
                                   "pod_template_hash", "container", "kubernetes_pod_name"])
def test_a_label_no_scrape_config_of_ours_adds_fails(label):
    problems = expr_problems(f'deployc_requests_total{{model="m",{label}="x"}}')
    if "-" in label:  # the pod label's own name is not even a valid series label name
        assert problems == ["cannot read query: malformed label matcher rollouts-pod"]
    else:
        assert problems == [f"unknown label '{label}': '{label}' is not on metric 'deployc_requests_total' "
                            "(it has: instance, job, model, namespace, outcome, pod, rollouts_pod_template_hash)"]


def test_a_recording_that_aggregates_the_pods_away_drops_their_labels():
    known = known_series()
    known["model:x:rate1m"] = result_labels("sum by (model) (rate(deployc_requests_total[1m]))", known)
    assert expr_problems('model:x:rate1m{rollouts_pod_template_hash="h"}', known) == [
        "unknown label 'rollouts_pod_template_hash': 'rollouts_pod_template_hash' is not on metric "
        "'model:x:rate1m' (it has: model)"]
