"""Kubernetes objects added, removed and changed, by kind/name, with field paths.

Objects are found in every YAML file of a tree (k8s/, monitoring/), so moving an object to
another file is not a change. A PrometheusRule's rule groups are compared rule by rule in
rules.py; here only the rest of that object (labels, namespace) is compared.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from compiler.diff.fields import FieldChange, field_changes

RULE_KIND = "PrometheusRule"


@dataclass(frozen=True)
class K8sObject:
    kind: str
    name: str
    namespace: str
    file: str
    body: dict

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class ObjectChange:
    kind: str
    name: str
    namespace: str
    status: str  # added | removed | changed
    file: str
    fields: list[FieldChange] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


def is_object(doc) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("kind"), str) and isinstance(doc.get("apiVersion"), str)


def objects(documents: dict[str, list]) -> dict[tuple[str, str, str], K8sObject]:
    found: dict[tuple[str, str, str], K8sObject] = {}
    for rel, docs in sorted(documents.items()):
        for doc in docs:
            if not is_object(doc):
                continue
            meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
            # Kustomization and friends have no metadata.name: the file names them.
            obj = K8sObject(doc["kind"], str(meta.get("name") or rel), str(meta.get("namespace") or ""), rel, doc)
            found.setdefault(obj.key, obj)
    return found


def object_changes(old_docs: dict[str, list], new_docs: dict[str, list]) -> list[ObjectChange]:
    before, after = objects(old_docs), objects(new_docs)
    out: list[ObjectChange] = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None:
            out.append(ObjectChange(b.kind, b.name, b.namespace, "added", b.file))
        elif b is None:
            out.append(ObjectChange(a.kind, a.name, a.namespace, "removed", a.file))
        else:
            changes = field_changes(_comparable(a.body), _comparable(b.body))
            if changes:
                out.append(ObjectChange(b.kind, b.name, b.namespace, "changed", b.file, changes))
    return out


def _comparable(body: dict) -> dict:
    if body.get("kind") != RULE_KIND or not isinstance(body.get("spec"), dict):
        return body
    trimmed = copy.deepcopy(body)
    trimmed["spec"].pop("groups", None)
    return trimmed


def covered_files(documents: dict[str, list]) -> set[str]:
    """YAML files whose every document is an object: their changes are all shown here."""
    return {rel for rel, docs in documents.items() if docs and all(is_object(d) for d in docs)}
