"""rollout.strategy experiment: specs that could not run as an A/B experiment are spec errors
naming the key (exit 2 from the command line, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.errors import SpecError
from compiler.frontend import load_spec
from tests.conftest import run_cli

SPEC = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn" / "experiment.yaml"
ISTIO = ["~rollout.traffic", "+rollout.traffic={router: istio}"]
NO_ROUTE = ["~rollout.experiment.header"]


def _error(overrides: list[str], spec: Path = SPEC) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(spec, overrides)
    return str(info.value)


def test_the_example_is_valid():
    e = load_spec(SPEC).rollout.experiment
    assert (e.header.name, e.header.value, e.min_samples, e.confidence) == ("x-model-variant", "b", 1000, 0.95)


@pytest.mark.parametrize("overrides, key, words", [
    (["~rollout.traffic", "+rollout.traffic={router: none}"], "rollout.traffic.router", "needs a router"),
    (["~rollout.traffic", "+rollout.traffic={router: smi}"], "rollout.traffic.router", "cannot match a header"),
    (NO_ROUTE, "rollout.experiment", "needs one route to variant B"),
    (["rollout.experiment.cookie=model_b"], "rollout.experiment.cookie", "choose one route"),
    (["rollout.experiment.header.name=x variant"], "rollout.experiment.header.name", "not an HTTP header name"),
    (["rollout.experiment.header.name=Cookie"], "rollout.experiment.header.name", "rollout.experiment.cookie"),
    (["rollout.experiment.header.value=''"], "rollout.experiment.header.value", "exact match"),
    (["rollout.experiment.header.value='a\nb'"], "rollout.experiment.header.value", "printable ASCII"),
    (NO_ROUTE + ["rollout.experiment.cookie='a;b'"], "rollout.experiment.cookie", "not a cookie name"),
    (["rollout.controller=flagger", "rollout.analysis.on_no_data=pass", "~rollout.experiment.header",
      "rollout.experiment.weight=20"], "rollout.experiment.weight", "controller flagger cannot hold"),
    (["rollout.controller=flagger"], "rollout.analysis.on_no_data", "no 'inconclusive'"),
    (["rollout.experiment.quality_metric.name=deployc_feedbacks_total"],
     "rollout.experiment.quality_metric.name", "not a counter the runtime exports"),
    (["rollout.experiment.quality_metric.name=deployc_model_ready"],
     "rollout.experiment.quality_metric.name", "not a counter"),
    (["rollout.experiment.quality_metric.match={right: 'true'}"],
     "rollout.experiment.quality_metric.match.right", "no label 'right'"),
    (["rollout.experiment.quality_metric.match={model: digits-cnn}"],
     "rollout.experiment.quality_metric.match.model", "no label 'model'"),
    (["~rollout.experiment.quality_metric.match", "+rollout.experiment.quality_metric.match={}"],
     "rollout.experiment.quality_metric.match", "name the labels"),
    (["monitoring.enabled=false", "monitoring.slo.latency_threshold_seconds=0.3"],
     "monitoring.slo.latency_threshold_seconds", "slower than this"),
    (["rollout.experiment.control.report=missing.json"], "rollout.experiment.control.report", "file not found"),
    (["rollout.experiment.control.report=deploy.yaml"], "rollout.experiment.control.report",
     "not a deployc report.json"),
    (["rollout.experiment.confidence=0.99999"], "rollout.experiment.confidence", "max"),
    (["rollout.experiment.weight=101"], "rollout.experiment.weight", "max"),
])
def test_bad_experiments_name_the_key(overrides, key, words):
    message = _error(overrides)
    assert key in message and words in message, message


@pytest.mark.parametrize("overrides", [
    ISTIO,
    ISTIO + NO_ROUTE + ["rollout.experiment.cookie=model_b"],
    ["~rollout.traffic", "+rollout.traffic={router: nginx}"],
    ["~rollout.traffic", "+rollout.traffic={router: smi}", "~rollout.experiment.header", "rollout.experiment.weight=30"],
    ISTIO + ["rollout.controller=flagger", "rollout.analysis.on_no_data=pass"],
    ["~rollout.experiment.quality_metric",
     "+rollout.experiment.quality_metric={name: deployc_requests_total, match: {outcome: success}, better: higher}"],
    ["rollout.strategy=canary"],  # the experiment block is ignored by other strategies
])
def test_valid_experiments_pass(overrides):
    load_spec(SPEC, overrides)


def test_a_control_report_must_be_a_deployc_report(tmp_path: Path):
    folder = tmp_path / "spec"
    folder.mkdir()
    for f in SPEC.parent.iterdir():
        if f.is_file():  # copies: symlinks resolve to the example's folder, outside the spec's
            (folder / f.name).write_bytes(f.read_bytes())
    (folder / "a.json").write_text(json.dumps({"name": "digits-cnn"}))
    message = _error(["rollout.experiment.control.report=a.json"], folder / "experiment.yaml")
    assert "rollout.experiment.control.report" in message and "a.json is not a deployc report.json" in message


def test_cli_exit_2_names_the_key_without_traceback():
    result = run_cli("validate", str(SPEC), "~rollout.traffic", "+rollout.traffic={router: none}")
    out = " ".join((result.stdout + result.stderr).split())  # the console wraps long lines
    assert result.returncode == 2 and "Traceback" not in out, out
    assert "rollout.traffic.router (experiment.yaml:" in out and "needs a router" in out


def test_the_json_schema_accepts_the_example_and_refuses_an_unknown_experiment_key():
    import jsonschema
    import yaml

    schema = json.loads(run_cli("schema").stdout)
    validator = jsonschema.Draft202012Validator(schema)
    doc = {k: v for k, v in yaml.safe_load(SPEC.read_text()).items() if k != "defaults"}
    doc.setdefault("target", {})
    assert [e.message for e in validator.iter_errors(doc)] == []
    doc["rollout"]["experiment"]["wieght"] = 20
    assert not validator.is_valid(doc)
