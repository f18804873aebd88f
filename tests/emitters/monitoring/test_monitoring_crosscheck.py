"""The build refuses rules and panels that name a metric or label the runtime does not export."""

from __future__ import annotations

import dataclasses

import pytest

from compiler.emitters.catalog_check import known_series
from compiler.emitters.monitoring import CatalogMismatchError, MonitoringEmitter, check_expr
from compiler.emitters.monitoring import alerts as alerts_module
from compiler.emitters.monitoring import dashboard as dashboard_module
from compiler.errors import DeploycError
from monitoring_helpers import context


@pytest.mark.parametrize("expr", [
    'sum by (model) (rate(deployc_requests_total{model="m",outcome=~"server_error|timeout"}[5m]))',
    'histogram_quantile(0.99, sum by (model, le) (rate(deployc_queue_duration_seconds_bucket{model="m"}[5m])))',
    'deployc_request_duration_seconds_bucket{le="0.25"}',
    'up{job="m"} == 0',
    'absent(deployc_model_ready{model="m"})',
    'max by (model, instance) (deployc_inflight_requests / deployc_max_concurrency) > 0.8',
    "increase(deployc_model_load_failures_total[15m] offset 5m) > 0",
    "count by (version, backend, artifact) (deployc_model_info)",
])
def test_catalog_expressions_pass(expr):
    check_expr("rule 'Ok'", expr)


@pytest.mark.parametrize("expr, named", [
    ('rate(deployc_request_total{model="m"}[5m])', "deployc_request_total"),  # missing an s
    ("deployc_requests_total_total", "deployc_requests_total_total"),
    ("deployc_request_duration_seconds", "deployc_request_duration_seconds"),  # a histogram's base name
    ("deployc_inflight_requests / deployc_max_concurency", "deployc_max_concurency"),
    ('{model="m"}', "selector without a metric name"),
    ('deployc_requests_total{modle="m"}', "'modle'"),
    ('deployc_requests_total{outcome="error"}', "outcome 'error' is never set"),
    ('deployc_requests_total{outcome=~"server_error|failed"}', "outcome 'failed' is never set"),
    ('deployc_request_duration_seconds_bucket{le="0.2"}', "le '0.2' is never set"),
    ('deployc_request_duration_seconds_count{le="0.25"}', "'le'"),  # le is only on _bucket
    ("sum by (container) (deployc_inflight_requests)", "'container'"),  # not a scrape label we add
    ('deployc_requests_total{rollout_pod_template_hash="abc"}', "'rollout_pod_template_hash'"),  # rollouts_
    ("deployc_inflight_requests / ignoring (outcome) deployc_max_concurrency", "'outcome'"),
])
def test_wrong_names_fail_naming_the_rule_and_the_culprit(expr, named):
    with pytest.raises(CatalogMismatchError) as err:
        check_expr("rule 'Bad'", expr)
    assert "rule 'Bad'" in str(err.value) and named in str(err.value)
    assert isinstance(err.value, DeploycError)


def test_recorded_series_are_known_with_their_grouping_labels():
    known = known_series()
    known["model:x:ratio_rate5m"] = check_expr("r", "sum by (model) (rate(deployc_requests_total[5m]))", known)
    check_expr("a", 'model:x:ratio_rate5m{model="m"} > 0.1', known)
    with pytest.raises(CatalogMismatchError, match="'outcome' is not on metric 'model:x:ratio_rate5m'"):
        check_expr("a", 'model:x:ratio_rate5m{outcome="timeout"}', known)


def test_a_rule_with_a_wrong_metric_fails_the_build(monkeypatch):
    real = alerts_module.error_ratio

    def misspelt(s):
        alert = real(s)
        return dataclasses.replace(alert, expr=alert.expr.replace("deployc_requests_total", "deployc_request_total"))

    monkeypatch.setattr(alerts_module, "error_ratio", misspelt)
    with pytest.raises(CatalogMismatchError) as err:
        MonitoringEmitter().emit(context("text-encoder"))
    message = str(err.value)
    assert "DeploycErrorRatioHigh" in message and "deployc_request_total" in message


def test_a_panel_with_a_wrong_label_fails_the_build(monkeypatch):
    real = dashboard_module._panels

    def with_bad_panel(s, drift):
        bad = dashboard_module.Panel("Pods", "short", (("x", "sum by (pod_name) (deployc_model_ready)"),))
        return real(s, drift) + [bad]

    monkeypatch.setattr(dashboard_module, "_panels", with_bad_panel)
    with pytest.raises(CatalogMismatchError, match="dashboard panel 'Pods'.*'pod_name'"):
        MonitoringEmitter().emit(context("text-encoder"))
