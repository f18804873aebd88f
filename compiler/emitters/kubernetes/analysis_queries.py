"""The canary analysis: PromQL over the runtime's own metrics, and what "no data" means.

Two checks, both scoped to the model by the runtime's `model` label:
- error ratio: (server_error + timeout) requests / all requests over the window;
- p99 latency: histogram_quantile(0.99) over request_duration_seconds_bucket; for a
  text-generation model over time_to_first_token_seconds_bucket instead (`p99-ttft`: a streamed
  answer's whole duration measures its length, the first token is what a client waits on), with
  the same threshold, rollout.analysis.max_p99_latency_seconds.

Judging the canary alone
------------------------
Stable and canary pods export the same series with the same `model` label; a query scoped by
`model` alone averages them, and a canary failing at 10% traffic is diluted tenfold by a
healthy stable. So every selector also carries the controller's canary `scope`, matchers on
labels added at scrape time (compiler/emitters/catalog_check.py: SCRAPE_LABELS; the runtime
cannot know its own pod template hash):
- Argo Rollouts: `rollouts_pod_template_hash="{{args.canary-hash}}"`, the ReplicaSet hash the
  Rollout passes in (argo.py; the ServiceMonitor copies the pod label onto the series);
- Flagger: `namespace` and a `pod` regex on the target Deployment's pods (flagger.py).
The generated ServiceMonitor adds these labels; with monitoring disabled, or a plain Prometheus,
the scrape job in place must add them (compiler/emitters/monitoring/manifests.py shows its
relabel_configs), else every measurement is "no data" below.

No data, and how `rollout.analysis.on_no_data` is honoured
-----------------------------------------------------------
A window without traffic makes these queries return an empty vector or NaN (0/0, or a quantile
of empty buckets). Argo Rollouts evaluates `result[0]` on an empty vector as an *Error*
measurement (retried up to consecutiveErrorLimit), Flagger halts with "no values found" and
counts a failed check, and NaN passes any `<=` threshold in neither direction reliably. So the
queries make "no data" an explicit value instead:

1. NaN is filtered in PromQL: the error ratio divides by `(sum(rate(all)) > 0)`, and the
   latency quantile is kept only where `>= 0`; an idle window becomes an empty vector.
   Missing error series with traffic present is *not* "no data": the numerator falls back to
   `or vector(0)` (the runtime creates an outcome's series on its first request).
2. The whole query ends in `or vector(-1)`: "no data" is the sentinel -1, never a real value
   (ratios and durations are >= 0).
3. The conditions decide what -1 means:

   | on_no_data   | Argo Rollouts (AnalysisTemplate)                        | Flagger (thresholdRange) |
   |--------------|----------------------------------------------------------|--------------------------|
   | pass         | success: `result[0] < 0 \\|\\| result[0] <= T`           | max: T                   |
   | fail         | success: `result[0] >= 0 && result[0] <= T`             | min: 0, max: T           |
   |              | (no failureCondition: not successful = Failed)           |                          |
   | inconclusive | success: `result[0] >= 0 && result[0] <= T`,            | rejected by the spec     |
   |              | failure: `result[0] > T`; -1 is neither -> Inconclusive, | rules: Flagger has no    |
   |              | and Argo pauses the rollout for a human to judge.        | inconclusive outcome.    |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from compiler.runtime.catalog import BY_NAME, PREFIX

REQUESTS = BY_NAME[f"{PREFIX}_requests_total"].series[0]
DURATION_BUCKET = f"{BY_NAME[f'{PREFIX}_request_duration_seconds'].full_name}_bucket"
TTFT_BUCKET = f"{BY_NAME[f'{PREFIX}_time_to_first_token_seconds'].full_name}_bucket"
FAILED_OUTCOMES = ("server_error", "timeout")  # client errors are the caller's fault, not the release's
NO_DATA = -1
QUANTILE = 0.99


@dataclass(frozen=True)
class Check:
    name: str  # DNS-1123 label: the metric's name in the AnalysisTemplate / MetricTemplate
    query: str  # PromQL, ending in the no-data sentinel
    threshold: float  # the largest acceptable value


@dataclass(frozen=True)
class Matcher:
    """One label matcher of the canary scope; the value may hold a controller's variable."""

    label: str
    op: str  # "=" or "=~"
    value: str

    def text(self) -> str:
        return f"{self.label}{self.op}{quote(self.value)}"


def checks(model: str, max_error_ratio: float, max_p99_seconds: float, window: str,
           scope: tuple[Matcher, ...], generation: bool = False) -> tuple[Check, ...]:
    """The analysis checks; `window` is a PromQL duration or a controller's template variable,
    `scope` the matchers that keep only the canary's series; `generation`: a text-generation model."""
    latency = (Check("p99-ttft", p99_latency(model, window, scope, TTFT_BUCKET), max_p99_seconds) if generation
               else Check("p99-latency", p99_latency(model, window, scope), max_p99_seconds))
    return (Check("error-ratio", error_ratio(model, window, scope), max_error_ratio), latency)


def error_ratio(model: str, window: str, scope: tuple[Matcher, ...]) -> str:
    failed = Matcher("outcome", "=~", "|".join(FAILED_OUTCOMES))
    return _with_sentinel(
        f'(sum(rate({REQUESTS}{_selector(model, scope + (failed,))}[{window}])) or vector(0))\n'
        f'/\n'
        f'(sum(rate({REQUESTS}{_selector(model, scope)}[{window}])) > 0)')


def p99_latency(model: str, window: str, scope: tuple[Matcher, ...], bucket: str = DURATION_BUCKET) -> str:
    return _with_sentinel(
        f'histogram_quantile({QUANTILE}, sum by (le) (rate({bucket}{_selector(model, scope)}[{window}])))\n'
        f'>= 0')


def _selector(model: str, matchers: tuple[Matcher, ...]) -> str:
    return "{" + ",".join(m.text() for m in (Matcher("model", "=", model),) + matchers) + "}"


def quote(value: str) -> str:
    """A PromQL double-quoted string literal (Go escaping)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _with_sentinel(query: str) -> str:
    return f"(\n{query}\n)\nor vector({NO_DATA})\n"


def argo_conditions(threshold: float, on_no_data: str) -> dict[str, str]:
    t = number(threshold)
    within = f"result[0] >= 0 && result[0] <= {t}"
    if on_no_data == "pass":
        return {"successCondition": f"result[0] < 0 || result[0] <= {t}"}
    if on_no_data == "fail":
        return {"successCondition": within}
    if on_no_data == "inconclusive":
        return {"successCondition": within, "failureCondition": f"result[0] > {t}"}
    raise ValueError(f"unknown on_no_data policy {on_no_data!r}")


def flagger_threshold_range(threshold: float, on_no_data: str) -> dict[str, float]:
    if on_no_data == "pass":
        return {"max": threshold}
    if on_no_data == "fail":
        return {"min": 0, "max": threshold}
    # The spec rules reject this combination; reaching it is a bug, not a user error.
    raise ValueError(f"Flagger cannot express on_no_data={on_no_data!r}")


def number(value: float) -> str:
    """A plain decimal literal (no exponent), which both PromQL and Argo's expr language read."""
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
MIN_WINDOW_SECONDS = 60  # rate() needs at least two scrapes in the window (30 s is a common interval)


def rate_window(interval: str) -> str:
    """The PromQL range for one measurement: the analysis interval, but never under a minute."""
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h)", interval))
    seconds = max(int(seconds), MIN_WINDOW_SECONDS)
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"
