"""rollout.traffic: a canary weight in the spec must be the share of traffic the canary gets.

Without a router, Argo Rollouts' basic canary keeps both ReplicaSets behind one Service, so
traffic splits by pod count. At `spec.replicas` N and weight w (0 < w < 100) it runs
    canary = ceil(N * (w / 100)),  stable = ceil(N * (1 - w / 100))
pods (argo-rollouts utils/replicaset/canary.go, DesiredReplicaCountsForCanary: both rounded up,
so a nonzero weight gets at least one pod and the stable keeps one). Go's float64 and Python's
float are the same IEEE doubles, so the arithmetic here is Argo's, rounding quirks included
(N=100, w=7 gives 8 canary pods). The canary's share is canary / (canary + stable). The HPA may
set N anywhere in serve.replicas.min..max while a step holds, so every such N must realise w.

Flagger never splits by pod count: its `kubernetes` provider ignores stepWeights and runs a
blue/green analysis (the canary gets no production traffic until promotion), and with no
provider it uses the installation's `-mesh-provider`, which the build cannot see. So a Flagger
canary needs a router in the spec.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Iterator

from compiler.errors import SpecIssue
from compiler.frontend.spec import Spec

ROUTERS = ("gateway-api", "nginx", "istio", "smi")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ROUTER_HINT = "set rollout.traffic.router (" + ", ".join(ROUTERS) + ") for exact weights"


def check(spec: Spec) -> Iterator[SpecIssue]:
    # No rule for other strategies: they ignore rollout.traffic (rolling and blue-green never split
    # traffic by weight), so `rollout.strategy=rolling` works as an override on a canary spec.
    for rule in (_settings, _weights):
        yield from rule(spec)


def argo_pod_split(replicas: int, weight: int) -> tuple[int, int]:
    """(canary, stable) pods Argo's basic canary runs at `replicas` and `weight` (0..100)."""
    if weight >= 100:
        return replicas, 0
    canary = math.ceil(float(replicas) * (float(weight) / 100))
    stable = math.ceil(float(replicas) * (1 - (float(weight) / 100)))
    return canary, stable


def pod_count_share(replicas: int, weight: int) -> Fraction:
    """The canary's share of traffic when the Service spreads requests over all pods evenly."""
    canary, stable = argo_pod_split(replicas, weight)
    return Fraction(canary, canary + stable)


def realisable_weights(low: int, high: int) -> list[int]:
    """Weights 1..100 that every replica count in low..high realises exactly."""
    return [w for w in range(1, 101)
            if all(pod_count_share(n, w) == Fraction(w, 100) for n in range(low, high + 1))]


def _settings(spec: Spec):
    t = spec.rollout.traffic
    if t.gateway.name or t.gateway.namespace:
        if t.router not in ("gateway-api", "istio"):
            yield SpecIssue("rollout.traffic.gateway", f"only for router gateway-api or istio (router is {t.router})")
    elif t.router == "gateway-api":
        yield SpecIssue("rollout.traffic.gateway.name", "router gateway-api needs the Gateway its HTTPRoute "
                                                        "attaches to (gateway: {name: ..., namespace: ...})")
    if t.gateway.name and (len(t.gateway.name) > 253 or not _SUBDOMAIN.match(t.gateway.name)):
        yield SpecIssue("rollout.traffic.gateway.name", f"{t.gateway.name!r} is not an object name (DNS-1123 subdomain)")
    if t.gateway.namespace and (len(t.gateway.namespace) > 63 or not _LABEL.match(t.gateway.namespace)):
        yield SpecIssue("rollout.traffic.gateway.namespace",
                        f"{t.gateway.namespace!r} is not a namespace name (DNS-1123 label)")
    if t.ingress_class and t.router != "nginx":
        yield SpecIssue("rollout.traffic.ingress_class", f"only for router nginx (router is {t.router})")
    if t.ingress_class and (len(t.ingress_class) > 253 or not _SUBDOMAIN.match(t.ingress_class)):
        yield SpecIssue("rollout.traffic.ingress_class", f"{t.ingress_class!r} is not an IngressClass name")
    yield from _hosts(spec)


def _hosts(spec: Spec):
    t = spec.rollout.traffic
    if t.hosts and t.router in ("none", "smi"):
        yield SpecIssue("rollout.traffic.hosts", f"only for router gateway-api, nginx or istio (router is {t.router})")
        return
    if t.router == "istio" and t.gateway.name and not t.hosts:
        yield SpecIssue("rollout.traffic.hosts", "an istio VirtualService bound to a gateway needs the hosts "
                                                 "it serves there (e.g. [model.example.com])")
    seen: set[str] = set()
    for i, host in enumerate(t.hosts):
        if len(host) > 253 or not _HOST.match(host):
            yield SpecIssue(f"rollout.traffic.hosts[{i}]", f"{host!r} is not a host name (lower-case DNS name, "
                                                           "optionally '*.' first; no IP, port or scheme)")
        elif host in seen:
            yield SpecIssue(f"rollout.traffic.hosts[{i}]", f"{host!r} is listed twice")
        seen.add(host)


def _weights(spec: Spec):
    r = spec.rollout
    if r.strategy != "canary" or r.traffic.router != "none":
        return
    if r.controller == "flagger":
        yield SpecIssue("rollout.traffic.router", "controller flagger shifts traffic only through a router: "
                                                  "without one its canary gets 0% of the traffic at every step "
                                                  "(the kubernetes provider ignores stepWeights), or whatever the "
                                                  f"installation's mesh provider does; {_ROUTER_HINT}")
        return
    low, high = spec.serve.replicas.min, spec.serve.replicas.max
    if low < 1 or low > high:
        return  # reported by the replica rules
    for i, step in enumerate(r.canary.steps):
        w = step.set_weight
        if w is None or w > 100:
            continue
        wrong = next((n for n in range(low, high + 1) if pod_count_share(n, w) != Fraction(w, 100)), None)
        if wrong is not None:
            yield SpecIssue(f"rollout.canary.steps[{i}].set_weight", _weight_message(w, wrong, low, high))


def _weight_message(weight: int, replicas: int, low: int, high: int) -> str:
    canary, stable = argo_pod_split(replicas, weight)
    real = _percent(pod_count_share(replicas, weight))
    plural = "s" if replicas != 1 else ""
    where = f"at {replicas} replica{plural}" + (f" (the HPA runs {low} to {high})" if low != high else "")
    counts = f"{low} replica{plural}" if low == high else f"every replica count from {low} to {high}"
    good = ", ".join(str(w) for w in realisable_weights(low, high))
    return (f"set_weight {weight} would give the canary {real} of the traffic, not {weight}%: without "
            f"rollout.traffic.router Argo Rollouts splits traffic by pod count, and {where} it runs {canary} "
            f"canary and {stable} stable pod{'s' if stable != 1 else ''}; {_ROUTER_HINT}, or use weights "
            f"that {counts} realises: {good}")


def _percent(share: Fraction) -> str:
    text = f"{float(share) * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"
