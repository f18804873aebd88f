"""rollout.strategy canary (controller argo) for vLLM: an Argo Rollout of the same pods, whose
analysis steps judge the newest ReplicaSet on vLLM's own series (monitoring.analysis_template,
scoped by the `rollouts_pod_template_hash` label the ServiceMonitor copies from the pods).
Without a traffic router the canary's share is its share of the replicas, as for deployc's server.
A replica that spans nodes (a LeaderWorkerSet) rolls out with LeaderWorkerSet's own rolling update."""

from __future__ import annotations

from typing import Any

from compiler.capacity import EnginePlan
from compiler.emitters.kubernetes.common import plain
from compiler.emitters.vllm import manifests, pods, server
from compiler.errors import SpecError, SpecIssue
from compiler.frontend.spec import Spec
from compiler.frontend.spec_rollout import CanaryStep

API = "argoproj.io/v1alpha1"
HASH_ARG = "canary-hash"


def wanted(spec: Spec, engine: EnginePlan) -> bool:
    """True for a canary Rollout; False for a plain rolling Deployment (or LeaderWorkerSet)."""
    r = spec.rollout
    if r.strategy == "rolling":
        return False
    if r.strategy != "canary" or r.controller != "argo":
        raise SpecError(SpecIssue("rollout.strategy", f"serve.engine vllm rolls out with rolling or canary (controller "
                                                      f"argo); got {r.strategy} ({r.controller})"))
    if r.traffic.router != "none":
        raise SpecError(SpecIssue("rollout.traffic.router", "the vLLM canary splits traffic by replicas; a traffic "
                                                            "router is not wired for serve.engine vllm yet (none)"))
    if engine.capacity.multi_node:
        raise SpecError(SpecIssue("rollout.strategy", f"one vLLM replica spans {engine.capacity.pipeline_parallel} "
                                                      "nodes (a LeaderWorkerSet), which rolls out with its own rolling "
                                                      "update: use rollout.strategy rolling"))
    return True


def _step(step: CanaryStep, template: str) -> dict[str, Any] | None:
    if step.set_weight is not None:
        return {"setWeight": step.set_weight}
    if step.pause is not None:
        return {"pause": {"duration": step.pause}}
    if step.analysis:
        return {"analysis": {"templates": [{"templateName": template}],
                             "args": [{"name": HASH_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}}]}}
    return None


def rollout(spec: Spec, engine: EnginePlan, template: str) -> dict[str, Any]:
    r = spec.rollout
    steps = [s for s in (_step(step, template) for step in r.canary.steps) if s]
    pod = pods.pod_template(spec, engine, server.serve_command(spec, engine))
    return {"apiVersion": API, "kind": "Rollout", "metadata": plain(manifests.meta(spec)),
            "spec": {"replicas": manifests.replicas(spec, engine)[0],
                     "selector": {"matchLabels": pods.selector(spec)}, "template": plain(pod),
                     "revisionHistoryLimit": 5,
                     "strategy": {"canary": {"maxSurge": r.max_surge, "maxUnavailable": r.max_unavailable,
                                             "steps": steps}}}}
