"""The monitoring emitter: Prometheus rules, promtool tests, a ServiceMonitor and a Grafana
dashboard under monitoring/, all checked against the runtime's metric catalog.

Files (relative to <out>/<target>/):
- monitoring/rules.yaml            rule groups for a plain Prometheus (rule_files)
- monitoring/rules.test.yaml       promtool unit tests of every alert (`promtool test rules`)
- monitoring/prometheusrule.yaml   the same groups as a PrometheusRule (Prometheus Operator)
- monitoring/servicemonitor.yaml   scrape config for the Operator
- monitoring/dashboard.json        Grafana dashboard
- monitoring/experiment.test.yaml  rollout.strategy experiment: promtool tests of the A/B comparison
                                   queries (compiler/emitters/kubernetes/experiment_tests.py)

Groups: slo.py (SLO recordings, burn-rate alerts), alerts.py (errors, saturation, health),
drift.py (PSI against the build-time baseline in ctx.runtime.drift, when there is one),
prompt_drift.py (text generation: prompt length against the last day's).
"""

from __future__ import annotations

import json

import yaml

from compiler.emitters.base import EmitContext, Files
from compiler.emitters.kubernetes import experiment_tests
from compiler.emitters.monitoring.alerts import alerts_group
from compiler.emitters.monitoring.crosscheck import CatalogMismatchError, check_expr, check_groups
from compiler.emitters.monitoring.dashboard import build_dashboard
from compiler.emitters.monitoring.drift import drift_group
from compiler.emitters.monitoring.manifests import prometheus_rule, rules_file, service_monitor
from compiler.emitters.monitoring.prompt_drift import prompt_drift_group
from compiler.emitters.monitoring.promtool_tests import unit_tests
from compiler.emitters.monitoring.rules import Group, Options, Settings, check_spec_labels, provenance
from compiler.emitters.monitoring.slo import slo_group

__all__ = ["MonitoringEmitter", "Options", "CatalogMismatchError", "check_expr", "build_groups"]

FOLDER = "monitoring"


class MonitoringEmitter:
    name = "monitoring"

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()

    def emit(self, ctx: EmitContext) -> Files:
        if not ctx.spec.monitoring.enabled:
            return {}
        check_spec_labels(ctx.spec)
        s = Settings(ctx.spec, self.options, provenance(ctx.spec, ctx.selected.sha256 if ctx.selected else None))
        groups = build_groups(s, ctx.runtime.drift if ctx.runtime else {})
        known = check_groups(groups)
        files = _experiment_tests(ctx)
        return files | {
            f"{FOLDER}/rules.yaml": _yaml(rules_file(s, groups)),
            f"{FOLDER}/rules.test.yaml": _yaml(unit_tests(s, groups, "rules.yaml")),
            f"{FOLDER}/prometheusrule.yaml": _yaml(prometheus_rule(s, groups)),
            f"{FOLDER}/servicemonitor.yaml": _yaml(service_monitor(s)),
            f"{FOLDER}/dashboard.json": _json(build_dashboard(s, groups, known)),
        }


def _experiment_tests(ctx: EmitContext) -> Files:
    """An experiment's comparison queries (the analysis in k8s/), tested on their own."""
    if ctx.spec.rollout.strategy != "experiment":
        return {}
    model = ctx.runtime.model_name if ctx.runtime is not None else ctx.spec.name
    return {f"{FOLDER}/experiment.test.yaml": _yaml(experiment_tests.unit_tests(ctx.spec, model))}


def build_groups(s: Settings, baseline: dict) -> list[Group]:
    optional = (drift_group(s, baseline), prompt_drift_group(s))
    return [slo_group(s), alerts_group(s)] + [g for g in optional if g is not None]


def _yaml(data: dict) -> bytes:
    return yaml.safe_dump(data, sort_keys=True, allow_unicode=True).encode("utf-8")


def _json(data: dict) -> bytes:
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
