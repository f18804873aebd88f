"""What the spec controls, and the clear errors for a spec the rules cannot honour."""

from __future__ import annotations

import pytest

from compiler.emitters.monitoring import Options, build_groups
from compiler.emitters.monitoring.rules import Settings
from compiler.emitters.monitoring.slo import PAGE, TICKET, factor
from compiler.errors import SpecError
from monitoring_helpers import context, emit, load


def _rules(files) -> dict[str, dict]:
    return {r.get("alert") or r["record"]: r for g in load(files, "rules.yaml")["groups"] for r in g["rules"]}


def test_latency_threshold_off_the_buckets_is_a_spec_error_naming_the_key_and_the_choices():
    with pytest.raises(SpecError) as err:
        emit("digits-cnn", ["monitoring.slo.latency_threshold_seconds=0.2"])
    message = str(err.value)
    assert "monitoring.slo.latency_threshold_seconds" in message
    assert "0.2" in message and "0.1, 0.25, 0.5" in message


def test_latency_sli_reads_the_thresholds_bucket():
    rules = _rules(emit("digits-cnn", ["monitoring.slo.latency_threshold_seconds=0.5"]))
    assert 'le="0.5"' in rules["model:deployc_slo_latency_errors:ratio_rate5m"]["expr"]


def test_burn_factors_are_the_workbooks_for_30_days():
    s = Settings(context("text-encoder", drift=False).spec)
    assert [factor(s, long, share) for long, _, share in PAGE + TICKET] == [14.4, 6.0, 3.0, 1.0]
    rules = _rules(emit("text-encoder", drift=False))
    # availability 0.995: budget 0.005; 14.4 x 0.005 = 0.072
    assert "> 0.072 and" in rules["DeploycAvailabilityBurnFast"]["expr"]
    assert rules["DeploycAvailabilityBurnFast"]["labels"]["severity"] == "page"
    assert rules["DeploycLatencyBurnSlow"]["labels"]["severity"] == "ticket"


def test_burn_factors_scale_with_the_period():
    s = Settings(context("text-encoder", ["monitoring.slo.period=7d"], drift=False).spec)
    assert factor(s, "1h", 0.02) == pytest.approx(14.4 * 7 / 30)


@pytest.mark.parametrize("override, path", [
    ("+monitoring.labels.bad-key=x", "monitoring.labels.bad-key"),
    ("+monitoring.labels.severity=x", "monitoring.labels.severity"),
    ("+monitoring.labels.team2=has space", "monitoring.labels.team2"),
])
def test_bad_monitoring_labels_are_spec_errors(override, path):
    with pytest.raises(SpecError, match=path):
        emit("text-encoder", [override], drift=False)


def test_disabled_monitoring_emits_nothing():
    assert emit("text-encoder", ["monitoring.enabled=false"], drift=False) == {}


def test_drift_rules_need_a_baseline_and_drift_enabled():
    assert "DeploycInputDrift" not in _rules(emit("text-encoder", drift=False))
    assert "DeploycInputDrift" not in _rules(emit("text-encoder", ["monitoring.drift.enabled=false"]))
    rules = _rules(emit("text-encoder", ["monitoring.drift.window=30s", "monitoring.drift.threshold=0.3"]))
    assert rules["DeploycInputDrift"]["expr"] == 'model_input:deployc_input_psi:rate30s{model="text-encoder"} > 0.3'
    assert "[30s]" in rules["model_input_bucket:deployc_input_share:rate30s"]["expr"]


def test_thresholds_come_from_the_spec():
    rules = _rules(emit("text-encoder", ["monitoring.saturation.max_queue_seconds=0.02",
                                         "monitoring.saturation.max_inflight_ratio=0.5",
                                         "rollout.analysis.max_error_ratio=0.05"], drift=False))
    assert rules["DeploycQueueSaturated"]["expr"].endswith("> 0.02")
    assert rules["DeploycInflightSaturated"]["expr"].endswith("> 0.5")
    assert rules["DeploycErrorRatioHigh"]["expr"].endswith("> 0.05")


def test_options_shorten_for_and_rate_window_without_touching_instant_alerts():
    rules = _rules(emit("text-encoder", options=Options(alert_for="2s", rate_window="30s"), drift=False))
    assert rules["DeploycErrorRatioHigh"]["for"] == "2s"
    assert "[30s]" in rules["DeploycErrorRatioHigh"]["expr"]
    assert "for" not in rules["DeploycModelLoadFailures"]
    assert "for" not in rules["DeploycAvailabilityBurnFast"]


def test_runbook_url_becomes_an_annotation():
    rules = _rules(emit("text-encoder", ["monitoring.runbook_url=https://runbooks.example/ml"], drift=False))
    assert rules["DeploycTargetDown"]["annotations"]["runbook_url"] == "https://runbooks.example/ml#deployctargetdown"


def test_groups_are_slo_alerts_and_drift():
    ctx = context("digits-cnn")
    names = [g.name for g in build_groups(Settings(ctx.spec), ctx.runtime.drift)]
    assert names == ["deployc.digits-cnn.slo", "deployc.digits-cnn.alerts", "deployc.digits-cnn.drift"]
