"""SLO recording rules and multi-window, multi-burn-rate alerts (Google SRE workbook, ch. 5).

Two SLIs from monitoring.slo:
- availability: bad = (server_error + timeout) / all requests;
- latency: bad = 1 - (requests at or under latency_threshold_seconds) / all requests, read from
  the request-duration histogram's bucket at that bound (so the bound must be a bucket).

An error ratio is recorded per window; an alert fires when both a long and a short window
burn the error budget (1 - objective) faster than a factor:
  page:   1h and 5m  at 14.4x,  or  6h and 30m at 6x
  ticket: 1d and 2h  at 3x,     or  3d and 6h  at 1x
A text-generation model (model.task text-generation) has three SLIs: availability; time to first
token (the latency a streaming client waits on) against latency_threshold_seconds; and time per
output token against TPOT_SECONDS, both at latency_objective, from the runtime's generation
histograms (the whole request's duration measures how long an answer is, not how fast it comes).

The factors are the workbook's budget shares (2% in 1h, 5% in 6h, 10% in 1d and in 3d) over
the SLO period; for the default 30d period they are exactly 14.4, 6, 3 and 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from compiler.emitters.monitoring.rules import (
    Alert, AlertCase, Group, Recording, Series, Settings, expanding, labels, le, num)
from compiler.errors import SpecError
from compiler.runtime.catalog import LATENCY_BUCKETS

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
HOURS = {"5m": 5 / 60, "30m": 0.5, "1h": 1, "2h": 2, "6h": 6, "1d": 24, "3d": 72}
# (long window, short window, share of the budget the long window may burn)
PAGE = (("1h", "5m", 0.02), ("6h", "30m", 0.05))
TICKET = (("1d", "2h", 0.10), ("3d", "6h", 0.10))
BAD_OUTCOMES = ("server_error", "timeout")
REQUESTS_PER_MINUTE = 100  # in the promtool cases
TPOT_SECONDS = 0.1  # 10 tokens/s per stream: slower reads as stalled text (as the vLLM rules)


@dataclass(frozen=True)
class Sli:
    name: str  # availability | latency
    title: str  # for annotations
    objective: float
    ratio: Callable[[str], str]  # window -> PromQL of the bad-request ratio
    series: Callable[[float, int], tuple[Series, ...]]  # (bad ratio, minutes) -> promtool input

    @property
    def budget(self) -> float:
        return 1.0 - self.objective

    def record(self, window: str) -> str:
        return f"model:deployc_slo_{self.name}_errors:ratio_rate{window}"


def slo_group(s: Settings) -> Group:
    rules: list = []
    for sli in slis(s):
        rules += [Recording(sli.record(w), sli.ratio(w)) for w in WINDOWS]
        rules += [_burn_alert(s, sli, "Fast", "page", PAGE), _burn_alert(s, sli, "Slow", "ticket", TICKET)]
    return Group(f"deployc.{s.model}.slo", tuple(rules))


def slis(s: Settings) -> tuple[Sli, ...]:
    slo = s.mon.slo
    threshold = latency_bound(slo.latency_threshold_seconds)
    availability = _availability(s)
    if s.spec.model.task == "text-generation":
        return (availability,
                histogram_sli(s, "ttft", "time to first token", "deployc_time_to_first_token_seconds", threshold),
                histogram_sli(s, "tpot", "time per output token", "deployc_time_per_output_token_seconds",
                              TPOT_SECONDS))
    return (availability, histogram_sli(s, "latency", "latency", "deployc_request_duration_seconds", threshold))


def _availability(s: Settings) -> Sli:
    sel = s.model_selector()
    bad = "|".join(BAD_OUTCOMES)

    def availability(w: str) -> str:
        errors = f'sum by (model) (rate(deployc_requests_total{{{sel},outcome=~"{bad}"}}[{w}]))'
        return f"{errors} / sum by (model) (rate(deployc_requests_total{{{sel}}}[{w}]))"

    def availability_series(ratio: float, minutes: int) -> tuple[Series, ...]:
        per = REQUESTS_PER_MINUTE
        return (Series("deployc_requests_total", labels(model=s.model, outcome="server_error"),
                       expanding(0, per * ratio, minutes)),
                Series("deployc_requests_total", labels(model=s.model, outcome="success"),
                       expanding(0, per * (1 - ratio), minutes)))

    return Sli("availability", "availability", s.mon.slo.availability, availability, availability_series)


def histogram_sli(s: Settings, name: str, what: str, metric: str, threshold: float) -> Sli:
    """bad = 1 - (observations at or under threshold) / all, read from the histogram's bucket."""
    sel = s.model_selector()

    def ratio(w: str) -> str:
        fast = f'sum by (model) (rate({metric}_bucket{{{sel},le="{le(threshold)}"}}[{w}]))'
        return f"1 - ({fast} / sum by (model) (rate({metric}_count{{{sel}}}[{w}])))"

    def series(bad: float, minutes: int) -> tuple[Series, ...]:
        per = REQUESTS_PER_MINUTE
        return (Series(f"{metric}_bucket", labels(model=s.model, le=le(threshold)),
                       expanding(0, per * (1 - bad), minutes)),
                Series(f"{metric}_count", labels(model=s.model), expanding(0, per, minutes)))

    return Sli(name, f"{what} (share of requests over {num(threshold)}s)", s.mon.slo.latency_objective,
               ratio, series)


def latency_bound(threshold: float) -> float:
    """The latency SLI reads one histogram bucket, so the threshold must be a bucket bound."""
    for bound in LATENCY_BUCKETS:
        if math.isclose(bound, threshold, rel_tol=1e-9):
            return bound
    allowed = ", ".join(num(b) for b in LATENCY_BUCKETS)
    raise SpecError(f"{num(threshold)} is not a bound of the request-duration histogram; "
                    f"use one of: {allowed}", path="monitoring.slo.latency_threshold_seconds")


def factor(s: Settings, long: str, share: float) -> float:
    """Burn rate at which `share` of the period's budget is gone within the long window."""
    period_hours = int(s.mon.slo.period.rstrip("d")) * 24
    return round(share * period_hours / HOURS[long], 6)


def _burn_alert(s: Settings, sli: Sli, speed: str, severity: str, pairs) -> Alert:
    sel = s.model_selector()
    branches = []
    for long, short, share in pairs:
        limit = num(factor(s, long, share) * sli.budget)
        branches.append(f"({sli.record(long)}{{{sel}}} > {limit} and {sli.record(short)}{{{sel}}} > {limit})")
    name = f"Deployc{sli.name.capitalize()}Burn{speed}"
    windows = " or ".join(f"{long}/{short} at {num(factor(s, long, share))}x" for long, short, share in pairs)
    return Alert(
        alert=name, expr=" or ".join(branches), severity=severity, for_=None,
        summary=f"{{{{ $labels.model }}}} burns its {sli.name} error budget fast"
        if speed == "Fast" else f"{{{{ $labels.model }}}} burns its {sli.name} error budget",
        description=(f"Bad-request ratio for {sli.title} is {{{{ $value | humanizePercentage }}}} "
                     f"against a budget of {num(sli.budget * 100)}% ({windows})."),
        cases=_burn_cases(s, sli, pairs, fast=speed == "Fast"))


def _burn_cases(s: Settings, sli: Sli, pairs, fast: bool) -> tuple[AlertCase, ...]:
    """Steady bad ratios: every window then reads the same ratio, which makes $value exact."""
    lowest = min(factor(s, long, share) for long, _, share in pairs) * sli.budget
    # The fast alert's silent case (0.8 x 6 = 4.8 budgets) still fires the slow one: the cases
    # tell the fast alert from the slow one, not only from silence.
    quiet = lowest * (0.8 if fast else 0.5)
    loud = min(lowest * 1.5, (1 + lowest) / 2)
    # A window longer than the data still yields the ratio of the samples it holds, so half
    # an hour of steady traffic exercises even the 3d window (and keeps promtool fast).
    minutes, at = 35, "30m"
    cases = [AlertCase(f"{sli.name} bad ratio {num(quiet)}: silent", sli.series(quiet, minutes), at, False)]
    if lowest < 1:  # a budget so large that no ratio exceeds it has nothing to fire on
        cases.insert(0, AlertCase(f"{sli.name} bad ratio {num(loud)}: fires", sli.series(loud, minutes), at,
                                  True, labels(model=s.model), loud))
    return tuple(cases)
