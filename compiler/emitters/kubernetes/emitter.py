"""Assemble the k8s/ folder for one target: one object per file, plus kustomization.yaml.

Which objects depend on rollout.strategy and rollout.controller:
- rolling:              Deployment (RollingUpdate)
- blue-green (argo):    Rollout blueGreen + preview Service + AnalysisTemplate
- canary (argo):        Rollout canary + AnalysisTemplate, + the router's Services and object (traffic.py)
- canary (flagger):     Deployment + Canary + MetricTemplates (Flagger makes the Services), + an Ingress for nginx
- experiment:           the same objects as a canary of its controller, with an A/B analysis (experiment.py)
and always ServiceAccount, HPA, PodDisruptionBudget, NetworkPolicy and the metrics Service.
"""

from __future__ import annotations

from typing import Any

from compiler.emitters.base import EmitContext, Files
from compiler.emitters.catalog_check import EXPERIMENT_LABELS, known_series
from compiler.emitters.kubernetes import (argo, crosscheck, experiment, flagger, policies, service, traffic,
                                         workload)
from compiler.emitters.kubernetes.common import Workload, plain, to_yaml, workload_of

FOLDER = "k8s"


class KubernetesEmitter:
    name = "kubernetes"

    def emit(self, ctx: EmitContext) -> Files:
        manifests = build(workload_of(ctx))
        experiment = ctx.spec.rollout.strategy == "experiment"  # its ServiceMonitor adds `variant`
        known = known_series(EXPERIMENT_LABELS if experiment else frozenset())
        crosscheck.check(crosscheck.queries_in(manifests.values()), known)
        files = {f"{FOLDER}/{name}": to_yaml(obj) for name, obj in manifests.items()}
        files[f"{FOLDER}/kustomization.yaml"] = to_yaml(kustomization(ctx.spec.rollout.namespace, manifests))
        return files


def build(w: Workload) -> dict[str, dict[str, Any]]:
    """File name -> manifest as plain data."""
    pod = workload.pod_template(w)
    rollout = w.spec.rollout
    objects: dict[str, Any] = {
        "serviceaccount.yaml": policies.service_account(w),
        "service-metrics.yaml": service.metrics(w),
        "pdb.yaml": policies.pdb(w),
        "networkpolicy.yaml": policies.network_policy(w),
    }
    if rollout.strategy == "experiment" and rollout.controller == "flagger":
        objects["deployment.yaml"] = workload.deployment(w, pod, workload.rolling_strategy(w))
        objects["canary.yaml"] = experiment.flagger_canary(w)
        for check, template in experiment.flagger_metric_templates(w).items():
            objects[f"metrictemplate-{check}.yaml"] = template
        objects.update(traffic.flagger_objects(w))
        target = policies.ScaleTarget("apps/v1", "Deployment", w.name)
    elif rollout.strategy == "experiment":
        objects["rollout.yaml"] = experiment.argo_rollout(w, pod)
        objects["analysistemplate.yaml"] = experiment.argo_analysis_template(w)
        objects.update(traffic.argo_objects(w))
        target = policies.ScaleTarget(argo.API_VERSION, "Rollout", w.name)
    elif rollout.strategy == "canary" and rollout.controller == "flagger":
        objects["deployment.yaml"] = workload.deployment(w, pod, workload.rolling_strategy(w))
        objects["canary.yaml"] = flagger.canary(w)
        for check, template in flagger.metric_templates(w).items():
            objects[f"metrictemplate-{check}.yaml"] = template
        objects.update(traffic.flagger_objects(w))
        target = policies.ScaleTarget("apps/v1", "Deployment", w.name)
    elif rollout.strategy in ("canary", "blue-green"):
        objects["rollout.yaml"] = argo.rollout(w, pod)
        objects["analysistemplate.yaml"] = argo.analysis_template(w)
        if rollout.strategy == "blue-green":
            objects["service.yaml"] = service.serving(w)
            objects["service-preview.yaml"] = service.preview(w)
        else:
            objects.update(traffic.argo_objects(w))
        target = policies.ScaleTarget(argo.API_VERSION, "Rollout", w.name)
    else:
        objects["deployment.yaml"] = workload.deployment(w, pod, workload.rolling_strategy(w))
        objects["service.yaml"] = service.serving(w)
        target = policies.ScaleTarget("apps/v1", "Deployment", w.name)
    objects["hpa.yaml"] = policies.hpa(w, target)
    if w.generation and w.generation.weights_volume:
        objects["pvc-weights.yaml"] = workload.weights_pvc(w)
    return {name: plain(obj) for name, obj in sorted(objects.items())}


def kustomization(namespace: str, manifests: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": sorted(manifests),
    }
