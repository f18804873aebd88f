"""An A/B experiment's analysis: is variant B (candidate) better than variant A (control)?

Each check compares one proportion between the variants over the experiment's window (the
analysis interval times rollout.analysis.count: every sample since the experiment began):
- error-ratio: failed requests (server_error, timeout) over all requests; worse when higher;
- slow-ratio: latency as a proportion, requests slower than monitoring.slo.latency_threshold_seconds
  (read from that bucket of the request-duration histogram); worse when higher;
- quality: the share of rollout.experiment.quality_metric's increase that carries its `match`
  labels (default: feedback marked correct, deployc_feedback_total{correct="true"}); worse when
  lower, or higher with `better: lower`.
Series of each variant are selected by the scrape label `variant` (control | candidate), which
the ServiceMonitor's relabelings add (compiler/emitters/catalog_check.py: variant_relabelings).

The significance rule: a two-proportion z-test
    p_A = x_A / n_A,  p_B = x_B / n_B,  p = (x_A + x_B) / (n_A + n_B)
    z = d / sqrt(p (1 - p) (1/n_A + 1/n_B)),  d = p_B - p_A (signed so that d > 0 is "B worse")
two-sided at rollout.experiment.confidence (z_crit = 1.96 at 0.95). Each query answers a verdict:
     0  B significantly better (z < -z_crit)
     1  no significant difference
     2  B significantly worse  (z > z_crit)
    -1  too few samples: n_A or n_B under rollout.experiment.min_samples, or no traffic
        (the no-data sentinel of analysis_queries.py; rollout.analysis.on_no_data decides)
written as `1 + sgn(d) * (abs(d) / se > bool z_crit)`. When both shares are 0 or both 1, se is 0
and d is 0: 0/0 is NaN, `NaN > bool z` is 0, and the verdict is 1, which is right (the shares
are equal), so NaN never reaches a threshold. A variant without the hit series counts 0 hits.

Error and slow ratios are guards (pass: verdict 0 or 1, B is not worse). Quality is the goal:
with Argo it passes only at 0 (B significantly better), fails at 2, and anything else is
inconclusive, so Argo pauses the rollout for a person when the experiment shows no difference.
Flagger has no inconclusive outcome and cannot wait: there quality passes at 0 or 1 (B not worse).
Checking at every interval reuses the data ("peeking"), which raises the false-positive rate
above 1 - confidence: choose a higher confidence, a larger min_samples, or fewer measurements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from statistics import NormalDist

from prometheus_client.utils import floatToGoString

from compiler.emitters.catalog_check import CANDIDATE, CONTROL, VARIANT_LABEL
from compiler.emitters.kubernetes import analysis_queries as aq
from compiler.frontend.spec import Spec
from compiler.runtime.catalog import BY_NAME, PREFIX

DURATION = BY_NAME[f"{PREFIX}_request_duration_seconds"].full_name
BETTER, SAME, WORSE = 0, 1, 2


@dataclass(frozen=True)
class Proportion:
    """hits / total, each a metric name and its matchers (besides model and variant)."""

    name: str
    hits: tuple[str, tuple[aq.Matcher, ...]]
    total: tuple[str, tuple[aq.Matcher, ...]]
    worse_when: str  # higher | lower


@dataclass(frozen=True)
class ExperimentCheck:
    name: str
    query: str
    goal: bool  # True: B must be better (quality); False: a guard, B must not be worse


def window(spec: Spec) -> str:
    """Every sample since the experiment began: interval x count, at least a minute."""
    a = spec.rollout.analysis
    seconds = _seconds(a.interval) * a.count
    return aq.rate_window(f"{max(round(seconds), 1)}s")


def z_critical(confidence: float) -> float:
    return round(NormalDist().inv_cdf(1 - (1 - confidence) / 2), 4)


def proportions(spec: Spec) -> tuple[Proportion, ...]:
    q = spec.rollout.experiment.quality_metric
    bound = floatToGoString(spec.monitoring.slo.latency_threshold_seconds)
    failed = aq.Matcher("outcome", "=~", "|".join(aq.FAILED_OUTCOMES))
    return (
        Proportion("error-ratio", (aq.REQUESTS, (failed,)), (aq.REQUESTS, ()), "higher"),
        # Fast requests are the bucket at the bound; worse when their share is lower.
        Proportion("slow-ratio", (f"{DURATION}_bucket", (aq.Matcher("le", "=", bound),)),
                   (f"{DURATION}_count", ()), "lower"),
        Proportion("quality", (q.name, tuple(aq.Matcher(k, "=", v) for k, v in sorted(q.match.items()))),
                   (q.name, ()), "lower" if q.better == "higher" else "higher"),
    )


def checks(spec: Spec, model: str) -> tuple[ExperimentCheck, ...]:
    e = spec.rollout.experiment
    return tuple(ExperimentCheck(p.name, verdict(p, model, window(spec), z_critical(e.confidence), e.min_samples),
                                 p.name == "quality")
                 for p in proportions(spec))


def verdict(p: Proportion, model: str, window: str, z: float, min_samples: int) -> str:
    def count(series: tuple[str, tuple[aq.Matcher, ...]], variant: str) -> str:
        metric, matchers = series
        sel = ",".join(m.text() for m in (aq.Matcher("model", "=", model), *matchers,
                                          aq.Matcher(VARIANT_LABEL, "=", variant)))
        return f"sum(increase({metric}{{{sel}}}[{window}]))"

    n_a, n_b = count(p.total, CONTROL), count(p.total, CANDIDATE)
    x_a, x_b = (f"({count(p.hits, v)} or vector(0))" for v in (CONTROL, CANDIDATE))
    share_a, share_b = f"{x_a} / {n_a}", f"{x_b} / {n_b}"
    d = f"({share_b} - {share_a})" if p.worse_when == "higher" else f"({share_a} - {share_b})"
    pooled = f"(({x_a} + {x_b}) / ({n_a} + {n_b}))"
    se = f"sqrt({pooled} * (1 - {pooled}) * (1 / {n_a} + 1 / {n_b}))"
    return (f"(\n(\n  1 + sgn({d}) * (abs({d}) / {se} > bool {aq.number(z)})\n)\n"
            f"and on() ({n_a} >= {min_samples})\nand on() ({n_b} >= {min_samples})\n)\n"
            f"or vector({aq.NO_DATA})\n")


def argo_conditions(check: ExperimentCheck, on_no_data: str) -> dict[str, str]:
    if not check.goal:
        return aq.argo_conditions(SAME, on_no_data)
    if on_no_data == "pass":
        return {"successCondition": f"result[0] <= {BETTER}", "failureCondition": f"result[0] == {WORSE}"}
    if on_no_data == "fail":
        return {"successCondition": f"result[0] == {BETTER}",
                "failureCondition": f"result[0] == {WORSE} || result[0] < 0"}
    return {"successCondition": f"result[0] == {BETTER}", "failureCondition": f"result[0] == {WORSE}"}


def flagger_threshold_range(check: ExperimentCheck, on_no_data: str) -> dict[str, float]:
    # Flagger cannot wait for significance: the goal passes when B is not worse, like a guard.
    return aq.flagger_threshold_range(SAME, on_no_data)


_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def _seconds(interval: str) -> float:
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h)", interval))
