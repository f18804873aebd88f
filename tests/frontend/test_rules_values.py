"""Values that used to validate and then break the build or its artifacts (rules_values.py, the
schema's `empty: false` and positive durations, the flagger pause rule): each is a spec error."""

from __future__ import annotations

import pytest

from compiler.frontend import load_spec
from tests.conftest import run_cli
from tests.frontend.test_load import DIGITS, spec_error

FLAGGER = ["+rollout.controller=flagger", "rollout.analysis.on_no_data=fail"]


@pytest.mark.parametrize("overrides, path, words", [
    (["model.inputs.0.range=[1,0]"], "model.inputs[0].range", "low > high"),
    (["+model.outputs.0.range=[5,-5]"], "model.outputs[0].range", "low > high"),
    (["model.inputs.0.range=[0,1e39]"], "model.inputs[0].range", "does not fit float32"),
    (["model.inputs.0.dtype=uint8", "model.inputs.0.range=[0,300]"], "model.inputs[0].range", "does not fit uint8"),
    (["model.weights="], "model.weights", "must not be empty"),
    (["model.factory="], "model.factory", "must not be empty"),
    (["model.calibration.npz="], "model.calibration.npz", "must not be empty"),
    (["model.source=onnx", "~model.weights", "+model.onnx="], "model.onnx", "must not be empty"),
    (["monitoring.slo.period=0d"], "monitoring.slo.period", "regex"),
    (["monitoring.drift.window=0h"], "monitoring.drift.window", "regex"),
    (["rollout.analysis.interval=0s"], "rollout.analysis.interval", "longer than 0"),
    (["rollout.canary.steps=[{set_weight: 10}, {pause: 0m0s}]"], "rollout.canary.steps[1].pause", "longer than 0"),
    (["rollout.max_surge=abc"], "rollout.max_surge", "percentage"),
    (["rollout.max_surge=150%"], "rollout.max_surge", "0% to 100%"),
    (["rollout.max_surge='5'"], "rollout.max_surge", "percentage"),
    (["rollout.max_unavailable=-1"], "rollout.max_unavailable", "pod count >= 0"),
    (["rollout.max_surge=0%", "rollout.max_unavailable=0"], "rollout.max_unavailable", "both be 0"),
    (["image.repository=UPPER/Repo:tag"], "image.repository", "tag or digest"),
    (["image.repository=ghcr.io/Acme/digits"], "image.repository", "not an image repository"),
    (["image.repository='acme/digits@sha256:00'"], "image.repository", "tag or digest"),
    (["image.repository=acme//digits"], "image.repository", "not an image repository"),
    (["rollout.prometheus_url='not a url'"], "rollout.prometheus_url", "http(s) URL"),
    (["rollout.prometheus_url=ftp://prometheus:9090"], "rollout.prometheus_url", "http(s) URL"),
    (["rollout.prometheus_url='http://prometheus:99999'"], "rollout.prometheus_url", "http(s) URL"),
    (["model.labels=[a,a,b,c,d,e,f,g,h,i]"], "model.labels[1]", "listed twice"),
    (["+model.normalization={mean: [0.5], std: [0]}"], "model.normalization.std[0]", "must be > 0"),
    (["+model.normalization={mean: [0.1, 0.2, 0.3], std: [0.5]}"], "model.normalization.mean", "1 channel"),
    (FLAGGER, "rollout.canary.steps[1].pause", "rollout.analysis.interval"),
    (["~model.calibration", "optimize.quantize=int8-static"], "optimize.quantize", "int8-static needs calibration"),
    (["~model.calibration", "optimize.quantize=[int8-dynamic,int8-smoothquant]"], "optimize.quantize",
     "int8-smoothquant needs calibration"),
])
def test_value_is_a_spec_error(overrides, path, words):
    issues = spec_error(DIGITS, overrides).issues
    assert any(i.path == path and words in i.message for i in issues), issues


@pytest.mark.parametrize("overrides", [
    ["image.repository=ghcr.io/acme/digits"],
    ["image.repository=localhost:5000/a__b/c-d.e"],
    ["rollout.max_surge=1", "rollout.max_unavailable=0%"],
    ["rollout.max_surge=100%", "rollout.max_unavailable=25%"],
    ["rollout.prometheus_url=https://prom.example.com/api"],
    ["rollout.canary.steps=[{set_weight: 10}, {pause: 1m30s}, {set_weight: 50}]"],
    ["+model.normalization={mean: [0.5], std: [0.25]}"],
    FLAGGER + ["rollout.canary.steps=[{set_weight: 10}, {analysis: true}, {set_weight: 50}]"],
])
def test_valid_values_pass(overrides):
    load_spec(DIGITS, overrides)


def test_cli_exit_2_with_key_path_no_traceback():
    result = run_cli("validate", str(DIGITS), "model.inputs.0.range=[1,0]", "model.outputs.0.range=[1,0]")
    out = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in out, out
    assert "model.inputs[0].range" in out and "low > high" in out and "model.outputs[0].range" in out
