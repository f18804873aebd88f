"""ServiceAccount, HorizontalPodAutoscaler, PodDisruptionBudget and NetworkPolicy."""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client

from compiler.emitters.kubernetes.common import GRPC_PORT_NAME, HTTP_PORT_NAME, METRICS_PORT_NAME, Workload
from compiler.runtime.catalog import BY_NAME, PREFIX

# The Pods metric the HPA reads through a custom-metrics adapter (e.g. prometheus-adapter).
INFLIGHT_METRIC = BY_NAME[f"{PREFIX}_inflight_requests"].full_name


@dataclass(frozen=True)
class ScaleTarget:
    api_version: str
    kind: str
    name: str


def service_account(w: Workload) -> client.V1ServiceAccount:
    # The server never talks to the API server: no token in the pod at all.
    return client.V1ServiceAccount(api_version="v1", kind="ServiceAccount", metadata=w.metadata(),
                                   automount_service_account_token=False)


def hpa(w: Workload, target: ScaleTarget) -> client.V2HorizontalPodAutoscaler:
    replicas = w.spec.serve.replicas
    return client.V2HorizontalPodAutoscaler(
        api_version="autoscaling/v2", kind="HorizontalPodAutoscaler", metadata=w.metadata(),
        spec=client.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V2CrossVersionObjectReference(
                api_version=target.api_version, kind=target.kind, name=target.name),
            min_replicas=replicas.min, max_replicas=replicas.max, metrics=[_metric(w)]))


def _metric(w: Workload) -> client.V2MetricSpec:
    replicas = w.spec.serve.replicas
    if w.spec.target.scaling_metric == "inflight":
        # GPUs saturate long before the CPU looks busy: scale on concurrent requests instead,
        # aiming at target_utilization percent of the server's concurrency limit.
        return client.V2MetricSpec(type="Pods", pods=client.V2PodsMetricSource(
            metric=client.V2MetricIdentifier(name=INFLIGHT_METRIC),
            target=client.V2MetricTarget(type="AverageValue", average_value=inflight_target(w))))
    return client.V2MetricSpec(type="Resource", resource=client.V2ResourceMetricSource(
        name="cpu", target=client.V2MetricTarget(type="Utilization",
                                                 average_utilization=replicas.target_utilization)))


def inflight_target(w: Workload) -> str:
    """A Kubernetes quantity: max_concurrency x target_utilization %, exact in milli-units."""
    milli = w.spec.serve.max_concurrency * w.spec.serve.replicas.target_utilization * 10
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def pdb(w: Workload) -> client.V1PodDisruptionBudget:
    # maxUnavailable 1, not minAvailable: with one replica a minAvailable budget would block
    # every node drain forever.
    return client.V1PodDisruptionBudget(
        api_version="policy/v1", kind="PodDisruptionBudget", metadata=w.metadata(),
        spec=client.V1PodDisruptionBudgetSpec(
            max_unavailable=1, selector=client.V1LabelSelector(match_labels=w.pod_selector)))


def network_policy(w: Workload) -> client.V1NetworkPolicy:
    monitoring = w.spec.monitoring
    rules = [_ingress(HTTP_PORT_NAME, _serving_peers(w)), _ingress(GRPC_PORT_NAME, _serving_peers(w))]
    if monitoring.enabled:
        rules.append(_ingress(METRICS_PORT_NAME, [_namespace_peer(monitoring.namespace)]))
    return client.V1NetworkPolicy(
        api_version="networking.k8s.io/v1", kind="NetworkPolicy", metadata=w.metadata(),
        spec=client.V1NetworkPolicySpec(
            pod_selector=client.V1LabelSelector(match_labels=w.pod_selector),
            policy_types=["Ingress"], ingress=rules))


def _serving_peers(w: Workload) -> list[client.V1NetworkPolicyPeer]:
    namespaces = sorted(set(w.spec.serve.allow_from_namespaces))
    if not namespaces:
        # An empty namespaceSelector-less peer with podSelector {} means "this namespace only".
        return [client.V1NetworkPolicyPeer(pod_selector=client.V1LabelSelector())]
    return [_namespace_peer(ns) for ns in namespaces]


def _namespace_peer(namespace: str) -> client.V1NetworkPolicyPeer:
    # kubernetes.io/metadata.name is set by the API server on every namespace (1.22+).
    return client.V1NetworkPolicyPeer(namespace_selector=client.V1LabelSelector(
        match_labels={"kubernetes.io/metadata.name": namespace}))


def _ingress(port: str, peers: list[client.V1NetworkPolicyPeer]) -> client.V1NetworkPolicyIngressRule:
    return client.V1NetworkPolicyIngressRule(
        ports=[client.V1NetworkPolicyPort(port=port, protocol="TCP")], _from=peers)
