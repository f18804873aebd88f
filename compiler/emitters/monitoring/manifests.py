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
"""

from __future__ import annotations

from compiler.emitters.catalog_check import KUBERNETES_TARGET_LABELS, POD_TARGET_LABELS, series_label
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
            "endpoints": [{"port": METRICS_PORT_NAME, "path": "/metrics"}],
            "podTargetLabels": list(POD_TARGET_LABELS),
        },
    }


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
