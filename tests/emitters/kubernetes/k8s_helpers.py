"""Shared by the Kubernetes emitter tests: build a hand-made EmitContext and emit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from compiler.emitters.base import EmitContext
from compiler.report_model import Report
from compiler.emitters.kubernetes import KubernetesEmitter
from compiler.frontend import load_spec

REPO = Path(__file__).resolve().parents[3]
TESTS = REPO / "tests"
if str(TESTS) not in sys.path:  # for crd_validate, the shared strict CRD validator
    sys.path.insert(0, str(TESTS))

# One case per rollout policy; the golden folders are named after the keys.
CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "rolling": ("digits-cnn", ("target=nvidia-a100", "rollout.strategy=rolling")),
    "blue-green": ("text-encoder", ()),
    "canary": ("digits-cnn", ()),
    # Flagger has no pause step (one weight per analysis interval): the example's weights without them.
    "flagger-canary": ("digits-cnn", ("+rollout.controller=flagger", "rollout.analysis.on_no_data=fail",
                                      "rollout.canary.steps=[{set_weight: 10}, {analysis: true}, {set_weight: 50}]")),
}


def spec_for(example: str, overrides: tuple[str, ...] | list[str] = ()):
    return load_spec(REPO / "examples" / example / "deploy.yaml", list(overrides))


def emit(example: str, overrides: tuple[str, ...] | list[str] = (), report: Report | None = None,
         runtime=None) -> dict[str, bytes]:
    ctx = EmitContext(spec=spec_for(example, overrides), selected=None, runtime=runtime, report=report)
    return KubernetesEmitter().emit(ctx)


def emit_case(case: str) -> dict[str, bytes]:
    example, overrides = CASES[case]
    return emit(example, overrides)


def manifests(files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """File name (without k8s/) -> the object as loaded back from the emitted bytes."""
    return {name.split("/", 1)[1]: yaml.safe_load(data) for name, data in files.items()}


def by_kind(files: dict[str, bytes], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in manifests(files).values() if obj.get("kind") == kind]


def one(files: dict[str, bytes], kind: str) -> dict[str, Any]:
    found = by_kind(files, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]
