"""Spec errors for Kubernetes targets: each names the key path (and the file where known)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.errors import SpecError
from compiler.frontend import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"
TEXT = EXAMPLES / "text-encoder" / "deploy.yaml"


def _error(spec: Path, overrides: list[str]) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(spec, overrides)
    return str(info.value)


@pytest.mark.parametrize("spec, overrides, path, words", [
    (DIGITS, ["serve.replicas={min: 5, max: 2}"], "serve.replicas.min", "above max"),
    (DIGITS, ["rollout.canary.steps=[{set_weight: 50}, {set_weight: 20}]"], "rollout.canary.steps[1].set_weight",
     "must increase"),
    (DIGITS, ["rollout.canary.steps=[{set_weight: 150}]"], "rollout.canary.steps[0].set_weight", "above 100"),
    (DIGITS, ["rollout.canary.steps=[{set_weight: 10}, {pause: 5 minutes}]"], "rollout.canary.steps[1].pause",
     "does not match regex"),
    (DIGITS, ["rollout.canary.steps=[{pause: 1m}]"], "rollout.canary.steps", "set_weight"),
    (DIGITS, ["name=Digits_CNN"], "name (deploy.yaml:", "does not match regex"),
    (DIGITS, ["name=9digits"], "name", "start with a letter"),
    (DIGITS, ["name=" + "d" * 56], "name", "at most 55"),
    (TEXT, ["rollout.blue_green.preview_port=null"], "rollout.blue_green.preview_port", "preview port"),
    (DIGITS, ["target.resources.gpu=1"], "target.resources.gpu", "GPU resources on a cpu target"),
    (DIGITS, ["+serve.metrics_port=8080"], "serve.metrics_port", "must differ"),
    (DIGITS, ["serve.replicas.min=0"], "serve.replicas.min", "at least 1"),
    (DIGITS, ["version=1.0.0+build.5"], "version", "image tag"),
    (DIGITS, ["+serve.labels={team: 'ml platform'}"], "serve.labels.team", "label value"),
    (DIGITS, ["+serve.labels={app.kubernetes.io/name: x}"], "serve.labels.app.kubernetes.io/name", "set by deployc"),
    (DIGITS, ["+serve.annotations={_owner: x}"], "serve.annotations._owner", "key name"),
    (DIGITS, ["+serve.allow_from_namespaces=[Web]"], "serve.allow_from_namespaces[0]", "namespace"),
    (DIGITS, ["+rollout.controller=flagger"], "rollout.analysis.on_no_data", "Flagger has no 'inconclusive'"),
    (TEXT, ["+rollout.controller=flagger"], "rollout.controller", "flagger blue-green"),
])
def test_spec_error_names_the_path(spec, overrides, path, words):
    message = _error(spec, overrides)
    assert path in message and words in message, message


def test_error_points_at_the_file_and_line():
    message = _error(DIGITS, ["+rollout.controller=flagger"])
    assert "deploy.yaml:" in message


def test_kubernetes_rules_skip_targets_without_manifests():
    # An edge target emits no manifests: a serving port clash there is irrelevant.
    spec = load_spec(DIGITS, ["target=android-arm64", "+serve.metrics_port=8080"])
    assert spec.target.name == "android-arm64"


def test_valid_labels_and_annotations_pass():
    spec = load_spec(DIGITS, ["+serve.labels={team: ml-platform, example.com/tier: gold}",
                              "+serve.annotations={example.com/owner: 'a: b'}"])
    assert spec.serve.labels["example.com/tier"] == "gold"
