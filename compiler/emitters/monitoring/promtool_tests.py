"""promtool unit tests generated beside the rules (rules.test.yaml).

For every alert: each of its cases becomes one test group with its own input series, and an
alert_rule_test at the case's eval_time that expects the alert with its full labels and
rendered annotations (a firing case) or no alert at all (exp_alerts: [], a silent case).
`promtool test rules rules.test.yaml` then checks the expressions, the `for:` durations and
the annotation templates against a real rule engine.
"""

from __future__ import annotations

import re

from compiler.emitters.monitoring.rules import Alert, AlertCase, Group, Settings

EVALUATION_INTERVAL = "1m"
_FIELD = re.compile(r"\{\{(.*?)\}\}")


def unit_tests(s: Settings, groups: list[Group], rule_file: str) -> dict:
    tests = [_test(s, alert, case) for g in groups for alert in g.alerts for case in alert.cases]
    return {"rule_files": [rule_file], "evaluation_interval": EVALUATION_INTERVAL, "tests": tests}


def uncovered(groups: list[Group]) -> list[str]:
    """Alerts without both a firing and a silent case (the spec made one impossible)."""
    return [a.alert for g in groups for a in g.alerts
            if {c.fires for c in a.cases} != {True, False}]


def _test(s: Settings, alert: Alert, case: AlertCase) -> dict:
    expected = []
    if case.fires:
        alert_labels = {**dict(case.labels), **s.alert_labels(alert.severity)}
        rendered = {k: render(v, alert_labels, case.value) for k, v in s.annotations(alert).items()}
        expected.append({"exp_labels": alert_labels, "exp_annotations": rendered})
    return {
        "name": f"{alert.alert}: {case.title}",
        "interval": EVALUATION_INTERVAL,
        "input_series": [{"series": x.text(), "values": x.values} for x in case.series],
        "alert_rule_test": [{"eval_time": case.eval_time, "alertname": alert.alert, "exp_alerts": expected}],
    }


def render(template: str, labels: dict[str, str], value: float | None) -> str:
    """The few Go template forms the rules use, rendered as Prometheus renders them."""
    def field(m: re.Match) -> str:
        body = m.group(1).strip()
        if body.startswith("$labels."):
            return labels[body[len("$labels."):]]
        if value is None:
            raise ValueError(f"a case needs the alert's value to render {{{{ {body} }}}}")
        if body == "$value | humanizePercentage":
            return "%.4g%%" % (value * 100)  # Prometheus: fmt.Sprintf("%.4g%%", v*100)
        if body == 'printf "%.4g" $value':
            return "%.4g" % value
        raise ValueError(f"no renderer for the template field {{{{ {body} }}}}")
    return _FIELD.sub(field, template)
