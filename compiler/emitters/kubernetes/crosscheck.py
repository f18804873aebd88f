"""Build-time proof that every analysis query reads series the generated server exports.

Argo and Flagger only find out at rollout time that a query names a metric nobody exports
("no values found"); by then the release is half out. Here a query that names an unknown
series, a label the series does not carry, or an `outcome` the runtime never sets fails the
build, naming the object and the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from compiler.emitters import promql
from compiler.errors import DeploycError
from compiler.runtime import catalog

_WORD = re.compile(r"^[A-Za-z0-9_]+$")


class MetricCrossCheckError(DeploycError):
    """A generated query names a metric, label or label value the runtime does not export."""


@dataclass(frozen=True)
class NamedQuery:
    owner: str  # e.g. "AnalysisTemplate/digits-cnn metric error-ratio"
    query: str


def queries_in(objects: Iterable[dict[str, Any]]) -> list[NamedQuery]:
    """Every PromQL query and metric reference in plain (serialized) manifests."""
    found: list[NamedQuery] = []
    for obj in objects:
        kind, spec = obj.get("kind"), obj.get("spec") or {}
        ref = f"{kind}/{(obj.get('metadata') or {}).get('name')}"
        if kind == "AnalysisTemplate":
            for m in spec.get("metrics", []):
                query = ((m.get("provider") or {}).get("prometheus") or {}).get("query")
                if query:
                    found.append(NamedQuery(f"{ref} metric {m.get('name')}", query))
        elif kind == "MetricTemplate":
            found.append(NamedQuery(ref, spec.get("query", "")))
        elif kind == "Canary":
            for m in (spec.get("analysis") or {}).get("metrics", []):
                if m.get("query"):
                    found.append(NamedQuery(f"{ref} metric {m.get('name')}", m["query"]))
        elif kind == "HorizontalPodAutoscaler":
            for m in spec.get("metrics", []):
                if m.get("type") == "Pods":
                    found.append(NamedQuery(f"{ref} Pods metric", m["pods"]["metric"]["name"]))
    return found


def check(queries: Iterable[NamedQuery]) -> None:
    issues = [f"{q.owner}: {problem}" for q in queries for problem in problems(q.query)]
    if issues:
        raise MetricCrossCheckError(
            "analysis queries name series the runtime does not export "
            "(see compiler/runtime/catalog.py):\n" + "\n".join(f"  - {i}" for i in issues))


def problems(query: str) -> list[str]:
    try:
        parsed = promql.names(query)
    except promql.PromQLSyntaxError as exc:
        return [f"cannot read query: {exc}"]
    out: list[str] = []
    known: set[str] = set()
    for sel in parsed.selectors:
        labels = catalog.series_labels(sel.metric) if sel.metric else None
        if labels is None:
            out.append(f"unknown metric {sel.metric!r}" if sel.metric else "selector without a metric name")
            continue
        known.update(labels)
        out.extend(_matcher_problems(sel, labels))
    for label in parsed.grouping_labels:
        if label not in known:
            out.append(f"grouping label {label!r} is not on any series the query reads")
    return out


def _matcher_problems(sel: promql.Selector, labels: tuple[str, ...]) -> list[str]:
    out = []
    for m in sel.matchers:
        if m.label == "__name__":
            continue
        if m.label not in labels:
            out.append(f"unknown label {m.label!r} on {sel.metric} (it has: {', '.join(labels)})")
        elif m.label == "outcome":
            out.extend(f"{sel.metric}: outcome {v!r} is never set (outcomes: {', '.join(catalog.OUTCOMES)})"
                       for v in _literal_values(m) if v not in catalog.OUTCOMES)
    return out


def _literal_values(m: promql.Matcher) -> list[str]:
    """The plain values a matcher names: `a` for =/!=, each of `a|b` for =~/!~ (regex parts skipped)."""
    if m.value.startswith("{{"):
        return []
    parts = m.value.split("|") if m.op in ("=~", "!~") else [m.value]
    return [p for p in parts if _WORD.match(p)]
