"""Rules, promtool tests and a canary analysis on vLLM's own metrics (catalog.py, the pinned
version's names), checked by the same static cross-check as the deployc runtime's rules, with
vLLM's catalog as the known series.

Thresholds: time to first token against monitoring.slo.latency_threshold_seconds (for an LLM
engine the latency a user waits on is the first token's; it must be a bound of vLLM's TTFT
histogram, so the rule reads one exact bucket); time per output token against TPOT_SECONDS; the
queue against the HPA's scale-out point; the KV cache at KV_FULL.
"""

from __future__ import annotations

from typing import Any

from compiler.capacity import EnginePlan
from compiler.emitters.kubernetes import analysis_queries as aq
from compiler.emitters.catalog_check import CANARY_HASH_LABEL, PROMETHEUS_SERIES, SCRAPE_LABELS, Known
from compiler.emitters.monitoring.crosscheck import check_expr, check_groups
from compiler.emitters.monitoring.rules import Alert, AlertCase, Group, Recording, Series, Settings, le, num, quote
from compiler.emitters.vllm import catalog, manifests
from compiler.errors import SpecError, SpecIssue

TPOT_SECONDS = 0.1  # 10 tokens/s per stream: slower reads as stalled text
KV_FULL = 0.95  # vLLM preempts sequences when its KV cache is full
WINDOW = "5m"
ARGO_API = "argoproj.io/v1alpha1"


def known() -> Known:
    """The series a vLLM rule may name: its catalog's, with the labels scraping adds."""
    out = {name: frozenset(labels) | SCRAPE_LABELS for name, labels in catalog.exported().items()}
    out.update({k: v | SCRAPE_LABELS for k, v in PROMETHEUS_SERIES.items()})
    return out


def _sel(s: Settings, extra: str = "") -> str:
    return "{" + ",".join(filter(None, [f"model_name={quote(s.model)}", extra])) + "}"


def _quantile(s: Settings, metric: str) -> str:
    return f"histogram_quantile(0.95, sum by (le) (rate({metric}_bucket{_sel(s)}[{WINDOW}])))"


def ttft_threshold(s: Settings) -> float:
    t = s.mon.slo.latency_threshold_seconds
    bounds = catalog.by_name(catalog.TTFT).buckets or ()
    if t not in bounds:
        raise SpecError(SpecIssue("monitoring.slo.latency_threshold_seconds",
                                  f"{t:g} is not a bucket bound of vLLM's {catalog.TTFT} (serve.engine vllm reads "
                                  f"the first token's latency): use one of {', '.join(f'{b:g}' for b in bounds)}"))
    return t


def _histogram_case(s: Settings, metric: str, threshold: float, fires: bool) -> AlertCase:
    """All requests land above the threshold's bucket (fires) or inside it (silent)."""
    bounds = [b for b in catalog.by_name(metric).buckets or () if b > threshold][:1] or [threshold * 2]
    labels = (("engine", "0"), ("model_name", s.model))
    grow = "0+100x20"
    series = [Series(f"{metric}_bucket", labels + (("le", le(threshold)),), "0+0x20" if fires else grow),
              Series(f"{metric}_bucket", labels + (("le", le(bounds[0])),), grow),
              Series(f"{metric}_bucket", labels + (("le", "+Inf"),), grow)]
    return AlertCase("slow requests" if fires else "fast requests", tuple(series), "15m", fires)


def _gauge_case(metric: str, s: Settings, value: float, fires: bool) -> AlertCase:
    series = Series(metric, (("engine", "0"), ("model_name", s.model)), f"{value:g}x20")
    return AlertCase(f"{metric} at {value:g}", (series,), "15m", fires)


def groups(s: Settings, engine: EnginePlan) -> list[Group]:
    ttft = ttft_threshold(s)
    waiting = manifests.waiting_target(s.spec)
    record = [Recording("vllm:time_to_first_token_seconds:p95_5m", _quantile(s, catalog.TTFT)),
              Recording("vllm:time_per_output_token_seconds:p95_5m", _quantile(s, catalog.TPOT))]
    alerts = [
        Alert("VllmTimeToFirstTokenSlow", f"{_quantile(s, catalog.TTFT)} > {num(ttft)}", "page",
              "p95 time to first token above {}s".format(num(ttft)),
              f"vLLM serving {s.model}: 95% of requests should see their first token within {num(ttft)}s.",
              s.for_("10m"), (_histogram_case(s, catalog.TTFT, ttft, True), _histogram_case(s, catalog.TTFT, ttft, False))),
        Alert("VllmTimePerOutputTokenSlow", f"{_quantile(s, catalog.TPOT)} > {num(TPOT_SECONDS)}", "ticket",
              f"p95 time per output token above {num(TPOT_SECONDS)}s",
              f"vLLM serving {s.model} generates slower than {1 / TPOT_SECONDS:g} tokens/s per stream.",
              s.for_("10m"), (_histogram_case(s, catalog.TPOT, TPOT_SECONDS, True),
                              _histogram_case(s, catalog.TPOT, TPOT_SECONDS, False))),
        Alert("VllmRequestsQueued", f"max(max_over_time({catalog.WAITING}{_sel(s)}[{WINDOW}])) > {waiting}", "ticket",
              f"more than {waiting} requests waiting on a replica",
              f"vLLM serving {s.model} queues requests: the autoscaler should be adding replicas.", s.for_("15m"),
              (_gauge_case(catalog.WAITING, s, waiting + 5, True), _gauge_case(catalog.WAITING, s, 0, False))),
        Alert("VllmKvCacheFull", f"max({catalog.KV_CACHE}{_sel(s)}) > {num(KV_FULL)}", "ticket",
              f"KV cache above {KV_FULL:.0%}",
              f"vLLM serving {s.model} preempts sequences when its KV cache is full.", s.for_("10m"),
              (_gauge_case(catalog.KV_CACHE, s, 0.99, True), _gauge_case(catalog.KV_CACHE, s, 0.5, False))),
    ]
    return [Group(f"{s.model}-vllm-slo", tuple(record)), Group(f"{s.model}-vllm-alerts", tuple(alerts))]


def checked_groups(s: Settings, engine: EnginePlan) -> list[Group]:
    out = groups(s, engine)
    check_groups(out, known())
    return out


def analysis_template(s: Settings, name: str, hash_arg: str) -> dict[str, Any]:
    """Argo Rollouts analysis on vLLM's series of one ReplicaSet (the `hash_arg` argument):
    TTFT p95 and the aborted-request ratio."""
    ttft = ttft_threshold(s)
    scope = f"{CANARY_HASH_LABEL}={quote('{{args.' + hash_arg + '}}')}"
    abort = _sel(s, f"finished_reason={quote('abort')},{scope}")
    # As deployc's own analysis (kubernetes/analysis_queries.py): an idle window's NaN is dropped
    # (`>= 0`) and the query falls back to the no-data sentinel, which on_no_data then judges.
    aborted = (f"((sum(rate({catalog.SUCCESS}_total{abort}[{WINDOW}])) or vector(0)) / "
               f"sum(rate({catalog.SUCCESS}_total{_sel(s, scope)}[{WINDOW}]))) >= 0")
    ttft_q = f"histogram_quantile(0.95, sum by (le) (rate({catalog.TTFT}_bucket{_sel(s, scope)}[{WINDOW}]))) >= 0"
    queries = {"time-to-first-token-p95": (f"({ttft_q}) or vector({aq.NO_DATA})", ttft),
               "aborted-ratio": (f"({aborted}) or vector({aq.NO_DATA})", 1 - s.mon.slo.availability)}
    for metric, (query, _) in queries.items():
        check_expr(f"AnalysisTemplate {name} metric {metric}", query, known())
    a = s.spec.rollout.analysis
    metrics = [{"name": metric, "interval": a.interval, "count": a.count, "failureLimit": a.failure_limit,
                **aq.argo_conditions(threshold, a.on_no_data),
                "provider": {"prometheus": {"address": s.spec.rollout.prometheus_url, "query": query}}}
               for metric, (query, threshold) in queries.items()]
    return {"apiVersion": ARGO_API, "kind": "AnalysisTemplate",
            "metadata": {"name": name, "namespace": s.spec.rollout.namespace},
            "spec": {"args": [{"name": hash_arg}], "metrics": metrics}}
