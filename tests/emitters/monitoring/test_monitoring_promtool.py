"""The generated rules and their generated unit tests, run through a real promtool."""

from __future__ import annotations

import pytest
import yaml

from compiler.emitters.monitoring import build_groups
from compiler.emitters.monitoring.promtool_tests import uncovered
from compiler.emitters.monitoring.rules import Settings
from monitoring_helpers import EXAMPLES, context, emit, load, promtool, write


@pytest.fixture(scope="module", params=EXAMPLES)
def folder(request, tmp_path_factory):
    return write(emit(request.param), tmp_path_factory.mktemp(request.param))


def test_rules_pass_promtool_check_with_lint_fatal(folder):
    result = promtool("check", "rules", "--lint-fatal", "rules.yaml", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_prometheusrule_groups_pass_promtool_check(folder):
    # The Operator hands spec.groups to Prometheus as a rules file: the same check applies.
    spec = yaml.safe_load((folder / "prometheusrule.yaml").read_text())["spec"]
    (folder / "operator-rules.yaml").write_text(yaml.safe_dump(spec, sort_keys=True))
    result = promtool("check", "rules", "--lint-fatal", "operator-rules.yaml", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_unit_tests_pass(folder):
    result = promtool("test", "rules", "rules.test.yaml", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails_promtool(folder, tmp_path):
    """The generated tests have teeth: flip one firing case to silent and promtool must fail."""
    tests = yaml.safe_load((folder / "rules.test.yaml").read_text())
    firing = next(t for t in tests["tests"] if t["alert_rule_test"][0]["exp_alerts"])
    firing["alert_rule_test"][0]["exp_alerts"] = []
    tests["tests"] = [firing]
    (tmp_path / "rules.yaml").write_bytes((folder / "rules.yaml").read_bytes())
    (tmp_path / "broken.test.yaml").write_text(yaml.safe_dump(tests, sort_keys=True))
    result = promtool("test", "rules", "broken.test.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert firing["alert_rule_test"][0]["alertname"] in result.stdout + result.stderr


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_alert_has_a_firing_and_a_silent_case(example):
    ctx = context(example)
    groups = build_groups(Settings(ctx.spec), ctx.runtime.drift)
    assert uncovered(groups) == []
    tests = load(emit(example), "rules.test.yaml")["tests"]
    alerts = {a.alert for g in groups for a in g.alerts}
    tested = {t["alert_rule_test"][0]["alertname"] for t in tests}
    assert tested == alerts
    silent = {t["alert_rule_test"][0]["alertname"] for t in tests if not t["alert_rule_test"][0]["exp_alerts"]}
    assert silent == alerts
