"""The rule model the monitoring modules share: rule groups as typed data, and the settings
read once from the spec.

Every alert carries the promtool cases that exercise it (series that make it fire, series
that keep it silent): the module that writes an expression also knows what drives it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Union

from prometheus_client.utils import floatToGoString

from compiler.errors import SpecError, SpecIssue
from compiler.frontend.spec import MonitoringSpec, Spec

Labels = tuple[tuple[str, str], ...]

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
ALERT_NAME = re.compile(r"^[A-Z][a-zA-Z0-9]*$")
RECORD_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# Kubernetes label values (the spec's labels go on the PrometheusRule's metadata too).
K8S_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Series:
    """One promtool input series: name, labels and values in promtool's expanding notation."""

    name: str
    labels: Labels
    values: str

    def text(self) -> str:
        inner = ",".join(f"{k}={quote(v)}" for k, v in self.labels)
        return f"{self.name}{{{inner}}}"


@dataclass(frozen=True)
class AlertCase:
    """Series and a time at which the alert must be firing (fires) or silent (not fires)."""

    title: str
    series: tuple[Series, ...]
    eval_time: str
    fires: bool
    labels: Labels = ()  # labels the alert takes from its expression's result
    value: float | None = None  # $value at eval_time, to render the expected annotations


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str


@dataclass(frozen=True)
class Alert:
    alert: str
    expr: str
    severity: str  # page | ticket
    summary: str  # Go templates over $labels and $value
    description: str
    for_: str | None
    cases: tuple[AlertCase, ...] = ()
    # Says which spec and model produced the running version (Settings.provenance): alerts about the
    # model's own behaviour (drift, failing requests), whose responder decides whether to roll back.
    provenance: bool = False


Rule = Union[Recording, Alert]


@dataclass(frozen=True)
class Group:
    name: str
    rules: tuple[Rule, ...]

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return tuple(r for r in self.rules if isinstance(r, Alert))


@dataclass(frozen=True)
class Options:
    """Emitter options (not spec): a short `for:` for every alert that has one, so a live
    test sees alerts fire within seconds; and the window of the error-ratio/saturation rates."""

    alert_for: str | None = None
    rate_window: str = "5m"


@dataclass(frozen=True)
class Settings:
    """What the rule builders read: the spec plus the emitter's options, checked once."""

    spec: Spec
    options: Options = field(default_factory=Options)
    provenance: dict[str, str] = field(default_factory=dict)  # annotation -> text (see provenance())

    @property
    def model(self) -> str:
        return self.spec.name

    @property
    def mon(self) -> MonitoringSpec:
        return self.spec.monitoring

    def for_(self, default: str | None) -> str | None:
        """An alert's `for:`; the option shortens only alerts that wait at all."""
        return (self.options.alert_for or default) if default else None

    def alert_labels(self, severity: str) -> dict[str, str]:
        return {**dict(sorted(self.mon.labels.items())), "model": self.model, "severity": severity}

    def annotations(self, alert: Alert) -> dict[str, str]:
        out = {"summary": alert.summary, "description": alert.description}
        if self.mon.runbook_url:
            out["runbook_url"] = f"{self.mon.runbook_url}#{alert.alert.lower()}"
        if alert.provenance:
            out.update(self.provenance)
        return out

    def model_selector(self) -> str:
        return f"model={quote(self.model)}"


def provenance(spec: Spec, model_sha256: str | None) -> dict[str, str]:
    """Which build runs: the spec's name and version, the shipped model's sha256 (when the
    emitter knows it), and the registry version it came from (model.source mlflow). Annotations
    are Go templates, so a `{{` in a value is broken up to stay literal."""
    out = {"spec": f"{spec.name} {spec.version}"}
    if model_sha256:
        out["model_sha256"] = model_sha256
    if spec.registry is not None:
        out["model_source"] = f"{spec.registry.resolved} ({spec.registry.tracking_uri})"
    return {k: v.replace("{{", "{ {") for k, v in out.items()}


def check_spec_labels(spec: Spec) -> None:
    """monitoring.labels go on alerts (Prometheus label names) and on the objects' metadata."""
    issues = []
    for key, value in spec.monitoring.labels.items():
        path = f"monitoring.labels.{key}"
        if not LABEL_NAME.match(key) or key.startswith("__"):
            issues.append(SpecIssue(path, "not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)"))
        elif key in ("model", "severity", "alertname"):
            issues.append(SpecIssue(path, f"'{key}' is set by deployc on every alert; choose another name"))
        if not K8S_LABEL_VALUE.match(value):
            issues.append(SpecIssue(path, "not a valid Kubernetes label value (63 chars of [A-Za-z0-9._-])"))
    if "{{" in spec.monitoring.runbook_url:
        # Annotations are Go templates: a literal {{ would be read as one.
        issues.append(SpecIssue("monitoring.runbook_url", "must not contain '{{'"))
    if issues:
        raise SpecError(issues)


def quote(value: str) -> str:
    """A PromQL string literal; JSON's escapes are a subset of Go's, which PromQL uses."""
    return json.dumps(value)


def num(x: float) -> str:
    """A PromQL number, six significant digits (1 - 0.999 prints as 0.001)."""
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return f"{x:.6g}"


def le(bound: float) -> str:
    """The `le` label value exactly as the runtime's prometheus-client writes it."""
    return floatToGoString(bound)


def labels(**pairs: str) -> Labels:
    return tuple(sorted(pairs.items()))


def expanding(start: float, step: float, count: int) -> str:
    """promtool's 'a+bxn' notation: count+1 samples from start, step apart."""
    return f"{num(start)}+{num(step)}x{count}"


def constant(value: float, count: int) -> str:
    return f"{num(value)}x{count}"
