"""Build-time proof that every analysis query reads series the generated server exports.

Argo and Flagger only find out at rollout time that a query names a metric nobody exports
("no values found"); by then the release is half out. Here a query that names an unknown
series, a label the series does not carry, or a label value the runtime never sets (`outcome`,
`le`) fails the build, naming the object and the query. The rules themselves live in
compiler/emitters/catalog_check.py, shared with the monitoring emitter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from compiler.emitters import catalog_check
from compiler.errors import DeploycError


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


def check(queries: Iterable[NamedQuery], known: catalog_check.Known | None = None) -> None:
    """`known`: the series and labels this build's scrape config gives (default: catalog_check.known_series())."""
    issues = [f"{q.owner}: {problem}" for q in queries for problem in problems(q.query, known)]
    if issues:
        raise MetricCrossCheckError(
            "analysis queries name series the runtime does not export "
            "(see compiler/runtime/catalog.py):\n" + "\n".join(f"  - {i}" for i in issues))


def problems(query: str, known: catalog_check.Known | None = None) -> list[str]:
    """What in one query the scraped series do not carry (compiler/emitters/catalog_check.py)."""
    return catalog_check.expr_problems(query, known)
