"""Argo Rollouts: the Rollout (canary or blue-green) and its AnalysisTemplate.

Argo's kinds have no typed client models, so they are dicts; the pod template inside is the
same typed object the Deployment uses, sanitized, so both controllers run identical pods.

The AnalysisTemplate judges one ReplicaSet: it takes the argument `canary-hash` and filters
every series on `rollouts_pod_template_hash` (the pod label Argo sets on each ReplicaSet's
pods, copied onto the series by the ServiceMonitor's podTargetLabels). Each analysis step,
and blue-green's prePromotionAnalysis, passes `podTemplateHashValue: Latest`: the newest
ReplicaSet, which is the canary during a canary step and the preview before promotion.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from compiler.emitters.catalog_check import CANARY_HASH_LABEL
from compiler.emitters.kubernetes import analysis_queries as aq
from compiler.emitters.kubernetes import service, traffic
from compiler.emitters.kubernetes.common import Workload, plain
from compiler.frontend.spec_rollout import CanaryStep

API_VERSION = "argoproj.io/v1alpha1"
HASH_ARG = "canary-hash"
CANARY_SCOPE = (aq.Matcher(CANARY_HASH_LABEL, "=", f"{{{{args.{HASH_ARG}}}}}"),)


def analysis_template(w: Workload) -> dict[str, Any]:
    a = w.spec.rollout.analysis
    checks = aq.checks(w.model, a.max_error_ratio, a.max_p99_latency_seconds, aq.rate_window(a.interval),
                       CANARY_SCOPE, generation=w.spec.model.task == "text-generation")
    return {
        "apiVersion": API_VERSION, "kind": "AnalysisTemplate", "metadata": w.metadata_dict(),
        "spec": {"args": [{"name": HASH_ARG}], "metrics": [_metric(w, check) for check in checks]},
    }


def _metric(w: Workload, check: aq.Check) -> dict[str, Any]:
    a = w.spec.rollout.analysis
    return {
        "name": check.name,
        "interval": a.interval,
        "count": a.count,
        "failureLimit": a.failure_limit,
        **aq.argo_conditions(check.threshold, a.on_no_data),
        "provider": {"prometheus": {"address": w.spec.rollout.prometheus_url, "query": check.query}},
    }


def rollout(w: Workload, pod: client.V1PodTemplateSpec) -> dict[str, Any]:
    strategy = _blue_green(w) if w.spec.rollout.strategy == "blue-green" else _canary(w)
    # No `replicas`: the HPA scales the Rollout through its scale subresource.
    return {
        "apiVersion": API_VERSION, "kind": "Rollout", "metadata": w.metadata_dict(),
        "spec": {
            "selector": {"matchLabels": w.selector},
            "template": plain(pod),
            "revisionHistoryLimit": 5,
            "strategy": strategy,
        },
    }


def _template_ref(w: Workload) -> dict[str, Any]:
    # Latest: the newest ReplicaSet's hash, the canary's or the preview's (never the stable's).
    return {"templates": [{"templateName": w.name}],
            "args": [{"name": HASH_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}}]}


def _canary(w: Workload) -> dict[str, Any]:
    r = w.spec.rollout
    steps = [s for s in (_step(w, step) for step in r.canary.steps) if s]
    return {"canary": {"maxSurge": r.max_surge, "maxUnavailable": r.max_unavailable, "steps": steps,
                       **traffic.argo_canary_fields(w)}}


def _step(w: Workload, step: CanaryStep) -> dict[str, Any] | None:
    if step.set_weight is not None:
        return {"setWeight": step.set_weight}
    if step.pause is not None:
        return {"pause": {"duration": step.pause}}
    if step.analysis:
        return {"analysis": _template_ref(w)}
    return None  # `analysis: false` is a no-op step


def _blue_green(w: Workload) -> dict[str, Any]:
    bg = w.spec.rollout.blue_green
    out: dict[str, Any] = {
        "activeService": w.name,
        "previewService": service.preview_name(w),
        "autoPromotionEnabled": bg.auto_promotion,
        "scaleDownDelaySeconds": bg.scale_down_delay_seconds,
        "prePromotionAnalysis": _template_ref(w),
    }
    if bg.auto_promotion and bg.auto_promotion_seconds > 0:
        out["autoPromotionSeconds"] = bg.auto_promotion_seconds
    return {"blueGreen": out}
