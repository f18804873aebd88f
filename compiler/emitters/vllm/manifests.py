"""Kubernetes objects for vLLM: one pod per replica (tensor parallel inside it) as a Deployment,
or a LeaderWorkerSet when a replica spans nodes (pipeline parallel over Ray); a Service on the
serving pod, an HPA on vLLM's queue and KV cache, and KServe's InferenceService and
LLMInferenceService as alternatives for clusters that run KServe."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from compiler.capacity import EnginePlan
from compiler.emitters.kubernetes.common import plain
from compiler.emitters.vllm import catalog, pods, server
from compiler.frontend.spec import Spec

LWS_API = "leaderworkerset.x-k8s.io/v1"
LWS_WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"  # "0" on the leader pod
KSERVE_API = "serving.kserve.io/v1beta1"
LLMISVC_API = "serving.kserve.io/v1alpha1"
# The custom-metrics names prometheus-adapter serves for vLLM's series (adapter_rules below):
# Kubernetes metric names cannot hold vLLM's `:`.
HPA_METRICS = {catalog.WAITING: "vllm_num_requests_waiting", catalog.KV_CACHE: "vllm_kv_cache_usage_perc"}


def meta(spec: Spec, name: str | None = None) -> client.V1ObjectMeta:
    return client.V1ObjectMeta(name=name or spec.name, namespace=spec.rollout.namespace, labels=pods.labels(spec),
                               annotations=dict(spec.serve.annotations) or None)


def replicas(spec: Spec, engine: EnginePlan) -> tuple[int, int]:
    """(min, max): the capacity plan's count for the requested throughput, else serve.replicas."""
    low = engine.capacity.replicas if engine.capacity.replicas is not None else spec.serve.replicas.min
    return low, max(low, spec.serve.replicas.max)


def deployment(spec: Spec, engine: EnginePlan) -> client.V1Deployment:
    # No surge: a replica holds whole GPUs (8 for a 70B model); a surge pod would wait for
    # GPUs the old one still holds.
    strategy = client.V1DeploymentStrategy(type="RollingUpdate", rolling_update=client.V1RollingUpdateDeployment(
        max_surge=0, max_unavailable=1))
    return client.V1Deployment(
        api_version="apps/v1", kind="Deployment", metadata=meta(spec),
        spec=client.V1DeploymentSpec(replicas=replicas(spec, engine)[0], strategy=strategy,
                                     selector=client.V1LabelSelector(match_labels=pods.selector(spec)),
                                     template=pods.pod_template(spec, engine, server.serve_command(spec, engine))))


def leader_worker_set(spec: Spec, engine: EnginePlan) -> dict[str, Any]:
    c = engine.capacity
    leader = pods.pod_template(spec, engine, server.leader_command(spec, engine), serving=True)
    worker = pods.pod_template(spec, engine, server.worker_command(), serving=False)
    return {"apiVersion": LWS_API, "kind": "LeaderWorkerSet", "metadata": plain(meta(spec)),
            "spec": {"replicas": replicas(spec, engine)[0], "startupPolicy": "LeaderCreated",
                     "leaderWorkerTemplate": {"size": c.pipeline_parallel,
                                              # one lost pod breaks the Ray group: restart the group
                                              "restartPolicy": "RecreateGroupOnPodRestart",
                                              "leaderTemplate": plain(leader), "workerTemplate": plain(worker)}}}


def service(spec: Spec, engine: EnginePlan) -> client.V1Service:
    chosen = dict(pods.selector(spec))
    if engine.capacity.multi_node:
        chosen[LWS_WORKER_INDEX] = "0"  # only the leader serves HTTP
    return client.V1Service(api_version="v1", kind="Service", metadata=meta(spec), spec=client.V1ServiceSpec(
        selector=chosen, ports=[client.V1ServicePort(name=pods.HTTP, port=spec.serve.port, target_port=pods.HTTP)]))


def waiting_target(spec: Spec) -> int:
    """Average queued requests per replica that triggers a scale-out: a tenth of its sequences."""
    return max(1, spec.serve.max_concurrency // 10)


def kv_target(spec: Spec) -> str:
    """KV cache usage (0..1) per replica to hold, from serve.replicas.target_utilization, in milli-units."""
    return f"{spec.serve.replicas.target_utilization * 10}m"


def hpa(spec: Spec, engine: EnginePlan) -> client.V2HorizontalPodAutoscaler:
    low, high = replicas(spec, engine)
    kind, api = (("LeaderWorkerSet", LWS_API) if engine.capacity.multi_node
                 else ("Rollout", "argoproj.io/v1alpha1") if spec.rollout.strategy == "canary"
                 else ("Deployment", "apps/v1"))

    def pods_metric(series: str, value: str) -> client.V2MetricSpec:
        return client.V2MetricSpec(type="Pods", pods=client.V2PodsMetricSource(
            metric=client.V2MetricIdentifier(name=HPA_METRICS[series]),
            target=client.V2MetricTarget(type="AverageValue", average_value=value)))
    return client.V2HorizontalPodAutoscaler(
        api_version="autoscaling/v2", kind="HorizontalPodAutoscaler", metadata=meta(spec),
        spec=client.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V2CrossVersionObjectReference(api_version=api, kind=kind, name=spec.name),
            min_replicas=low, max_replicas=high,
            metrics=[pods_metric(catalog.WAITING, str(waiting_target(spec))),
                     pods_metric(catalog.KV_CACHE, kv_target(spec))]))


def adapter_rules() -> dict[str, Any]:
    """prometheus-adapter `rules:` that serve vLLM's series to the HPA under HPA_METRICS' names."""
    return {"rules": [{"seriesQuery": f'{{__name__="{series}",namespace!="",pod!=""}}',
                       "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
                       "name": {"matches": f"^{series}$", "as": name},
                       "metricsQuery": "avg(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"}
                      for series, name in sorted(HPA_METRICS.items())]}


def inference_service(spec: Spec, engine: EnginePlan) -> dict[str, Any]:
    """KServe InferenceService, raw deployment of the same container (single-node replicas)."""
    low, high = replicas(spec, engine)
    pod = plain(pods.pod_spec(spec, engine, server.serve_command(spec, engine)))
    predictor = {"minReplicas": low, "maxReplicas": high, **pod}
    return {"apiVersion": KSERVE_API, "kind": "InferenceService", "metadata": plain(meta(spec)),
            "spec": {"predictor": predictor}}


def llm_inference_service(spec: Spec, engine: EnginePlan) -> dict[str, Any]:
    """KServe's LLMInferenceService: the model from the same claim, parallelism from the plan;
    a multi-node replica gets a worker pod spec (KServe starts it with LeaderWorkerSet too)."""
    c = engine.capacity
    parallelism = {"tensor": c.tensor_parallel, **({"pipeline": c.pipeline_parallel} if c.multi_node else {})}
    body: dict[str, Any] = {
        "model": {"uri": f"pvc://{pods.model_claim(spec)}/", "name": spec.name},
        "replicas": replicas(spec, engine)[0], "parallelism": parallelism,
        "template": plain(pods.pod_spec(spec, engine, server.serve_command(spec, engine)))}
    if c.multi_node:
        body["worker"] = plain(pods.pod_spec(spec, engine, server.worker_command(), serving=False))
    return {"apiVersion": LLMISVC_API, "kind": "LLMInferenceService", "metadata": plain(meta(spec)), "spec": body}
