"""Rules of a text-generation model: SLOs on time to first token and time per output token,
prompt-length drift; cross-checked against the runtime's catalog and run through promtool."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from compiler.emitters.base import EmitContext
from compiler.emitters.monitoring import MonitoringEmitter
from compiler.emitters.monitoring.rules import le
from compiler.emitters.monitoring.slo import TPOT_SECONDS
from compiler.runtime.catalog import SERIES, TPOT_BUCKETS
from monitoring_helpers import PROMTOOL, NO_PROMTOOL, context, promtool, write


def generation_context(overrides=()) -> EmitContext:
    ctx = context("digits-cnn", overrides, drift=False)
    spec = replace(ctx.spec, model=replace(ctx.spec.model, task="text-generation"))
    return replace(ctx, spec=spec)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write(MonitoringEmitter().emit(generation_context()), tmp_path_factory.mktemp("generation"))


def _rules(folder) -> dict:
    return {r.get("record") or r.get("alert"): r for g in yaml.safe_load((folder / "rules.yaml").read_text())["groups"]
            for r in g["rules"]}


def test_generation_slos_replace_the_request_latency_slo(folder):
    rules = _rules(folder)
    for sli in ("ttft", "tpot", "availability"):
        assert f"model:deployc_slo_{sli}_errors:ratio_rate1h" in rules
        assert f"Deployc{sli.capitalize()}BurnFast" in rules and f"Deployc{sli.capitalize()}BurnSlow" in rules
    assert "model:deployc_slo_latency_errors:ratio_rate1h" not in rules  # a whole answer's time is no SLI
    ttft = rules["model:deployc_slo_ttft_errors:ratio_rate5m"]["expr"]
    threshold = le(generation_context().spec.monitoring.slo.latency_threshold_seconds)
    assert f'deployc_time_to_first_token_seconds_bucket{{model="digits-cnn",le="{threshold}"}}' in ttft
    assert 'le="0.1"' in rules["model:deployc_slo_tpot_errors:ratio_rate5m"]["expr"]
    assert TPOT_SECONDS in TPOT_BUCKETS  # the rule reads one exact bucket
    assert "DeploycPromptLengthDrift" in rules
    for name in ("deployc_time_to_first_token_seconds_bucket", "deployc_request_prompt_tokens_sum",
                 "deployc_num_requests_waiting"):
        assert name in SERIES  # the runtime exports what the rules and panels read


def test_other_models_keep_the_request_latency_slo():
    files = MonitoringEmitter().emit(context("digits-cnn", drift=False))
    text = files["monitoring/rules.yaml"].decode()
    assert "deployc_slo_latency_errors" in text and "ttft" not in text and "PromptLength" not in text


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_generation_rules_pass_promtool(folder):
    check = promtool("check", "rules", "--lint-fatal", "rules.yaml", cwd=folder)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = promtool("test", "rules", "rules.test.yaml", cwd=folder)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    names = {t["alert_rule_test"][0]["alertname"]
             for t in yaml.safe_load((folder / "rules.test.yaml").read_text())["tests"]}
    assert {"DeploycTtftBurnFast", "DeploycTpotBurnSlow", "DeploycPromptLengthDrift"} <= names


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_prompt_drift_case_has_teeth(folder, tmp_path):
    tests = yaml.safe_load((folder / "rules.test.yaml").read_text())
    firing = next(t for t in tests["tests"] if t["alert_rule_test"][0]["alertname"] == "DeploycPromptLengthDrift"
                  and t["alert_rule_test"][0]["exp_alerts"])
    firing["alert_rule_test"][0]["exp_alerts"] = []
    (tmp_path / "rules.yaml").write_bytes((folder / "rules.yaml").read_bytes())
    (tmp_path / "broken.test.yaml").write_text(yaml.safe_dump({**tests, "tests": [firing]}, sort_keys=True))
    assert promtool("test", "rules", "broken.test.yaml", cwd=tmp_path).returncode != 0
