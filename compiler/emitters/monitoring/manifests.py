"""The rule groups as files: a plain Prometheus rules file, a PrometheusRule and a ServiceMonitor.

The ServiceMonitor selects the model's Service by app.kubernetes.io/name=<spec.name> in the
rollout namespace, scrapes its port named "metrics" (the Kubernetes emitter names the
serve.metrics_port so) and takes the `job` label from the Service's app.kubernetes.io/name,
which is what DeploycTargetDown's `up{job="<spec.name>"}` selects.

Scrape labels the canary analysis needs
---------------------------------------
The analysis queries tell canary from stable by labels the runtime cannot know and Prometheus
adds at scrape time (compiler/emitters/catalog_check.py: SCRAPE_LABELS, the one list the
cross-check accepts): `namespace` and `pod`, which the Operator puts on every ServiceMonitor
target, and the pod labels in POD_TARGET_LABELS, which `podTargetLabels` copies onto every
series (`rollouts-pod-template-hash` becomes `rollouts_pod_template_hash`). A plain Prometheus
that loads monitoring/rules.yaml and scrapes the pods itself (kubernetes_sd_configs, role
`endpoints` or `pod`) needs the same labels in its scrape job; `relabel_configs()` is that list
and renders as:

    relabel_configs:
    - source_labels: [__meta_kubernetes_namespace]
      target_label: namespace
    - source_labels: [__meta_kubernetes_pod_name]
      target_label: pod
    - source_labels: [__meta_kubernetes_pod_label_rollouts_pod_template_hash]
      target_label: rollouts_pod_template_hash

Without them the Argo and Flagger analysis queries find no canary series and return the
no-data sentinel (rollout.analysis.on_no_data decides what that means).

An experiment (rollout.strategy experiment) compares the variants by the series label `variant`
(control | candidate), which the endpoint's relabelings derive from pod labels
(catalog_check.variant_relabelings; a plain Prometheus adds the same relabel_configs, with
snake_case keys). A scrape-time target label, not a label the runtime exports: which role a pod
plays is deployment topology that changes when Argo promotes B (it rewrites the pod label and the
next scrape follows) while the process keeps running, so an env var read at start would go stale.
"""

from __future__ import annotations

from compiler.emitters.catalog_check import (KUBERNETES_TARGET_LABELS, POD_TARGET_LABELS, series_label,
                                             variant_relabelings)
from compiler.emitters.monitoring.rules import Alert, Group, Recording, Settings

METRICS_PORT_NAME = "metrics"
NAME_LABEL = "app.kubernetes.io/name"


def rules_file(s: Settings, groups: list[Group]) -> dict:
    return {"groups": [_group(s, g) for g in groups]}


def prometheus_rule(s: Settings, groups: list[Group]) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _metadata(s),
        "spec": rules_file(s, groups),
    }


def service_monitor(s: Settings) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _metadata(s),
        "spec": {
            "jobLabel": NAME_LABEL,
            "selector": {"matchLabels": {NAME_LABEL: s.model}},
            "namespaceSelector": {"matchNames": [s.spec.rollout.namespace]},
            "endpoints": [_endpoint(s)],
            "podTargetLabels": list(POD_TARGET_LABELS),
        },
    }


def _endpoint(s: Settings) -> dict:
    endpoint: dict = {"port": METRICS_PORT_NAME, "path": "/metrics"}
    r = s.spec.rollout
    if r.strategy == "experiment":  # the `variant` label the experiment's analysis compares by
        endpoint["relabelings"] = variant_relabelings(r.controller, s.spec.name)
    return endpoint


def relabel_configs() -> list[dict]:
    """What a plain Prometheus scrape job needs for the labels the ServiceMonitor adds."""
    pairs = [(source, label) for label, source in sorted(KUBERNETES_TARGET_LABELS.items())]
    pairs += [(f"__meta_kubernetes_pod_label_{series_label(p)}", series_label(p)) for p in POD_TARGET_LABELS]
    return [{"source_labels": [source], "target_label": label} for source, label in pairs]


def _metadata(s: Settings) -> dict:
    return {
        "name": s.model,
        "namespace": s.mon.namespace,
        "labels": {**s.mon.labels, NAME_LABEL: s.model, "app.kubernetes.io/managed-by": "deployc"},
    }


def _group(s: Settings, group: Group) -> dict:
    return {"name": group.name, "rules": [_rule(s, r) for r in group.rules]}


def _rule(s: Settings, rule: Recording | Alert) -> dict:
    if isinstance(rule, Recording):
        return {"record": rule.record, "expr": rule.expr}
    out = {"alert": rule.alert, "expr": rule.expr, "labels": s.alert_labels(rule.severity),
           "annotations": s.annotations(rule)}
    if rule.for_:
        out["for"] = rule.for_
    return out
