"""Field-path differences between two plain data documents (parsed YAML or JSON).

Paths read like the data: `spec.maxReplicas`, `metadata.labels["app.kubernetes.io/version"]`,
`spec.metrics[name=error-ratio].successCondition`. Lists of mappings that all carry a unique
`name` are matched by name (a reordered container list is not a change); other lists by index.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
MISSING = object()


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any = MISSING  # MISSING: the field was added
    new: Any = MISSING  # MISSING: the field was removed

    def describe(self) -> str:
        if self.old is MISSING:
            return f"{self.path} added: {show(self.new)}"
        if self.new is MISSING:
            return f"{self.path} removed (was {show(self.old)})"
        return f"{self.path} {show(self.old)} -> {show(self.new)}"


def field_changes(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    if isinstance(old, dict) and isinstance(new, dict):
        return _dict_changes(old, new, path)
    if isinstance(old, list) and isinstance(new, list):
        return _list_changes(old, new, path)
    if old != new or type(old) is not type(new):
        return [FieldChange(path or "(document)", old, new)]
    return []


def _dict_changes(old: dict, new: dict, path: str) -> list[FieldChange]:
    out: list[FieldChange] = []
    for key in sorted(set(old) | set(new), key=str):
        sub = join(path, key)
        if key not in new:
            out.append(FieldChange(sub, old[key], MISSING))
        elif key not in old:
            out.append(FieldChange(sub, MISSING, new[key]))
        else:
            out.extend(field_changes(old[key], new[key], sub))
    return out


def _list_changes(old: list, new: list, path: str) -> list[FieldChange]:
    if _named(old) and _named(new):
        before = {item["name"]: item for item in old}
        after = {item["name"]: item for item in new}
        return _dict_like(before, after, path, lambda name: f"{path}[name={name}]")
    if all(not isinstance(x, (dict, list)) for x in old + new) and len(old) != len(new):
        return [FieldChange(path, old, new)]  # a list of scalars that grew or shrank: show it whole
    before = dict(enumerate(old))
    after = dict(enumerate(new))
    return _dict_like(before, after, path, lambda i: f"{path}[{i}]")


def _dict_like(before: dict, after: dict, path: str, name) -> list[FieldChange]:
    out: list[FieldChange] = []
    for key in sorted(set(before) | set(after), key=lambda k: (str(type(k)), k)):
        if key not in after:
            out.append(FieldChange(name(key), before[key], MISSING))
        elif key not in before:
            out.append(FieldChange(name(key), MISSING, after[key]))
        else:
            out.extend(field_changes(before[key], after[key], name(key)))
    return out


def _named(items: list) -> bool:
    names = [x.get("name") for x in items if isinstance(x, dict)]
    return bool(items) and len(names) == len(items) and all(isinstance(n, str) for n in names) \
        and len(set(names)) == len(names)


def join(path: str, key) -> str:
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def show(value: Any, limit: int = 240) -> str:
    """A value on one line: scalars as written, strings with spaces or newlines quoted."""
    if value is MISSING:
        return "(absent)"
    if isinstance(value, str):
        text = value if re.fullmatch(r"[\w./:@%+-]+", value) else json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
    else:
        text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
