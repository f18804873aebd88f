"""Static guarantee: every metric and label a rule, alert or panel names is one the runtime exports.

The rules for one expression (catalog metrics, `job`/`instance`/`up`, `outcome` and `le`
values) live in compiler/emitters/catalog_check.py, shared with the kubernetes emitter. Here:
rules are checked in order, each recording rule adding its series (with the labels it keeps)
for the rules and panels after it, and rule and label names are checked for Prometheus.
Syntax itself is promtool's job (the generated tests run `promtool check rules`).
"""

from __future__ import annotations

from compiler.emitters.catalog_check import Known, expr_problems, known_series, result_labels
from compiler.emitters.monitoring.rules import ALERT_NAME, LABEL_NAME, RECORD_NAME, Alert, Group, Recording
from compiler.errors import DeploycError


class CatalogMismatchError(DeploycError):
    """A rule or panel names a metric or label the generated server does not export."""

    def __init__(self, where: str, message: str):
        self.where = where
        super().__init__(f"monitoring: {where}: {message} (the serving engine's metrics are listed in "
                         "compiler/runtime/catalog.py for serve.engine deployc, "
                         "compiler/emitters/vllm/catalog_data.py for vllm)")


def check_groups(groups: list[Group], known: Known | None = None) -> Known:
    """Checks every rule in order; returns the known series extended by the recordings."""
    known = dict(known or known_series())
    for group in groups:
        for rule in group.rules:
            name = rule.record if isinstance(rule, Recording) else rule.alert
            where = f"rule '{name}' (group {group.name})"
            _check_name(where, rule)
            result = check_expr(where, rule.expr, known)
            if isinstance(rule, Recording):
                known[rule.record] = result
            else:
                _check_alert_labels(where, rule)
    return known


def check_expr(where: str, expr: str, known: Known | None = None) -> frozenset[str]:
    """Raises CatalogMismatchError naming `where` and every metric or label at fault; returns
    the labels the expression's result can carry (its grouping labels, or those of its series)."""
    known = known if known is not None else known_series()
    problems = expr_problems(expr, known)
    if problems:
        raise CatalogMismatchError(where, "; ".join(problems))
    return result_labels(expr, known)


def _check_name(where: str, rule) -> None:
    if isinstance(rule, Recording) and not RECORD_NAME.match(rule.record):
        raise CatalogMismatchError(where, "not a valid metric name for a recording rule")
    if isinstance(rule, Alert) and not ALERT_NAME.match(rule.alert):
        raise CatalogMismatchError(where, "alert names are CamelCase identifiers")


def _check_alert_labels(where: str, alert: Alert) -> None:
    for case in alert.cases:
        for key, _ in case.labels:
            if not LABEL_NAME.match(key):
                raise CatalogMismatchError(where, f"label name '{key}' is not valid for Prometheus")
