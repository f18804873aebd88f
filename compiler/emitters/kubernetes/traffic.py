"""rollout.traffic: the router that makes a canary's weights exact, for Argo Rollouts and Flagger.

Argo Rollouts (canaryService/stableService + trafficRouting; Argo rewrites both Services'
selectors to one ReplicaSet each and sets the router's weights):
- gateway-api: an HTTPRoute on the spec's Gateway with two weighted backendRefs; Argo's
  `argoproj-labs/gatewayAPI` traffic-router plugin (installed in Argo's ConfigMap) sets them.
- nginx: the stable Ingress; Argo makes the canary Ingress (nginx canary-weight) from it.
- istio: a VirtualService whose route `primary` has the two destinations; Argo sets the weights.
- smi: the root Service clients call; Argo creates and owns the TrafficSplit (it refuses one it
  did not create), so none is emitted.
For gateway-api, nginx and istio the stable Service is `<name>` itself: an in-cluster client
that calls the Service directly reaches the stable pods only, never a pod-count split. For smi
`<name>` is the root Service the mesh splits, with `<name>-stable` beside `<name>-canary`.

Flagger makes its Services and the HTTPRoute, VirtualService or TrafficSplit itself from
`spec.provider` and `spec.service`; for nginx it needs an Ingress to the apex Service `<name>`.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from compiler.emitters.kubernetes import service
from compiler.emitters.kubernetes.common import Workload

GATEWAY_PLUGIN = "argoproj-labs/gatewayAPI"
GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
ISTIO_API_VERSION = "networking.istio.io/v1"
ISTIO_ROUTE = "primary"
DEFAULT_INGRESS_CLASS = "nginx"
# Flagger's provider names (flagger pkg/apis/flagger/v1beta1/provider.go and its CRD's enum).
# SMI: v1alpha2, the TrafficSplit version both Linkerd's SMI extension and OSM serve.
FLAGGER_PROVIDERS = {"gateway-api": "gatewayapi:v1", "nginx": "nginx", "istio": "istio", "smi": "smi:v1alpha2"}


def router(w: Workload) -> str:
    return w.spec.rollout.traffic.router


def canary_name(w: Workload) -> str:
    return f"{w.name}-canary"


def stable_name(w: Workload) -> str:
    return f"{w.name}-stable" if router(w) == "smi" else w.name


# ---- Argo Rollouts -------------------------------------------------------------------------

def argo_canary_fields(w: Workload) -> dict[str, Any]:
    """canaryService, stableService and trafficRouting for the Rollout's canary strategy; {} without a router."""
    kind = router(w)
    if kind == "none":
        return {}
    routing = {
        "gateway-api": {"plugins": {GATEWAY_PLUGIN: {"httpRoute": w.name, "namespace": w.namespace}}},
        "nginx": {"nginx": {"stableIngress": w.name}},
        "istio": {"istio": {"virtualService": {"name": w.name, "routes": [ISTIO_ROUTE]}}},
        "smi": {"smi": {"rootService": w.name, "trafficSplitName": w.name}},
    }[kind]
    return {"canaryService": canary_name(w), "stableService": stable_name(w), "trafficRouting": routing}


def argo_objects(w: Workload) -> dict[str, Any]:
    """File name -> the Services and router object an Argo canary with this router needs."""
    kind = router(w)
    if kind == "none":
        return {"service.yaml": service.serving(w)}
    objects: dict[str, Any] = {"service.yaml": service.serving(w),
                               "service-canary.yaml": service.named(w, canary_name(w))}
    if kind == "smi":
        objects["service-stable.yaml"] = service.named(w, stable_name(w))
    elif kind == "gateway-api":
        objects["httproute.yaml"] = http_route(w)
    elif kind == "nginx":
        objects["ingress.yaml"] = ingress(w, stable_name(w))
    elif kind == "istio":
        objects["virtualservice.yaml"] = virtual_service(w)
    return objects


def http_route(w: Workload) -> dict[str, Any]:
    t = w.spec.rollout.traffic
    parent: dict[str, Any] = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": t.gateway.name}
    if t.gateway.namespace:
        parent["namespace"] = t.gateway.namespace
    spec: dict[str, Any] = {
        "parentRefs": [parent],
        "rules": [{"backendRefs": [_backend(w, stable_name(w), 100), _backend(w, canary_name(w), 0)]}],
    }
    if t.hosts:
        spec["hostnames"] = list(t.hosts)
    return {"apiVersion": GATEWAY_API_VERSION, "kind": "HTTPRoute", "metadata": w.metadata_dict(), "spec": spec}


def _backend(w: Workload, name: str, weight: int) -> dict[str, Any]:
    return {"name": name, "port": w.spec.serve.port, "weight": weight}  # kind Service, the default


def virtual_service(w: Workload) -> dict[str, Any]:
    t = w.spec.rollout.traffic
    port = {"number": w.spec.serve.port}
    spec: dict[str, Any] = {
        # No hosts: the Service's own name, so in-mesh calls to it are split.
        "hosts": list(t.hosts) or [w.name],
        "http": [{"name": ISTIO_ROUTE, "route": [
            {"destination": {"host": stable_name(w), "port": port}, "weight": 100},
            {"destination": {"host": canary_name(w), "port": port}, "weight": 0}]}],
    }
    gateways = istio_gateways(w)
    if gateways:
        spec["gateways"] = gateways
    return {"apiVersion": ISTIO_API_VERSION, "kind": "VirtualService", "metadata": w.metadata_dict(), "spec": spec}


def istio_gateways(w: Workload) -> list[str]:
    """The Istio Gateway plus `mesh`, so in-mesh callers follow the same weights; [] for mesh only."""
    g = w.spec.rollout.traffic.gateway
    if not g.name:
        return []
    return [f"{g.namespace}/{g.name}" if g.namespace else g.name, "mesh"]


def ingress(w: Workload, backend: str) -> client.V1Ingress:
    t = w.spec.rollout.traffic
    paths = client.V1HTTPIngressRuleValue(paths=[client.V1HTTPIngressPath(
        path="/", path_type="Prefix",
        backend=client.V1IngressBackend(service=client.V1IngressServiceBackend(
            name=backend, port=client.V1ServiceBackendPort(number=w.spec.serve.port))))])
    rules = [client.V1IngressRule(host=host, http=paths) for host in t.hosts] or [client.V1IngressRule(http=paths)]
    return client.V1Ingress(
        api_version="networking.k8s.io/v1", kind="Ingress", metadata=w.metadata(),
        spec=client.V1IngressSpec(ingress_class_name=t.ingress_class or DEFAULT_INGRESS_CLASS, rules=rules))


# ---- Flagger -------------------------------------------------------------------------------

def flagger_fields(w: Workload) -> dict[str, Any]:
    """`provider` (and `ingressRef`) for the Canary's spec."""
    out: dict[str, Any] = {"provider": FLAGGER_PROVIDERS[router(w)]}
    if router(w) == "nginx":
        out["ingressRef"] = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": w.name}
    return out


def flagger_service_fields(w: Workload) -> dict[str, Any]:
    """What Flagger needs in `spec.service` to build the router object itself."""
    t = w.spec.rollout.traffic
    out: dict[str, Any] = {}
    if t.hosts and router(w) in ("gateway-api", "istio"):
        out["hosts"] = list(t.hosts)
    if router(w) == "gateway-api":
        ref: dict[str, Any] = {"name": t.gateway.name}
        if t.gateway.namespace:
            ref["namespace"] = t.gateway.namespace
        out["gatewayRefs"] = [ref]
    if router(w) == "istio" and istio_gateways(w):
        out["gateways"] = istio_gateways(w)
    return out


def flagger_objects(w: Workload) -> dict[str, Any]:
    """nginx: the Ingress Flagger copies into its canary Ingress; it points at Flagger's apex Service."""
    return {"ingress.yaml": ingress(w, w.name)} if router(w) == "nginx" else {}

