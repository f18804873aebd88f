"""rollout.traffic: each router's objects for Argo Rollouts and Flagger, wired together and strictly valid."""

from __future__ import annotations

from functools import lru_cache

import kubernetes_validate
import pytest
from k8s_helpers import emit, manifests

import crd_validate
from compiler.emitters.kubernetes import SUPPORTED_KUBERNETES_VERSIONS

ROUTERS = {
    "gateway-api": "{router: gateway-api, gateway: {name: public, namespace: gateway-system}, hosts: [d.example.com]}",
    "nginx": "{router: nginx, hosts: [d.example.com, '*.models.example.com'], ingress_class: nginx-public}",
    "istio": "{router: istio, gateway: {name: edge, namespace: istio-system}, hosts: [d.example.com]}",
    "istio-mesh": "{router: istio}",
    "smi": "{router: smi}",
}
FLAGGER = ["+rollout.controller=flagger", "rollout.analysis.on_no_data=fail",
           "rollout.canary.steps=[{set_weight: 5}, {set_weight: 20}]"]  # Flagger has no pause step
ROUTER_KINDS = ("HTTPRoute", "Ingress", "VirtualService", "TrafficSplit")


@lru_cache(maxsize=None)
def _objects(router: str, controller: str = "argo") -> dict:
    overrides = ["~rollout.traffic", f"+rollout.traffic={ROUTERS[router]}", "serve.replicas={min: 1, max: 3}",
                 "rollout.canary.steps=[{set_weight: 5}, {pause: 1m}, {set_weight: 20}]"]
    return manifests(emit("digits-cnn", overrides + (FLAGGER if controller == "flagger" else [])))


def _kind(objs: dict, kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objs.values() if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]


def _services(objs: dict) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in _kind(objs, "Service")}


@pytest.mark.parametrize("controller", ["argo", "flagger"])
@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_every_object_validates_strictly(router, controller):
    objs = dict(_objects(router, controller))
    kustomization = objs.pop("kustomization.yaml")
    assert kustomization["resources"] == sorted(objs)
    for name, obj in objs.items():
        if obj["apiVersion"].startswith(("argoproj.io/", "flagger.app/", "gateway.networking.k8s.io/",
                                          "networking.istio.io/")):
            crd_validate.validate_custom(obj)
        else:
            kubernetes_validate.validate(obj, SUPPORTED_KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_argo_canary_routes_through_the_router(router):
    objs = _objects(router)
    canary = _kind(objs, "Rollout")[0]["spec"]["strategy"]["canary"]
    services = _services(objs)
    assert canary["canaryService"] in services and canary["stableService"] in services
    assert canary["canaryService"] != canary["stableService"]
    assert [s["setWeight"] for s in canary["steps"] if "setWeight" in s] == [5, 20]  # exact: the router sets them
    (kind,) = canary["trafficRouting"]
    assert kind == {"gateway-api": "plugins", "nginx": "nginx", "istio": "istio", "istio-mesh": "istio",
                    "smi": "smi"}[router]
    for name in (canary["canaryService"], canary["stableService"]):
        assert services[name]["spec"]["ports"][0]["port"] == 8080


def test_argo_gateway_api_httproute_has_both_backends_on_the_gateway():
    objs = _objects("gateway-api")
    canary = _kind(objs, "Rollout")[0]["spec"]["strategy"]["canary"]
    plugin = canary["trafficRouting"]["plugins"]["argoproj-labs/gatewayAPI"]
    (route,) = _kind(objs, "HTTPRoute", plugin["httpRoute"])
    assert plugin["namespace"] == route["metadata"]["namespace"]
    assert route["spec"]["parentRefs"][0] == {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                    "name": "public", "namespace": "gateway-system"}
    assert route["spec"]["hostnames"] == ["d.example.com"]
    backends = route["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"], b["port"]) for b in backends] == [
        (canary["stableService"], 100, 8080), (canary["canaryService"], 0, 8080)]


def test_argo_nginx_stable_ingress_points_at_the_stable_service():
    objs = _objects("nginx")
    canary = _kind(objs, "Rollout")[0]["spec"]["strategy"]["canary"]
    (ingress,) = _kind(objs, "Ingress", canary["trafficRouting"]["nginx"]["stableIngress"])
    assert ingress["spec"]["ingressClassName"] == "nginx-public"
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["d.example.com", "*.models.example.com"]
    for rule in ingress["spec"]["rules"]:
        assert rule["http"]["paths"][0]["backend"]["service"] == {"name": canary["stableService"],
                                                                  "port": {"number": 8080}}


@pytest.mark.parametrize("router, hosts, gateways", [
    ("istio", ["d.example.com"], ["istio-system/edge", "mesh"]),
    ("istio-mesh", ["digits-cnn"], None),  # mesh only: the Service's own name
])
def test_argo_istio_virtual_service_route_has_both_destinations(router, hosts, gateways):
    objs = _objects(router)
    canary = _kind(objs, "Rollout")[0]["spec"]["strategy"]["canary"]
    ref = canary["trafficRouting"]["istio"]["virtualService"]
    (vs,) = _kind(objs, "VirtualService", ref["name"])
    assert vs["spec"]["hosts"] == hosts and vs["spec"].get("gateways") == gateways
    (route,) = [r for r in vs["spec"]["http"] if r["name"] in ref["routes"]]
    assert [(d["destination"]["host"], d["weight"]) for d in route["route"]] == [
        (canary["stableService"], 100), (canary["canaryService"], 0)]


def test_argo_smi_has_a_root_service_and_no_traffic_split():
    """Argo creates the TrafficSplit and refuses one it does not own: none may be emitted."""
    objs = _objects("smi")
    canary = _kind(objs, "Rollout")[0]["spec"]["strategy"]["canary"]
    smi = canary["trafficRouting"]["smi"]
    services = _services(objs)
    assert smi["rootService"] in services
    assert len({smi["rootService"], canary["stableService"], canary["canaryService"]}) == 3
    assert not _kind(objs, "TrafficSplit")


def test_without_a_router_one_service_and_no_routing():
    objs = manifests(emit("digits-cnn", ["~rollout.traffic", "serve.replicas={min: 2, max: 6}",
                                         "rollout.canary.steps=[{set_weight: 50}]"]))
    canary = _kind(objs, "Rollout")[0]["spec"]["strategy"]["canary"]
    assert not {"trafficRouting", "canaryService", "stableService"} & set(canary)
    assert sorted(_services(objs)) == ["digits-cnn", "digits-cnn-metrics"]
    assert not [o for o in objs.values() if o.get("kind") in ROUTER_KINDS]


@pytest.mark.parametrize("router, provider", [("gateway-api", "gatewayapi:v1"), ("nginx", "nginx"),
                                              ("istio", "istio"), ("istio-mesh", "istio"), ("smi", "smi:v1alpha2")])
def test_flagger_provider_and_what_it_needs(router, provider):
    objs = _objects(router, "flagger")
    spec = _kind(objs, "Canary")[0]["spec"]
    assert spec["provider"] == provider
    assert spec["analysis"]["stepWeights"] == [5, 20]
    service = spec["service"]
    if router == "gateway-api":
        assert service["gatewayRefs"] == [{"name": "public", "namespace": "gateway-system"}]
        assert service["hosts"] == ["d.example.com"]
    if router == "istio":
        assert service["hosts"] == ["d.example.com"] and service["gateways"] == ["istio-system/edge", "mesh"]
    if router == "nginx":
        (ingress,) = _kind(objs, "Ingress", spec["ingressRef"]["name"])
        # Flagger's apex Service is the target's name; it copies this Ingress into its canary Ingress.
        assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "digits-cnn"
    else:
        assert "ingressRef" not in spec and not _kind(objs, "Ingress")
    # Flagger makes the Services and the HTTPRoute / VirtualService / TrafficSplit itself.
    assert sorted(_services(objs)) == ["digits-cnn-metrics"]
    assert not [o for o in objs.values() if o.get("kind") in ("HTTPRoute", "VirtualService", "TrafficSplit")]


@pytest.mark.parametrize("router, kind, path", [
    ("gateway-api", "HTTPRoute", ("spec", "rules", 0, "backendRefs", 0)),
    ("gateway-api", "HTTPRoute", ("spec", "parentRefs", 0)),
    ("istio", "VirtualService", ("spec", "http", 0, "route", 0, "destination")),
    ("istio", "VirtualService", ("spec",)),
])
def test_the_strict_validator_rejects_undeclared_router_fields(router, kind, path):
    import copy

    import jsonschema

    obj = copy.deepcopy(_kind(_objects(router), kind)[0])
    node = obj
    for key in path:
        node = node[key]
    node["notAField"] = True
    with pytest.raises(jsonschema.ValidationError):
        crd_validate.validate_custom(obj)
