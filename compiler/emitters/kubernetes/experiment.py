"""rollout.strategy experiment (A/B): variant B gets a weight, or the requests matching a header or
a cookie, while the analysis compares it with variant A (experiment_queries.py).

Argo Rollouts: a Rollout canary whose pods carry `deployc.dev/variant` (stableMetadata: control,
canaryMetadata: candidate; Argo rewrites the label when it promotes), then
- weight: `setWeight: w`, then the analysis step;
- header/cookie on istio or gateway-api: `setCanaryScale` (serve.replicas.min pods: with traffic
  routing the canary's pods follow its weight, which is 0 here), `setHeaderRoute` (a managed
  route, `trafficRouting.managedRoutes`, which Argo removes at the end), then the analysis step;
- header/cookie on nginx: Argo's nginx router has no setHeaderRoute; the canary Ingress it makes
  gets NGINX's canary-by-header / canary-by-cookie annotations (`additionalIngressAnnotations`).
After the analysis passes the steps end and Argo promotes B; a failed analysis aborts to A.

Flagger: its A/B analysis, `analysis.match` with `iterations` (rollout.analysis.count) checks at
each interval; it routes the matching requests to the canary and promotes after the iterations.
Cookie matches follow each provider's convention: NGINX's canary-by-cookie (`cookie: exact:
<name>`, sent when the cookie's value is `always`), a regex on the Cookie header elsewhere.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from compiler.emitters.catalog_check import CANDIDATE, CONTROL, VARIANT_POD_LABEL
from compiler.emitters.kubernetes import argo, flagger, traffic
from compiler.emitters.kubernetes import experiment_queries as eq
from compiler.emitters.kubernetes.common import HTTP_PORT_NAME, Workload, plain
from compiler.frontend.rules_experiment import route

ROUTE_NAME = "variant-b"
COOKIE_VALUE = "always"  # NGINX canary-by-cookie: the value that routes to the canary
_RE2_META = set(r"\.+*?()|[]{}^$")


def argo_analysis_template(w: Workload) -> dict[str, Any]:
    return {"apiVersion": argo.API_VERSION, "kind": "AnalysisTemplate", "metadata": w.metadata_dict(),
            "spec": {"metrics": [_argo_metric(w, c) for c in eq.checks(w.spec, w.model)]}}


def _argo_metric(w: Workload, check: eq.ExperimentCheck) -> dict[str, Any]:
    a = w.spec.rollout.analysis
    return {
        "name": check.name, "interval": a.interval, "count": a.count, "failureLimit": a.failure_limit,
        # Early measurements lack samples (-1): only a run that never decides is inconclusive.
        "inconclusiveLimit": a.count - 1,
        **eq.argo_conditions(check, a.on_no_data),
        "provider": {"prometheus": {"address": w.spec.rollout.prometheus_url, "query": check.query}},
    }


def argo_rollout(w: Workload, pod: client.V1PodTemplateSpec) -> dict[str, Any]:
    r = w.spec.rollout
    canary = {
        "maxSurge": r.max_surge, "maxUnavailable": r.max_unavailable,
        "stableMetadata": {"labels": {VARIANT_POD_LABEL: CONTROL}},
        "canaryMetadata": {"labels": {VARIANT_POD_LABEL: CANDIDATE}},
        "steps": _argo_steps(w),
        **traffic.argo_canary_fields(w),
    }
    routing = canary["trafficRouting"]
    if route(w.spec) != "weight" and traffic.router(w) == "nginx":
        routing["nginx"]["additionalIngressAnnotations"] = _nginx_annotations(w)
    elif route(w.spec) != "weight":
        routing["managedRoutes"] = [{"name": ROUTE_NAME}]
    return {
        "apiVersion": argo.API_VERSION, "kind": "Rollout", "metadata": w.metadata_dict(),
        "spec": {"selector": {"matchLabels": w.selector}, "template": plain(pod), "revisionHistoryLimit": 5,
                 "strategy": {"canary": canary}},
    }


def _argo_steps(w: Workload) -> list[dict[str, Any]]:
    analysis = {"analysis": {"templates": [{"templateName": w.name}]}}
    if route(w.spec) == "weight":
        return [{"setWeight": w.spec.rollout.experiment.weight}, analysis]
    steps: list[dict[str, Any]] = [{"setCanaryScale": {"replicas": w.spec.serve.replicas.min}}]
    if traffic.router(w) != "nginx":
        steps.append({"setHeaderRoute": {"name": ROUTE_NAME, "match": [_argo_match(w)]}})
    return steps + [analysis]


def _argo_match(w: Workload) -> dict[str, Any]:
    e = w.spec.rollout.experiment
    if route(w.spec) == "header":
        return {"headerName": header_name(w), "headerValue": {"exact": e.header.value}}
    return {"headerName": "cookie", "headerValue": {"regex": cookie_regex(e.cookie)}}


def _nginx_annotations(w: Workload) -> dict[str, str]:
    # Argo prefixes each key with nginx.ingress.kubernetes.io/ on the canary Ingress.
    e = w.spec.rollout.experiment
    if route(w.spec) == "header":
        return {"canary-by-header": header_name(w), "canary-by-header-value": e.header.value}
    return {"canary-by-cookie": e.cookie}


def header_name(w: Workload) -> str:
    """Header names are case-insensitive (RFC 9110); Istio matches only lower-case keys, the
    others ignore case, so every router gets the lower-case name."""
    return w.spec.rollout.experiment.header.name.lower()


def cookie_regex(name: str) -> str:
    """The Cookie header holds `name=always` among other cookies (Flagger's documented pattern)."""
    escaped = "".join("\\" + c if c in _RE2_META else c for c in name)
    return f"^(.*?;)?({escaped}={COOKIE_VALUE})(;.*)?$"


# ---- Flagger -------------------------------------------------------------------------------

def flagger_metric_templates(w: Workload) -> dict[str, dict[str, Any]]:
    return {c.name: {
        "apiVersion": flagger.API_VERSION, "kind": "MetricTemplate", "metadata": w.metadata_dict(f"{w.name}-{c.name}"),
        "spec": {"provider": {"type": "prometheus", "address": w.spec.rollout.prometheus_url}, "query": c.query},
    } for c in eq.checks(w.spec, w.model)}


def flagger_canary(w: Workload) -> dict[str, Any]:
    r = w.spec.rollout
    metrics = [{"name": c.name, "templateRef": {"name": f"{w.name}-{c.name}"},
                "thresholdRange": eq.flagger_threshold_range(c, r.analysis.on_no_data)}
               for c in eq.checks(w.spec, w.model)]
    return {
        "apiVersion": flagger.API_VERSION, "kind": "Canary", "metadata": w.metadata_dict(),
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name},
            "autoscalerRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": w.name},
            "progressDeadlineSeconds": flagger.PROGRESS_DEADLINE_SECONDS,
            **traffic.flagger_fields(w),
            "service": {"port": w.spec.serve.port, "targetPort": HTTP_PORT_NAME, "portName": HTTP_PORT_NAME,
                        **traffic.flagger_service_fields(w)},
            "analysis": {"interval": r.analysis.interval, "threshold": r.analysis.failure_limit + 1,
                         "iterations": r.analysis.count, "match": [_flagger_match(w)], "metrics": metrics},
        },
    }


def _flagger_match(w: Workload) -> dict[str, Any]:
    e = w.spec.rollout.experiment
    if route(w.spec) == "header":
        return {"headers": {header_name(w): {"exact": e.header.value}}}
    if traffic.router(w) == "nginx":
        return {"headers": {"cookie": {"exact": e.cookie}}}
    return {"headers": {"cookie": {"regex": cookie_regex(e.cookie)}}}
