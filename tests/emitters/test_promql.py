"""The shared PromQL scanner: metric names, label matchers and grouping labels of a query."""

from __future__ import annotations

import pytest

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


def test_scan_skips_strings_ranges_functions_and_keywords():
    found = promql.names('label_replace(rate(deployc_requests_total{model="a b{c}"}[5m:1m]), "d", "$1", "model", '
                         '"(.*)") and on (model) deployc_model_ready unless bool vector(1)')
    assert [s.metric for s in found.selectors] == ["deployc_requests_total", "deployc_model_ready"]
    assert found.selectors[0].matchers == [promql.Matcher("model", "=", "a b{c}")]
    assert found.grouping_labels == ["model"]


def _metrics(query: str) -> list[str | None]:
    return [s.metric for s in promql.names(query).selectors]


@pytest.mark.parametrize("query, metrics", [
    ("a atan2 b", ["a", "b"]),  # a binary operator, not a metric
    ("limitk(2, x) + limit_ratio(0.5, y)", ["x", "y"]),
    ("topk(3, x) / quantile(0.9, y) / count_values(\"v\", z)", ["x", "y", "z"]),
    ("x offset 1h30m", ["x"]),
    ("x offset 1.5m", ["x"]),  # no stray metric 'm' after a fractional duration
    ("x offset .5m + y offset 100ms", ["x", "y"]),
    ("x[5m] offset -1h", ["x"]),
    ("x @ 100 and y @ start()", ["x", "y"]),
    ("x > bool 3 unless y", ["x", "y"]),
    ("0x1F * x + 1e3 * y - Inf + NaN", ["x", "y"]),
    ("SUM BY (model) (x)", ["x"]),  # keywords are case-insensitive
    ("sum(x) by (model)", ["x"]),
    ("x # a comment naming y", ["x"]),
    ("rate(x[$__rate_interval])", ["x"]),  # Grafana's range variable
    ("rate(x[{{ interval }}])", ["x"]),  # Argo's
    ("vector(1) + time()", []),
])
def test_functions_keywords_durations_and_ranges_are_not_metrics(query, metrics):
    assert _metrics(query) == metrics


def test_grouping_labels_of_every_clause_in_order():
    q = "sum by (a, b) (x) / on (c) group_left (d) y / ignoring (e) group_right z and without (f) w"
    assert promql.names(q).grouping_labels == ["a", "b", "c", "d", "e", "f"]


@pytest.mark.parametrize("literal, value", [
    ('"a b{c}"', "a b{c}"),  # braces inside a string are not a selector
    ("'single'", "single"),
    ('"a\\"b"', 'a"b'),  # quotes take backslash escapes
    ('"0\\\\.1"', "0\\.1"),
    ("`0\\.1`", "0\\.1"),  # backticks are raw
    ('"{{ args.model }}"', "{{ args.model }}"),
    ("{{ args.model }}", "{{ args.model }}"),  # Flagger's unquoted template value
])
def test_matcher_values_are_unquoted(literal, value):
    found = promql.names(f"x{{model={literal}, outcome!~\"a|b\",}}")
    assert found.selectors[0].matchers == [promql.Matcher("model", "=", value), promql.Matcher("outcome", "!~", "a|b")]


@pytest.mark.parametrize("query", ['{__name__=~"x"}', '{__name__!="x"}', '{model="m"}'])
def test_a_selector_names_a_metric_only_through_name_equals(query):
    assert _metrics(query) == [None]


@pytest.mark.parametrize("query, message", [
    ('x{model="m"', "missing '}'"),
    ("rate(x[5m)", "unexpected '[5m)' at offset 6"),
    ("x{model}", "malformed label matchers: model"),
    ('x{model~"m"}', "unexpected '~\"m\"}' at offset 7"),
    ('x{"model"="m"}', 'malformed label matcher "model"="m"'),
    ("a.b", "unexpected '.b' at offset 1"),
    ("sum by (model", "missing ')'"),
])
def test_unreadable_queries_raise_naming_the_spot(query, message):
    with pytest.raises(promql.PromQLSyntaxError) as err:
        promql.names(query)
    assert str(err.value) == message
