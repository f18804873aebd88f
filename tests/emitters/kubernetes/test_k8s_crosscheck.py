"""The build-time cross-check between analysis queries and the runtime's metric catalog."""

from __future__ import annotations

import copy

import pytest
from k8s_helpers import CASES, emit, emit_case, manifests

from compiler.emitters.kubernetes import analysis_queries, crosscheck
from compiler.emitters.kubernetes.crosscheck import MetricCrossCheckError, NamedQuery
from compiler.errors import DeploycError


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_generated_query_passes(case):
    queries = crosscheck.queries_in(manifests(emit_case(case)).values())
    if case != "rolling":
        assert len(queries) >= 2
    crosscheck.check(queries)


def test_wrong_metric_name_fails_naming_object_and_metric():
    template = copy.deepcopy(manifests(emit_case("canary"))["analysistemplate.yaml"])
    prom = template["spec"]["metrics"][1]["provider"]["prometheus"]
    prom["query"] = prom["query"].replace("deployc_request_duration_seconds_bucket", "deployc_request_latency_bucket")
    with pytest.raises(MetricCrossCheckError) as info:
        crosscheck.check(crosscheck.queries_in([template]))
    message = str(info.value)
    assert "AnalysisTemplate/digits-cnn metric p99-latency" in message
    assert "unknown metric 'deployc_request_latency_bucket'" in message
    assert isinstance(info.value, DeploycError)


def test_wrong_label_and_outcome_fail():
    q = 'sum(rate(deployc_requests_total{model="m", status="500", outcome=~"server_error|timeouts"}[1m]))'
    problems = crosscheck.problems(q)
    assert any("unknown label 'status'" in p for p in problems)
    assert any("outcome 'timeouts' is never set" in p for p in problems)


def test_grouping_by_a_label_the_series_lacks_fails():
    problems = crosscheck.problems('sum by (service) (rate(deployc_requests_total{model="m"}[1m]))')
    assert problems == ["grouping label 'service' is not on any series the query reads (deployc_requests_total)"]


def test_scrape_labels_the_servicemonitor_adds_pass():
    """pod, namespace and the Argo hash are added at scrape time (catalog_check.SCRAPE_LABELS)."""
    q = ('sum by (pod) (rate(deployc_requests_total{model="m",namespace="default",'
         'rollouts_pod_template_hash="{{args.canary-hash}}"}[1m]))')
    assert crosscheck.problems(q) == []


@pytest.mark.parametrize("case, right, wrong", [
    ("canary", "rollouts_pod_template_hash=", "rollout_pod_template_hash="),  # "rollout", not "rollouts"
    ("canary", "rollouts_pod_template_hash=", "pod_template_hash="),  # the Deployment's pod label: not scraped
    ("flagger-canary", "pod=~", "pod_name=~"),
    ("flagger-canary", "namespace=", "kubernetes_namespace="),  # old Prometheus charts' relabeling
])
def test_a_wrong_scrape_label_in_a_generated_query_fails_the_build(case, right, wrong):
    queries = [q for q in crosscheck.queries_in(manifests(emit_case(case)).values()) if right in q.query]
    assert len(queries) == 2  # error ratio and p99 latency
    broken = [NamedQuery(q.owner, q.query.replace(right, wrong)) for q in queries]
    with pytest.raises(MetricCrossCheckError, match=f"unknown label '{wrong.rstrip('=~')}'") as info:
        crosscheck.check(broken)
    assert "error-ratio" in str(info.value) and "p99-latency" in str(info.value)


def test_le_only_exists_on_bucket_series():
    assert crosscheck.problems('deployc_request_duration_seconds_count{le="0.1"}')
    assert not crosscheck.problems('deployc_request_duration_seconds_bucket{le="0.1"}')


def test_metric_templates_and_hpa_metrics_are_checked():
    objs = manifests(emit_case("flagger-canary"))
    owners = [q.owner for q in crosscheck.queries_in(objs.values())]
    assert "MetricTemplate/digits-cnn-error-ratio" in owners
    hpa = manifests(emit_case("rolling"))["hpa.yaml"]
    hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] = "deployc_inflight"
    with pytest.raises(MetricCrossCheckError, match="HorizontalPodAutoscaler/digits-cnn Pods metric: unknown metric"):
        crosscheck.check(crosscheck.queries_in([hpa]))


def test_the_emitter_runs_the_check(monkeypatch):
    """A wrong name in the query builder stops the build, not the rollout."""
    monkeypatch.setattr(analysis_queries, "REQUESTS", "deployc_request_total")
    with pytest.raises(MetricCrossCheckError, match="unknown metric 'deployc_request_total'"):
        emit("digits-cnn", [])


def test_unreadable_query_is_reported():
    with pytest.raises(MetricCrossCheckError, match="cannot read query"):
        crosscheck.check([NamedQuery("MetricTemplate/x", 'rate(deployc_requests_total{model="m"[1m])')])
