"""The front end: composition, validation and the error messages users see for bad specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.errors import SpecError
from compiler.frontend import load_spec
from tests.conftest import EXAMPLES

DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"


def write_spec(tmp_path: Path, text: str, name: str = "deploy.yaml") -> Path:
    for f in (EXAMPLES / "digits-cnn").iterdir():  # every file the spec may name (train.npz: optimize.distill)
        if f.is_file():
            (tmp_path / f.name).write_bytes(f.read_bytes())
    path = tmp_path / name
    path.write_text(text)
    return path


def spec_error(*args) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(*args)
    return info.value


def test_examples_load_for_every_target():
    from compiler.resources import target_names

    for target in target_names():
        for example in ("digits-cnn", "text-encoder"):
            spec = load_spec(EXAMPLES / example / "deploy.yaml", [f"target={target}"])
            assert spec.target.name == target


def test_overrides_and_gate_layers():
    spec = load_spec(DIGITS, ["serve.replicas.max=9", "target=android-arm64"])
    assert spec.serve.replicas.max == 9
    # target_gates.android-arm64 loosens the accuracy drop; the rest stays from optimize.gates.
    assert spec.gates.max_accuracy_drop == 0.02 and spec.gates.min_top1_agreement == 0.98


def test_interpolation_resolves(tmp_path):
    text = DIGITS.read_text().replace("description: Handwritten digit classifier (8x8 grayscale)",
                                      'description: "${name} v${version}"')
    spec = load_spec(write_spec(tmp_path, text))
    assert spec.description == "digits-cnn v1.0.0"


def test_missing_spec_file(tmp_path):
    assert "spec file not found" in str(spec_error(tmp_path / "nope.yaml"))


def test_yaml_syntax_error_names_line(tmp_path):
    path = write_spec(tmp_path, "name: x\nmodel: [unclosed\nversion: 1\n")
    issue = spec_error(path).issues[0]
    assert "YAML syntax error" in issue.message and issue.file == "deploy.yaml" and issue.line is not None


def test_duplicate_key_names_line(tmp_path):
    issue = spec_error(write_spec(tmp_path, "name: a\nversion: '1'\nname: b\n")).issues[0]
    assert "duplicate key 'name'" in issue.message and issue.line == 3


def test_unknown_key_suggests_and_locates(tmp_path):
    path = write_spec(tmp_path, DIGITS.read_text().replace("  quantize:", "  quantise:"))
    issue = spec_error(path).issues[0]
    assert issue.path == "optimize.quantise"
    assert "did you mean 'quantize'" in issue.message
    assert issue.file == "deploy.yaml" and issue.line == DIGITS.read_text().splitlines().index("  quantize: [int8-dynamic, int8-static]") + 1


def test_wrong_type_names_path():
    err = spec_error(DIGITS, ["serve.port=eighty", "serve.max_request_bytes=2048"])
    assert err.issues[0].path == "serve.port" and "must be of integer type" in err.issues[0].message


def test_unknown_target_lists_known():
    err = spec_error(DIGITS, ["target=tpu-v9"])
    assert err.issues[0].path == "target" and "cpu-x86" in err.issues[0].message


def test_override_of_unknown_key():
    issue = spec_error(DIGITS, ["serve.replica.max=3"]).issues[0]
    assert issue.path == "serve.replica" and "did you mean 'replicas'" in issue.message


def test_override_of_key_the_file_does_not_write():
    assert load_spec(DIGITS, ["serve.port=9100"]).serve.port == 9100


def test_error_in_a_key_only_the_command_line_writes_is_located_there():
    # Not at `serve:` (the closest key the file writes): the value is not in the file.
    issue = spec_error(DIGITS, ["serve.request_timeout_s=0"]).issues[0]
    assert (issue.path, issue.file, issue.line) == ("serve.request_timeout_s", "command line", None)
    assert str(issue).startswith("serve.request_timeout_s (command line): ")
    # A key the file writes keeps its file:line; a key under a dict the override wrote is the override's.
    assert spec_error(DIGITS, ["name=Digits_CNN"]).issues[0].file == "deploy.yaml"
    issue = spec_error(DIGITS, ["serve.replicas={min: 9, max: 2}"]).issues[0]
    assert issue.path == "serve.replicas.min" and issue.file == "deploy.yaml"


def test_error_in_an_included_file_is_located_in_that_file(tmp_path):
    text = DIGITS.read_text().replace("  - _self_", "  - base\n  - _self_").replace("    min_cosine: 0.99\n", "")
    path = write_spec(tmp_path, text)
    (tmp_path / "base.yaml").write_text("optimize:\n  gates:\n    min_cosine: .nan\n")
    issue = spec_error(path).issues[0]
    assert (issue.path, issue.file, issue.line) == ("optimize.gates.min_cosine", "base.yaml", 3)


def test_target_profile_errors_point_at_profile_file():
    err = spec_error(DIGITS, ["target.kind=tpu"])
    assert err.issues[0].path == "target.kind" and err.issues[0].file == "cpu-x86.yaml"


@pytest.mark.parametrize("overrides, path, words", [
    (["optimize.quantize=int8-static", "model.calibration=null"], "optimize.quantize", "calibration"),
    (["serve.replicas.min=7"], "serve.replicas.min", "above max"),
    (["name=Digits_CNN"], "name", "does not match"),
    (["target.resources.gpu=1"], "target.resources.gpu", "GPU resources on a cpu target"),
    (["rollout.canary.steps=[{set_weight: 50}, {set_weight: 20}]"], "rollout.canary.steps[1].set_weight", "increase"),
    (["rollout.canary.steps=[{set_weight: 150}]"], "rollout.canary.steps[0].set_weight", "above 100"),
    (["rollout.canary.steps=[{pause: soon}]"], "rollout.canary.steps[0].pause", "does not match"),
    (["rollout.strategy=blue-green", "rollout.blue_green.preview_port=null"], "rollout.blue_green.preview_port", "preview"),
    (["target=android-arm64", "optimize.edge.batch_size=dynamic"], "optimize.edge.batch_size", "fixed batch"),
])
def test_cross_field_rules(overrides, path, words):
    issues = spec_error(DIGITS, overrides).issues
    assert any(i.path == path and words in i.message for i in issues), issues


def test_all_issues_reported_at_once(tmp_path):
    text = DIGITS.read_text().replace("  quantize:", "  quantise:").replace("task: classification", "task: ranking")
    assert {i.path for i in spec_error(write_spec(tmp_path, text)).issues} == {"optimize.quantise", "model.task"}


def test_json_schema_accepts_examples():
    import jsonschema
    import yaml

    from compiler.frontend.jsonschema import spec_json_schema

    schema = spec_json_schema()
    for example in ("digits-cnn", "text-encoder"):
        jsonschema.validate(yaml.safe_load((EXAMPLES / example / "deploy.yaml").read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "version": "1", "model": {}, "bogus": 1}, schema)


def test_latency_threshold_must_be_a_histogram_bound():
    issue = spec_error(DIGITS, ["monitoring.slo.latency_threshold_seconds=0.2"]).issues[0]
    assert issue.path == "monitoring.slo.latency_threshold_seconds" and "0.25" in issue.message
    assert issue.file == "deploy.yaml" and issue.line is not None
