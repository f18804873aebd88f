"""A gate the build cannot compute is a spec error found by `deployc validate` (exit 2, key path
and file:line), in every gates block: optimize.gates, target_gates.<target>, the target profile."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import SpecError
from compiler.frontend import load_spec
from tests.conftest import run_cli

SPEC = """\
name: tiny
version: "1"
model:
  factory: model.py:build
  task: {task}
  inputs: [{{name: x, dtype: float32, shape: [batch, 4]}}]
  outputs: [{{name: y, dtype: float32, shape: [batch, 3]}}]
{evaluation}optimize:
  quantize: none
  gates:
    {gate}
"""


def spec_file(tmp_path, gate="min_cosine: 0.99", task="embedding", evaluation=""):
    path = tmp_path / "deploy.yaml"
    path.write_text(SPEC.format(gate=gate, task=task, evaluation=evaluation))
    (tmp_path / "model.py").write_text("def build():\n    raise NotImplementedError  # validate never calls it\n")
    np.savez(tmp_path / "eval.npz", x=np.zeros((4, 4), np.float32), labels=np.zeros(4, np.int64))
    return path


def error(path, overrides=()) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(path, list(overrides))
    return str(info.value)


@pytest.mark.parametrize("gate, task, words", [
    ("min_top1_agreement: 0.98", "embedding", "top-1 agreement needs model.task: classification (the task is embedding)"),
    ("min_top1_agreement: 0.98", "regression", "top-1 agreement needs model.task: classification (the task is regression)"),
    ("min_accuracy: 0.9", "generic", "accuracy needs model.task: classification"),
    ("max_accuracy_drop: 0.01", "embedding", "accuracy needs model.task: classification"),
    ("max_accuracy_drop: 0.01", "classification", "accuracy needs labelled evaluation data: set model.evaluation"),
    ("min_accuracy: 0.9", "classification", "accuracy needs labelled evaluation data"),
])
def test_gate_the_task_cannot_compute_names_key_and_line(tmp_path, gate, task, words):
    key = gate.split(":")[0]
    assert f"optimize.gates.{key} (deploy.yaml:11): {words}" in error(spec_file(tmp_path, gate, task))


def test_computable_gates_are_accepted(tmp_path):
    evaluation = "  evaluation: {npz: eval.npz}\n"
    gates = "{min_top1_agreement: 0.9, min_accuracy: 0.9, max_accuracy_drop: 0.1, max_latency_p99_ms: 5}"
    load_spec(spec_file(tmp_path, task="classification", evaluation=evaluation), [f"optimize.gates={gates}"])


def test_per_target_gates_are_checked_for_every_target(tmp_path):
    path = spec_file(tmp_path)
    text = error(path, ["+optimize.target_gates={android-arm64: {min_top1_agreement: 0.9}}"])
    assert "optimize.target_gates.android-arm64.min_top1_agreement" in text and "top-1 agreement" in text


def test_target_profile_gates_are_checked(tmp_path):
    assert "target.gates.min_accuracy (command line): accuracy needs model.task" in error(spec_file(tmp_path),
                                                                         ["+target.gates.min_accuracy=0.9"])


def test_per_target_gates_for_no_such_target(tmp_path):
    text = error(spec_file(tmp_path), ["+optimize.target_gates={nvidia-h10: {min_cosine: 0.9}}"])
    assert "optimize.target_gates.nvidia-h10" in text and "no target profile named 'nvidia-h10'" in text


def test_latency_gate_needs_batch_1_measured(tmp_path):
    text = error(spec_file(tmp_path, "max_latency_p99_ms: 5"), ["optimize.latency.batch_sizes=[8, 32]"])
    assert "optimize.gates.max_latency_p99_ms (deploy.yaml:11): the latency gate is checked at batch 1" in text


def test_validate_exits_2_before_any_pass(tmp_path):
    result = run_cli("validate", str(spec_file(tmp_path, "min_top1_agreement: 0.98")))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "optimize.gates.min_top1_agreement (deploy.yaml:11)" in " ".join(result.stderr.split())
