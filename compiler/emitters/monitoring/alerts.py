"""Operational alerts: error ratio, saturation, target down or absent, model load and readiness.

- DeploycErrorRatioHigh: (server_error + timeout) / all requests over the rate window above
  rollout.analysis.max_error_ratio, the bound the canary analysis already holds a release to.
- DeploycQueueSaturated: p99 of the batch-queue wait above monitoring.saturation.max_queue_seconds.
- DeploycInflightSaturated: deployc_inflight_requests / deployc_max_concurrency above
  monitoring.saturation.max_inflight_ratio, per instance.
- DeploycTargetDown: `up == 0` for the scrape job named after the model (the ServiceMonitor sets
  job=<spec.name>; a plain Prometheus must name its job the same).
- DeploycMetricsAbsent: no deployc_model_ready for the model at all (nothing scraped).
- DeploycModelLoadFailures: deployc_model_load_failures_total increased.
- DeploycModelNotReady: no instance of the model reports ready.
"""

from __future__ import annotations

from compiler.emitters.monitoring.rules import (
    Alert, AlertCase, Group, Series, Settings, constant, expanding, labels, le, num, quote)
from compiler.emitters.monitoring.slo import BAD_OUTCOMES
from compiler.runtime.catalog import LATENCY_BUCKETS

INSTANCE = "10.0.0.1:9090"  # in the promtool cases


def alerts_group(s: Settings) -> Group:
    rules = (error_ratio(s), queue_saturation(s), inflight_saturation(s), target_down(s),
             metrics_absent(s), load_failures(s), not_ready(s))
    return Group(f"deployc.{s.model}.alerts", rules)


def error_ratio(s: Settings) -> Alert:
    sel, w = s.model_selector(), s.options.rate_window
    limit = s.spec.rollout.analysis.max_error_ratio
    bad = "|".join(BAD_OUTCOMES)
    expr = (f'sum by (model) (rate(deployc_requests_total{{{sel},outcome=~"{bad}"}}[{w}])) '
            f"/ sum by (model) (rate(deployc_requests_total{{{sel}}}[{w}])) > {num(limit)}")

    def series(ratio: float) -> tuple[Series, ...]:
        return (Series("deployc_requests_total", labels(model=s.model, outcome="timeout"),
                       expanding(0, 100 * ratio, 20)),
                Series("deployc_requests_total", labels(model=s.model, outcome="success"),
                       expanding(0, 100 * (1 - ratio), 20)))

    loud = (1 + limit) / 2
    cases = [AlertCase("no failed requests: silent", series(0.0), "15m", False)]
    if limit < 1:
        cases.insert(0, AlertCase(f"timeouts at {num(loud)}: fires", series(loud), "15m", True,
                                  labels(model=s.model), loud))
    return Alert(
        "DeploycErrorRatioHigh", expr, "page",
        "{{ $labels.model }} fails {{ $value | humanizePercentage }} of requests",
        f"Server errors and timeouts over {w} are above {num(limit * 100)}% of all requests.",
        s.for_("5m"), tuple(cases), provenance=True)


def queue_saturation(s: Settings) -> Alert:
    sel, w = s.model_selector(), s.options.rate_window
    limit = s.mon.saturation.max_queue_seconds
    expr = (f"histogram_quantile(0.99, sum by (model, le) "
            f"(rate(deployc_queue_duration_seconds_bucket{{{sel}}}[{w}]))) > {num(limit)}")
    cases = []
    if LATENCY_BUCKETS[0] <= limit:  # then p99 inside the first bucket stays under the limit
        cases.append(AlertCase("every wait in the first bucket: silent", _queue_series(s, 0), "15m", False))
    # Every wait in the first bucket above the limit puts p99 at lo + 0.99 (hi - lo) > limit.
    above = [i for i, b in enumerate(LATENCY_BUCKETS[:-1]) if b >= limit]
    if above:
        i = above[0]
        lo, hi = LATENCY_BUCKETS[i], LATENCY_BUCKETS[i + 1]
        cases.insert(0, AlertCase(f"every wait in ({num(lo)}, {num(hi)}]: fires", _queue_series(s, i + 1),
                                  "15m", True, labels(model=s.model), lo + (hi - lo) * 0.99))
    return Alert(
        "DeploycQueueSaturated", expr, "ticket",
        "{{ $labels.model }} requests wait {{ printf \"%.4g\" $value }}s for a batch slot (p99)",
        f"p99 of the batch-queue wait is above {num(limit)}s: add replicas or raise max_batch_size.",
        s.for_("10m"), tuple(cases))


def _queue_series(s: Settings, bucket: int) -> tuple[Series, ...]:
    """Histogram series with every observation in bucket `bucket` (0 = at or below the first bound)."""
    bounds = [le(b) for b in LATENCY_BUCKETS] + ["+Inf"]
    out = [Series("deployc_queue_duration_seconds_bucket", labels(model=s.model, le=b),
                  expanding(0, 60 if i >= bucket else 0, 20)) for i, b in enumerate(bounds)]
    return tuple(out)


def inflight_saturation(s: Settings) -> Alert:
    sel = s.model_selector()
    limit = s.mon.saturation.max_inflight_ratio
    expr = (f"max by (model, instance) (deployc_inflight_requests{{{sel}}} "
            f"/ deployc_max_concurrency{{{sel}}}) > {num(limit)}")
    cap = s.spec.serve.max_concurrency

    def series(inflight: float) -> tuple[Series, ...]:
        at = labels(instance=INSTANCE, job=s.model, model=s.model)
        return (Series("deployc_inflight_requests", at, constant(inflight, 20)),
                Series("deployc_max_concurrency", at, constant(cap, 20)))

    cases = [AlertCase("idle: silent", series(0), "15m", False)]
    if limit < 1:
        cases.insert(0, AlertCase("at the concurrency limit: fires", series(cap), "15m", True,
                                  labels(instance=INSTANCE, model=s.model), 1.0))
    return Alert(
        "DeploycInflightSaturated", expr, "ticket",
        "{{ $labels.instance }} runs at {{ $value | humanizePercentage }} of its concurrency limit",
        f"In-flight requests of {{{{ $labels.model }}}} are above {num(limit * 100)}% of max_concurrency; "
        "new requests will be rejected soon.",
        s.for_("5m"), tuple(cases))


def target_down(s: Settings) -> Alert:
    at = labels(instance=INSTANCE, job=s.model)
    return Alert(
        "DeploycTargetDown", f"up{{job={quote(s.model)}}} == 0", "page",
        "{{ $labels.instance }} of {{ $labels.job }} is down",
        "Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }}).",
        s.for_("5m"),
        (AlertCase("scrapes fail: fires", (Series("up", at, constant(0, 20)),), "15m", True, at, 0.0),
         AlertCase("scrapes succeed: silent", (Series("up", at, constant(1, 20)),), "15m", False)))


def metrics_absent(s: Settings) -> Alert:
    sel = s.model_selector()
    ready = Series("deployc_model_ready", labels(instance=INSTANCE, job=s.model, model=s.model), constant(1, 20))
    return Alert(
        "DeploycMetricsAbsent", f"absent(deployc_model_ready{{{sel}}})", "page",
        "No metrics from {{ $labels.model }}",
        "deployc_model_ready is absent: no instance of the model is scraped (not deployed, or the "
        "ServiceMonitor/scrape job does not match).",
        s.for_("10m"),
        (AlertCase("no series at all: fires", (), "15m", True, labels(model=s.model), 1.0),
         AlertCase("a ready instance: silent", (ready,), "15m", False)))


def load_failures(s: Settings) -> Alert:
    sel = s.model_selector()
    at = labels(instance=INSTANCE, job=s.model, model=s.model)
    return Alert(
        "DeploycModelLoadFailures", f"increase(deployc_model_load_failures_total{{{sel}}}[15m]) > 0", "ticket",
        "{{ $labels.instance }} failed to load {{ $labels.model }}",
        "The server on {{ $labels.instance }} could not load its model in the last 15 minutes; "
        "see its log.",
        s.for_(None),
        (AlertCase("a failed load: fires", (Series("deployc_model_load_failures_total", at, "0 0 0 1 1 1 1 1"),),
                   "6m", True, at),
         AlertCase("no failed load: silent", (Series("deployc_model_load_failures_total", at, constant(0, 20)),),
                   "15m", False)))


def not_ready(s: Settings) -> Alert:
    sel = s.model_selector()
    at = labels(instance=INSTANCE, job=s.model, model=s.model)
    return Alert(
        "DeploycModelNotReady", f"max by (model) (deployc_model_ready{{{sel}}}) == 0", "page",
        "No instance of {{ $labels.model }} is ready",
        "Every scraped instance reports deployc_model_ready 0: the model is loading or failed to load.",
        s.for_("5m"),
        (AlertCase("never ready: fires", (Series("deployc_model_ready", at, constant(0, 20)),), "15m", True,
                   labels(model=s.model), 0.0),
         AlertCase("ready: silent", (Series("deployc_model_ready", at, constant(1, 20)),), "15m", False)))
