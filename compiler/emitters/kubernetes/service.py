"""Services: the serving Service (and a canary's, see traffic.py), blue-green's preview Service,
and one metrics Service.

Scraping goes through a dedicated `<name>-metrics` Service that selects every pod of every
revision. Rollout controllers rewrite the selectors of the serving Services (Argo pins them to
a ReplicaSet hash; Flagger generates its own); scraping through those would miss the preview or
canary pods, or scrape the same pod twice once both selectors point at one ReplicaSet.
"""

from __future__ import annotations

from kubernetes import client

from compiler.emitters.kubernetes.common import GRPC_PORT_NAME, HTTP_PORT_NAME, METRICS_PORT_NAME, Workload


def serving(w: Workload) -> client.V1Service:
    return named(w, w.name)


def named(w: Workload, name: str) -> client.V1Service:
    """A serving Service over every pod; Argo narrows a canary/stable Service to one ReplicaSet."""
    grpc = _port(GRPC_PORT_NAME, w.spec.serve.grpc_port, GRPC_PORT_NAME)
    grpc.app_protocol = "grpc"  # HTTP/2 end to end: meshes and gateways balance per call, not per connection
    return _service(w, name, w.selector, [_port(HTTP_PORT_NAME, w.spec.serve.port, HTTP_PORT_NAME), grpc])


def preview(w: Workload) -> client.V1Service:
    port = w.spec.rollout.blue_green.preview_port
    return _service(w, preview_name(w), w.selector, [_port(HTTP_PORT_NAME, port, HTTP_PORT_NAME)])


def metrics(w: Workload) -> client.V1Service:
    port = _port(METRICS_PORT_NAME, w.spec.serve.metrics_port, METRICS_PORT_NAME)
    return _service(w, metrics_name(w), w.pod_selector, [port], headless=True)


def preview_name(w: Workload) -> str:
    return f"{w.name}-preview"


def metrics_name(w: Workload) -> str:
    return f"{w.name}-metrics"


def _service(w: Workload, name: str, selector: dict[str, str], ports: list[client.V1ServicePort],
             headless: bool = False) -> client.V1Service:
    return client.V1Service(
        api_version="v1", kind="Service", metadata=w.metadata(name),
        spec=client.V1ServiceSpec(type="ClusterIP", cluster_ip="None" if headless else None,
                                  selector=dict(selector), ports=ports))


def _port(name: str, port: int, target: str) -> client.V1ServicePort:
    return client.V1ServicePort(name=name, port=port, target_port=target, protocol="TCP")
