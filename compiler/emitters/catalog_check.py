"""Checks one PromQL expression against the runtime's metric catalog: the one rule set behind
the kubernetes emitter's analysis-query check and the monitoring emitter's rule/panel check.

The catalog (compiler/runtime/catalog.py) is the only source of metric names. Besides it,
an expression may name:
- SCRAPE_LABELS, the target labels every series scraped from the runtime carries (and `up`,
  the series Prometheus writes per target). The runtime cannot know its pod or ReplicaSet, so
  these are added at scrape time, not exported: `job` and `instance` by Prometheus itself;
  `namespace` and `pod` by the Prometheus Operator for every ServiceMonitor target; and the
  series forms of POD_TARGET_LABELS, which the generated ServiceMonitor copies from the pod
  (`podTargetLabels`; compiler/emitters/monitoring/manifests.py reads the same constant and
  documents the relabel_configs a plain Prometheus needs for the same labels). So a query may
  only filter on a scrape label the generated scrape config really adds;
- series recorded by an earlier rule of the same build, with the labels that rule keeps
  (the caller adds them to `known`).
Label values are checked where the catalog fixes them: `outcome` against the runtime's
outcomes, `le` against the histogram's bounds as prometheus_client writes them. Each emitter
wraps the problems in its own error, naming the object that holds the expression.
"""

from __future__ import annotations

import re

from prometheus_client.utils import floatToGoString

from compiler.emitters import promql
from compiler.runtime.catalog import OUTCOMES, SERIES, series_labels

Known = dict[str, frozenset[str]]  # series name -> the labels it carries

# Prometheus itself: every scrape config.
TARGET_LABELS = frozenset({"job", "instance"})
# The Prometheus Operator, for every ServiceMonitor endpoint: series label -> the Kubernetes
# discovery label it is taken from (a plain Prometheus scrape job relabels the same).
KUBERNETES_TARGET_LABELS = {"namespace": "__meta_kubernetes_namespace", "pod": "__meta_kubernetes_pod_name"}
# Pod labels the generated ServiceMonitor copies onto the series. Argo Rollouts sets this one
# on the pods of each ReplicaSet it creates: it tells the canary's series from the stable's.
ROLLOUTS_HASH_POD_LABEL = "rollouts-pod-template-hash"
POD_TARGET_LABELS = (ROLLOUTS_HASH_POD_LABEL,)
PROMETHEUS_SERIES = {"up": frozenset()}


def series_label(pod_label: str) -> str:
    """The series label a pod label becomes: the Operator (and the `__meta_kubernetes_pod_label_*`
    discovery labels) replace each character not valid in a label name by `_`."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", pod_label)


CANARY_HASH_LABEL = series_label(ROLLOUTS_HASH_POD_LABEL)  # rollouts_pod_template_hash
# A/B experiments (rollout.strategy experiment): which variant a pod serves, as the series label
# `variant`, added by the ServiceMonitor's relabelings (variant_relabelings), never by the runtime.
VARIANT_LABEL = "variant"
CONTROL, CANDIDATE = "control", "candidate"  # variant A (Argo's stable, Flagger's primary), variant B
# Argo Rollouts sets this pod label from the Rollout's stableMetadata/canaryMetadata, and rewrites
# it when it promotes the canary, so a pod's series always carry its current role.
VARIANT_POD_LABEL = "deployc.dev/variant"
SCRAPE_LABELS = TARGET_LABELS | frozenset(KUBERNETES_TARGET_LABELS) | frozenset(map(series_label, POD_TARGET_LABELS))
# Only an experiment's ServiceMonitor adds `variant`: other builds' queries may not filter on it.
EXPERIMENT_LABELS = frozenset({VARIANT_LABEL})


def variant_relabelings(controller: str, name: str) -> list[dict[str, str | list[str]]]:
    """ServiceMonitor relabelings that put `variant` on an experiment's series.

    Argo: the pod label Argo maintains (VARIANT_POD_LABEL). Flagger has no per-track pod metadata;
    it copies the target Deployment to `<name>-primary` and renames the selector label
    (app.kubernetes.io/name) of the copy's pods to `<name>-primary`, so that label tells them apart.
    Relabel regexes are anchored: `<name>` never matches `<name>-primary`."""
    if controller == "argo":
        source = f"__meta_kubernetes_pod_label_{series_label(VARIANT_POD_LABEL)}"
        return [{"sourceLabels": [source], "targetLabel": VARIANT_LABEL}]
    source = "__meta_kubernetes_pod_label_app_kubernetes_io_name"
    return [{"sourceLabels": [source], "regex": regex, "targetLabel": VARIANT_LABEL, "replacement": variant}
            for regex, variant in ((f"{name}-primary", CONTROL), (name, CANDIDATE))]  # DNS labels: no metacharacters


def known_series(extra: frozenset[str] = frozenset()) -> Known:
    """Series an expression may name, with their labels (before any recording rule); `extra`:
    scrape labels this build's scrape config adds besides SCRAPE_LABELS (EXPERIMENT_LABELS)."""
    scraped = SCRAPE_LABELS | extra
    known = {name: frozenset(series_labels(name) or ()) | scraped for name in SERIES}
    known.update({k: v | scraped for k, v in PROMETHEUS_SERIES.items()})
    return known


def expr_problems(expr: str, known: Known | None = None) -> list[str]:
    """Every name or label value in `expr` that no known series carries; empty if none."""
    known = known if known is not None else known_series()
    try:
        parsed = promql.names(expr)
    except promql.PromQLSyntaxError as exc:
        return [f"cannot read query: {exc}"]
    if not parsed.selectors:
        return [f"expression names no metric: {expr}"]
    out: list[str] = []
    for sel in parsed.selectors:
        if sel.metric is None:
            out.append("selector without a metric name")
        elif sel.metric not in known:
            out.append(f"unknown metric '{sel.metric}' (not exported by the runtime)")
        else:
            out.extend(_matcher_problems(sel, known[sel.metric]))
    # Grouping labels are judged against the series read; an unknown one would only add noise.
    if all(sel.metric in known for sel in parsed.selectors):
        out.extend(_grouping_problems(parsed, known))
    return list(dict.fromkeys(out))  # a metric named twice is one problem


def result_labels(expr: str, known: Known) -> frozenset[str]:
    """Labels the result of a checked expression can carry: its grouping labels, or else those
    of the series it reads (what a recording rule of it keeps)."""
    parsed = promql.names(expr)
    if parsed.grouping_labels:
        return frozenset(parsed.grouping_labels)
    return frozenset().union(*(known[s.metric] for s in parsed.selectors))


def _grouping_problems(parsed: promql.QueryNames, known: Known) -> list[str]:
    metrics = sorted({s.metric for s in parsed.selectors})
    available = frozenset().union(*(known[m] for m in metrics))
    return [f"grouping label '{label}' is not on any series the query reads ({', '.join(metrics)})"
            for label in sorted(set(parsed.grouping_labels) - available)]


def _matcher_problems(sel: promql.Selector, labels: frozenset[str]) -> list[str]:
    out = []
    for m in sel.matchers:
        if m.label == "__name__":
            continue
        if m.label not in labels:
            out.append(f"unknown label '{m.label}': '{m.label}' is not on metric '{sel.metric}' "
                       f"(it has: {', '.join(sorted(labels))})")
            continue
        fixed = _fixed_values(sel.metric, m.label)
        if fixed is None or "{{" in m.value:  # a controller fills templates in at rollout time
            continue
        out.extend(f'{sel.metric}{{{m.label}{m.op}"{m.value}"}}: {m.label} {v!r} is never set '
                   f"(values: {', '.join(fixed)})" for v in _unmatched(m, fixed))
    return out


def _fixed_values(metric: str, label: str) -> tuple[str, ...] | None:
    if label == "outcome":
        return OUTCOMES
    if label == "le" and metric in SERIES:
        return tuple(floatToGoString(b) for b in SERIES[metric].buckets) + ("+Inf",)
    return None


def _unmatched(m: promql.Matcher, fixed: tuple[str, ...]) -> list[str]:
    """The alternatives of a matcher's value that select none of `fixed`: the value itself for
    =/!=, each `a|b` part for =~/!~ (anchored regexes, as Prometheus matches them). A typo in a
    negative matcher is a bug too: `outcome!="sucess"` silently keeps every series."""
    if m.op in ("=", "!="):
        return [] if m.value in fixed else [m.value]
    parts = m.value.split("|")
    if _regex(m.value) and not all(_regex(p) for p in parts):  # a `|` inside a group
        parts = [m.value]
    return [p for p in parts if not _selects(p, fixed)]


def _selects(pattern: str, fixed: tuple[str, ...]) -> bool:
    regex = _regex(pattern)
    if regex is None:  # not a Python regex (`+Inf`): take it literally
        return pattern in fixed
    return any(regex.fullmatch(v) for v in fixed)


def _regex(pattern: str) -> re.Pattern | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None
