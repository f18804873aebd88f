"""Flagger: a Canary over a plain Deployment, with one MetricTemplate per analysis check.

Mapping from the spec's canary steps (Flagger has no per-step script):
- the `set_weight` values become `analysis.stepWeights`;
- Flagger checks every metric at each `analysis.interval` and advances one step when all pass,
  so each weight lasts one interval: `analysis` steps need no form of their own, and a `pause`
  step is refused by the spec rules (rules_kubernetes.py) rather than dropped here;
- rollout.analysis.count (Argo's measurements per run) has no counterpart: Flagger's `iterations`
  is for blue/green and A/B analyses, not a weighted canary, so it is not emitted;
- `threshold` (failed checks before rollback) is failure_limit + 1, matching Argo's failureLimit
  (failed measurements tolerated).
`spec.provider` is the spec's rollout.traffic.router (traffic.py): Flagger splits traffic only
through a router, so the spec rules refuse a Flagger canary without one.
Flagger generates the Services (`<name>`, `<name>-primary`, `<name>-canary`) itself.

Which series are the canary's: Flagger copies the target Deployment to `<name>-primary` (the
stable track) and runs the canary as the target Deployment itself, so canary pods are named
`<target>-<replicaset hash>-<suffix>` and primary pods `<target>-primary-<hash>-<suffix>`.
MetricTemplate queries get Flagger's `{{ namespace }}` and `{{ target }}` variables, and the
queries filter on the scrape labels `namespace` and `pod` with the regex Flagger's own builtin
checks use, `{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)`: anchored, it matches exactly two
segments after the target name, so it takes the canary's pods and never the primary's
(`primary-<hash>-<suffix>` is three). Not the `<name>-canary` Service: scraping goes through
our own metrics Service (service.py), so `service`/`job` do not tell the tracks apart, and
Flagger offers no variable holding the canary ReplicaSet's pod-template-hash.
"""

from __future__ import annotations

from typing import Any

from compiler.emitters.kubernetes import analysis_queries as aq
from compiler.emitters.kubernetes import traffic
from compiler.emitters.kubernetes.common import HTTP_PORT_NAME, Workload

API_VERSION = "flagger.app/v1beta1"
# Flagger substitutes the metric's `interval`, the Canary's namespace and its targetRef's name.
WINDOW_VARIABLE = "{{ interval }}"
CANARY_POD_REGEX = "{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
CANARY_SCOPE = (aq.Matcher("namespace", "=", "{{ namespace }}"), aq.Matcher("pod", "=~", CANARY_POD_REGEX))
PROGRESS_DEADLINE_SECONDS = 600


def metric_templates(w: Workload) -> dict[str, dict[str, Any]]:
    """Check name -> MetricTemplate."""
    return {check.name: {
        "apiVersion": API_VERSION, "kind": "MetricTemplate", "metadata": w.metadata_dict(_template_name(w, check)),
        "spec": {"provider": {"type": "prometheus", "address": w.spec.rollout.prometheus_url},
                 "query": check.query},
    } for check in _checks(w)}


def canary(w: Workload) -> dict[str, Any]:
    r = w.spec.rollout
    return {
        "apiVersion": API_VERSION, "kind": "Canary", "metadata": w.metadata_dict(),
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name},
            "autoscalerRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": w.name},
            "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
            **traffic.flagger_fields(w),
            "service": {"port": w.spec.serve.port, "targetPort": HTTP_PORT_NAME, "portName": HTTP_PORT_NAME,
                        **traffic.flagger_service_fields(w)},
            "analysis": {
                "interval": r.analysis.interval,
                "threshold": r.analysis.failure_limit + 1,
                "stepWeights": [s.set_weight for s in r.canary.steps if s.set_weight is not None],
                "metrics": [_metric(w, check) for check in _checks(w)],
            },
        },
    }


def _checks(w: Workload) -> tuple[aq.Check, ...]:
    a = w.spec.rollout.analysis
    return aq.checks(w.model, a.max_error_ratio, a.max_p99_latency_seconds, WINDOW_VARIABLE, CANARY_SCOPE,
                     generation=w.spec.model.task == "text-generation")


def _metric(w: Workload, check: aq.Check) -> dict[str, Any]:
    a = w.spec.rollout.analysis
    return {
        "name": check.name,
        "templateRef": {"name": _template_name(w, check)},
        "interval": aq.rate_window(a.interval),
        "thresholdRange": aq.flagger_threshold_range(check.threshold, a.on_no_data),
    }


def _template_name(w: Workload, check: aq.Check) -> str:
    return f"{w.name}-{check.name}"
