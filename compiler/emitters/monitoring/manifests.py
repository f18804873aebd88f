"""The rule groups as files: a plain Prometheus rules file, a PrometheusRule and a ServiceMonitor.

The ServiceMonitor selects the model's Service by app.kubernetes.io/name=<spec.name> in the
rollout namespace, scrapes its port named "metrics" (the Kubernetes emitter names the
serve.metrics_port so) and takes the `job` label from the Service's app.kubernetes.io/name,
which is what DeploycTargetDown's `up{job="<spec.name>"}` selects.
"""

from __future__ import annotations

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
        },
    }


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
