"""The emitters of serve.engine vllm, by the plan's step names (vllm-image, vllm-kubernetes,
vllm-monitoring). Each reads the plan's EnginePlan from the context: the capacity decision is
made once, by the planner."""

from __future__ import annotations

import json

import yaml

from compiler.capacity import EnginePlan
from compiler.emitters.base import EmitContext, Files
from compiler.emitters.catalog_check import POD_TARGET_LABELS
from compiler.emitters.kubernetes.common import plain, to_yaml
from compiler.emitters.monitoring.manifests import prometheus_rule, rules_file
from compiler.emitters.monitoring.promtool_tests import unit_tests
from compiler.emitters.monitoring.rules import Settings, check_spec_labels
from compiler.emitters.vllm import manifests, monitoring, pods, rollout, server
from compiler.errors import DeploycError


def _engine(ctx: EmitContext) -> EnginePlan:
    if ctx.engine is None:
        raise DeploycError("serve.engine vllm: the plan carries no capacity plan (the planner makes it)")
    return ctx.engine


def _yaml(data) -> bytes:
    return yaml.safe_dump(data, sort_keys=True, allow_unicode=True, width=100).encode("utf-8")


class VllmImageEmitter:
    name = "vllm-image"

    def emit(self, ctx: EmitContext) -> Files:
        engine = _engine(ctx)
        command = {"image": server.image_ref(ctx.spec), "command": server.serve_command(ctx.spec, engine),
                   "routes": list(server.OPENAI_ROUTES), "health": server.HEALTH, "metrics": "/metrics"}
        return {"image/Dockerfile": server.dockerfile(ctx.spec).encode("utf-8"),
                "image/vllm-serve.json": (json.dumps(command, indent=2, sort_keys=True) + "\n").encode("utf-8")}


class VllmKubernetesEmitter:
    name = "vllm-kubernetes"

    def emit(self, ctx: EmitContext) -> Files:
        spec, engine = ctx.spec, _engine(ctx)
        s = Settings(spec)
        multi = engine.capacity.multi_node
        files = {"k8s/service.yaml": to_yaml(manifests.service(spec, engine)),
                 "k8s/hpa.yaml": to_yaml(manifests.hpa(spec, engine)),
                 "k8s/prometheus-adapter-rules.yaml": _yaml(manifests.adapter_rules()),
                 "kserve/llminferenceservice.yaml": _yaml(manifests.llm_inference_service(spec, engine))}
        if rollout.wanted(spec, engine):
            files["k8s/rollout.yaml"] = _yaml(rollout.rollout(spec, engine, spec.name))
            files["k8s/analysistemplate.yaml"] = _yaml(monitoring.analysis_template(s, spec.name, rollout.HASH_ARG))
        elif multi:
            files["k8s/leaderworkerset.yaml"] = _yaml(manifests.leader_worker_set(spec, engine))
        else:
            files["k8s/deployment.yaml"] = to_yaml(manifests.deployment(spec, engine))
            # KServe's InferenceService runs one pod per replica; a multi-node replica is the
            # LLMInferenceService's (its worker spec).
            files["kserve/inferenceservice.yaml"] = _yaml(manifests.inference_service(spec, engine))
        return files


class VllmMonitoringEmitter:
    name = "vllm-monitoring"

    def emit(self, ctx: EmitContext) -> Files:
        check_spec_labels(ctx.spec)
        s = Settings(ctx.spec)
        groups = monitoring.checked_groups(s, _engine(ctx))
        return {"monitoring/rules.yaml": _yaml(rules_file(s, groups)),
                "monitoring/rules.test.yaml": _yaml(unit_tests(s, groups, "rules.yaml")),
                "monitoring/prometheusrule.yaml": _yaml(prometheus_rule(s, groups)),
                "monitoring/servicemonitor.yaml": _yaml(service_monitor(ctx))}


def service_monitor(ctx: EmitContext) -> dict:
    """vLLM serves /metrics on its HTTP port."""
    spec = ctx.spec
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": plain(manifests.meta(spec)),
            "spec": {"selector": {"matchLabels": pods.selector(spec)},
                     "namespaceSelector": {"matchNames": [spec.rollout.namespace]},
                     "endpoints": [{"port": pods.HTTP, "path": "/metrics", "interval": "15s"}],
                     # the canary analysis tells the new ReplicaSet's series by this pod label
                     "podTargetLabels": list(POD_TARGET_LABELS)}}
