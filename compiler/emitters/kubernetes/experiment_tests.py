"""promtool unit tests of an experiment's comparison queries (monitoring/experiment.test.yaml).

For each check (experiment_queries.py) five cases, each with its own input series of both
variants, evaluated once the experiment's window is full: B's share clearly higher, clearly
lower, equal, no hits at all (the 0/0 standard error), and too few samples in B. Each expects
the verdict the significance rule gives (0 better, 1 no difference, 2 worse, -1 too few), so
`promtool test rules experiment.test.yaml` checks the PromQL against a real query engine.
"""

from __future__ import annotations

from compiler.emitters.catalog_check import CANDIDATE, CONTROL, VARIANT_LABEL
from compiler.emitters.kubernetes import experiment_queries as eq
from compiler.emitters.kubernetes.analysis_queries import NO_DATA
from compiler.frontend.spec import Spec
from compiler.runtime.catalog import FEEDBACK_VALUES, OUTCOMES

INTERVAL = "1m"
# (title, B's share, A's share, whether B has fewer than min_samples in the window)
CASES = (("B's share clearly higher", 0.05, 0.01, False), ("B's share clearly lower", 0.01, 0.05, False),
         ("equal shares", 0.03, 0.03, False), ("no hits in either variant", 0.0, 0.0, False),
         ("too few samples in B", 0.5, 0.01, True))
# Samples per variant and window: 0.01 against 0.05 is then z = 7.4, significant at any allowed
# confidence (z_crit <= 3.9 at 0.9999), and twice min_samples is past the sample threshold.
SIGNIFICANT_SAMPLES = 2000
_OTHER = {"outcome": OUTCOMES, "correct": FEEDBACK_VALUES}


def unit_tests(spec: Spec, model: str) -> dict:
    checks = {c.name: c for c in eq.checks(spec, model)}
    tests = [_test(spec, model, p, checks[p.name], case) for p in eq.proportions(spec) for case in CASES]
    return {"rule_files": [], "evaluation_interval": INTERVAL, "tests": tests}


def expected(p: eq.Proportion, share_b: float, share_a: float, few: bool) -> int:
    if few:
        return NO_DATA
    if share_b == share_a:
        return eq.SAME
    higher = share_b > share_a
    return eq.WORSE if higher == (p.worse_when == "higher") else eq.BETTER


def _test(spec: Spec, model: str, p: eq.Proportion, check: eq.ExperimentCheck, case) -> dict:
    title, share_b, share_a, few = case
    minutes = _minutes(eq.window(spec))
    min_samples = spec.rollout.experiment.min_samples
    per_minute = max(2 * min_samples, SIGNIFICANT_SAMPLES) / minutes
    series = (_series(p, model, CONTROL, share_a, per_minute, minutes)
              + _series(p, model, CANDIDATE, share_b, min_samples / 2 / minutes if few else per_minute, minutes))
    value = expected(p, share_b, share_a, few)
    return {
        "name": f"{check.name}: {title}",
        "interval": INTERVAL,
        "input_series": series,
        "promql_expr_test": [{"expr": check.query, "eval_time": f"{minutes}m",
                              "exp_samples": [{"labels": "{}", "value": value}]}],
    }


def _series(p: eq.Proportion, model: str, variant: str, share: float, per_minute: float, minutes: int) -> list[dict]:
    hits_metric, hit_matchers = p.hits
    total_metric, _ = p.total
    hit_labels = {m.label: m.value.split("|")[0] for m in hit_matchers}
    base = {"model": model, VARIANT_LABEL: variant}
    hits = _counter(hits_metric, {**base, **hit_labels}, per_minute * share, minutes)
    if hits_metric != total_metric:  # a histogram: the bucket and the _count
        return [hits, _counter(total_metric, base, per_minute, minutes)]
    other = {k: next(x for x in _OTHER.get(k, (v + "-other",)) if x != v) for k, v in hit_labels.items()}
    return [hits, _counter(total_metric, {**base, **other}, per_minute * (1 - share), minutes)]


def _counter(metric: str, labels: dict[str, str], per_minute: float, minutes: int) -> dict:
    text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{metric}{{{text}}}", "values": f"0+{round(per_minute, 6)}x{minutes}"}


def _minutes(window: str) -> int:
    """Whole minutes of the window (rate_window gives minutes when it can), rounded up."""
    if window.endswith("m"):
        return int(window[:-1])
    return -(-int(window[:-1]) // 60)

