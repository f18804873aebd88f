"""Prometheus rules added, removed and changed, by group and alert/record name.

Rules come from plain rule files (`groups:` at the top, what promtool reads) and from
PrometheusRule objects; the same rule in both is one rule. When only numbers in an `expr`
changed (a threshold, a burn-rate factor), the change names the numbers instead of printing
two long expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from compiler.diff.fields import FieldChange, field_changes
from compiler.diff.k8s import RULE_KIND, is_object

# A numeric literal standing alone: not the 5 of [5m], the 1 of rate1h, or a label value's digits.
_NUMBER = re.compile(r"(?<![\w.\"])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.\"])")


@dataclass(frozen=True)
class Rule:
    group: str
    kind: str  # alert | record
    name: str
    body: dict


@dataclass(frozen=True)
class RuleChange:
    group: str
    kind: str
    name: str
    status: str  # added | removed | changed
    fields: list[FieldChange] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.group}/{self.name}"


def rule_groups(doc) -> list | None:
    if is_object(doc):
        spec = doc.get("spec")
        return spec.get("groups") if doc["kind"] == RULE_KIND and isinstance(spec, dict) else None
    if isinstance(doc, dict) and isinstance(doc.get("groups"), list) \
            and all(isinstance(g, dict) and "rules" in g for g in doc["groups"]):
        return doc["groups"]
    return None


def rules(documents: dict[str, list]) -> dict[tuple, Rule]:
    found: dict[tuple, Rule] = {}
    for _, docs in sorted(documents.items()):
        for doc in docs:
            seen: dict[tuple, int] = {}
            for group in rule_groups(doc) or []:
                for body in group.get("rules") or []:
                    if not isinstance(body, dict):
                        continue
                    kind = "alert" if "alert" in body else "record"
                    base = (str(group.get("name", "")), kind, str(body.get(kind, "")))
                    seen[base] = seen.get(base, 0) + 1  # one alert name may carry several severities
                    found.setdefault((*base, seen[base]), Rule(*base, body))
    return found


def covered_files(documents: dict[str, list]) -> set[str]:
    return {rel for rel, docs in documents.items() if docs and all(rule_groups(d) is not None for d in docs)}


def rule_changes(old_docs: dict[str, list], new_docs: dict[str, list]) -> list[RuleChange]:
    before, after = rules(old_docs), rules(new_docs)
    out: list[RuleChange] = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None:
            out.append(RuleChange(b.group, b.kind, b.name, "added"))
        elif b is None:
            out.append(RuleChange(a.group, a.kind, a.name, "removed"))
        else:
            changes = _rule_fields(a.body, b.body)
            if changes:
                out.append(RuleChange(b.group, b.kind, b.name, "changed", changes))
    return out


def _rule_fields(old: dict, new: dict) -> list[FieldChange]:
    rest = field_changes({k: v for k, v in old.items() if k != "expr"}, {k: v for k, v in new.items() if k != "expr"})
    return expr_changes(old.get("expr"), new.get("expr")) + rest


def expr_changes(old, new) -> list[FieldChange]:
    if old == new:
        return []
    if isinstance(old, str) and isinstance(new, str):
        a, b = _NUMBER.findall(old), _NUMBER.findall(new)
        if _NUMBER.sub("#", old) == _NUMBER.sub("#", new) and len(a) == len(b):
            pairs = list(dict.fromkeys((x, y) for x, y in zip(a, b) if x != y))
            return [FieldChange("expr threshold", _number(x), _number(y)) for x, y in pairs]
    return [FieldChange("expr", old, new)]


def _number(text: str):
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
