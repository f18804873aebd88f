"""Strict validation of custom resources against the upstream CRD schemas vendored in schemas/crds/.

An API server prunes fields a CRD does not declare; `kubectl --validate=strict` rejects them.
These tests do the latter: every object schema that lists `properties` (and does not carry
`x-kubernetes-preserve-unknown-fields`) gets `additionalProperties: false`, recursively.

Use:
    from crd_validate import validate_custom
    validate_custom(obj)            # raises jsonschema.ValidationError, or LookupError for an unknown kind

schemas/crds/README.md names each file's upstream project, version and path.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
CRDS_DIR = REPO_ROOT / "schemas" / "crds"
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


@lru_cache(maxsize=None)
def schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict JSON schema, for every CRD version in the folder."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    paths = sorted(CRDS_DIR.glob("*.yaml"))
    if not paths:  # a missing folder must fail the tests, never skip them
        raise FileNotFoundError(f"no CRD schemas in {CRDS_DIR}")
    for path in paths:
        # libyaml's loader where present: the KServe and LeaderWorkerSet CRDs are megabytes.
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if schema is not None:
                    out[(f"{group}/{version['name']}", kind)] = strict(schema)
    return out


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` where objects with declared properties reject undeclared fields."""
    schema = copy.deepcopy(schema)
    # An API server always accepts these at the root, declared or not (Istio's schemas omit them).
    for key, kind in (("apiVersion", "string"), ("kind", "string"), ("metadata", "object")):
        schema.setdefault("properties", {}).setdefault(key, {"type": kind})
    _tighten(schema)
    return schema


def _tighten(node: Any) -> None:
    if not isinstance(node, dict):
        return
    if ("properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        node["additionalProperties"] = False
    for sub in (node.get("properties") or {}).values():
        _tighten(sub)
    for key in ("items", "additionalProperties", "not"):
        _tighten(node.get(key))
    for key in _SUBSCHEMA_LISTS:
        for sub in node.get(key) or ():
            _tighten(sub)


def validate_custom(obj: dict[str, Any]) -> None:
    key = (obj.get("apiVersion"), obj.get("kind"))
    schema = schemas().get(key)
    if schema is None:
        raise LookupError(f"no CRD schema for {key[0]} {key[1]} in {CRDS_DIR}")
    jsonschema.Draft7Validator(schema).validate(obj)
