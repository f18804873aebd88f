"""Shared by the vLLM emitter tests: the 70B example planned and emitted for a target."""

from __future__ import annotations

from functools import lru_cache

import yaml

from compiler.emitters.base import EmitContext
from compiler.emitters.registry import emitter
from compiler.frontend import load_spec
from compiler.planner import plan
from tests.conftest import EXAMPLES

SPEC = EXAMPLES / "llama70b-plan" / "llama70b.yaml"
# A syntactically valid digest for tests only: deployc never looks a digest up.
TEST_DIGEST = "sha256:" + "0123456789abcdef" * 4
ONE_NODE: tuple[str, ...] = ()
TWO_NODES = ("target=nvidia-h100x8-2node", "serve.max_concurrency=256")
EMITTERS = ("vllm-image", "vllm-kubernetes", "vllm-monitoring")


def spec_of(*overrides: str):
    return load_spec(SPEC, [*overrides, f"serve.vllm.image_digest={TEST_DIGEST}"])


@lru_cache(maxsize=None)
def emit(overrides: tuple[str, ...]) -> dict[str, bytes]:
    spec = spec_of(*overrides)
    p = plan(spec)
    files: dict[str, bytes] = {}
    for step in p.emitters:
        if step.name in EMITTERS and step.run:
            files.update(emitter(step.name).emit(EmitContext(spec, None, None, engine=p.engine_plan)))
    return files


def objects(overrides: tuple[str, ...]) -> dict[str, dict]:
    """Every Kubernetes object emitted (k8s/, kserve/, monitoring/ manifests), by file name."""
    out = {}
    for name, data in emit(overrides).items():
        if name.startswith(("k8s/", "kserve/", "monitoring/")) and name.endswith(".yaml"):
            doc = yaml.safe_load(data)
            if "apiVersion" in doc:
                out[name] = doc
    return out
