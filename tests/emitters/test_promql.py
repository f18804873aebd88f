"""The shared PromQL scanner: metric names, label matchers and grouping labels of a query."""

from __future__ import annotations

from compiler.emitters import promql


def test_tokenizer_finds_metrics_matchers_and_grouping():
    q = ('histogram_quantile(0.99, sum by (le) (rate(deployc_request_duration_seconds_bucket'
         '{model="m", le!~"+Inf"}[{{ interval }}]))) or vector(-1)')
    found = promql.names(q)
    assert [(s.metric, [(m.label, m.op, m.value) for m in s.matchers]) for s in found.selectors] == [
        ("deployc_request_duration_seconds_bucket", [("model", "=", "m"), ("le", "!~", "+Inf")])]
    assert found.grouping_labels == ["le"]


def test_tokenizer_skips_functions_keywords_offsets_and_ranges():
    q = 'sum without (outcome) (increase(deployc_requests_total[5m:1m] offset 1h)) / on() group_left max(x_y)'
    found = promql.names(q)
    assert [s.metric for s in found.selectors] == ["deployc_requests_total", "x_y"]
    assert found.grouping_labels == ["outcome"]


def test_name_only_selector():
    found = promql.names('rate({__name__="deployc_requests_total", model="m"}[1m])')
    assert found.selectors[0].metric == "deployc_requests_total"
