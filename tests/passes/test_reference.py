"""The original model is the yardstick: NaN/Inf in its outputs or in the verification data is a
spec error (exit 2) naming the data, the tensor and the sample, before any pass runs."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from compiler.build import build
from compiler.errors import EXIT_USAGE, SpecError
from compiler.frontend import load_spec
from compiler.passes.cache import Cache

MODEL = """
import torch
class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
    def forward(self, x):
        return {forward}
def build():
    torch.manual_seed(0)
    return Tiny()
"""

SPEC = """
name: tiny
version: "1"
model:
  factory: model.py:build
  task: classification
  inputs: [{{name: x, dtype: float32, shape: [batch, 4]}}]
  outputs: [{{name: y, dtype: float32, shape: [batch, 3]}}]
  {data}
optimize: {{quantize: none}}
"""


def project(tmp_path, forward="self.fc(x)", data=""):
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL.format(forward=forward)))
    (tmp_path / "deploy.yaml").write_text(SPEC.format(data=data))
    return load_spec(tmp_path / "deploy.yaml")


def build_error(spec, tmp_path) -> SpecError:
    with pytest.raises(SpecError) as info:
        build(spec, tmp_path / "out", Cache(tmp_path / "cache"))
    assert info.value.exit_code == EXIT_USAGE and not (tmp_path / "out" / "cpu-x86").exists()
    return info.value


def test_model_that_outputs_nan_on_synthetic_inputs(tmp_path):
    # log of the synthesized inputs, drawn from [-1, 1]: NaN wherever one is negative
    spec = project(tmp_path, forward="self.fc(torch.log(x))")
    text = str(build_error(spec, tmp_path))
    assert text.startswith("model.inputs: the original model outputs NaN in 'y' for synthetic sample 0")
    assert "set each input's range" in text and "fix the model, its weights or this data" in text


def test_model_that_overflows_on_one_evaluation_sample(tmp_path):
    x = np.full((6, 4), 0.5, np.float32)
    x[3] = 100.0  # exp(100 * 10) overflows float32: Inf on sample 3 only
    np.savez(tmp_path / "eval.npz", x=x, labels=np.zeros(6, np.int64))
    spec = project(tmp_path, forward="self.fc(x) + torch.exp(x[:, :3] * 10)", data="evaluation: {npz: eval.npz}")
    assert "model.evaluation: the original model outputs Inf in 'y' for evaluation sample 3" in str(build_error(spec, tmp_path))


def test_nan_in_the_verification_data(tmp_path):
    x = np.zeros((5, 4), np.float32)
    x[2, 1] = np.nan
    np.savez(tmp_path / "calib.npz", x=x)
    spec = project(tmp_path, data="calibration: {npz: calib.npz}")
    assert str(build_error(spec, tmp_path)) == ("model.calibration: input 'x' of sample 2 holds NaN: "
                                                "calibration and evaluation data must be finite")


def test_accuracy_gate_with_unlabelled_evaluation_data(tmp_path):
    np.savez(tmp_path / "eval.npz", x=np.zeros((5, 4), np.float32))  # no `labels` array
    project(tmp_path, data="evaluation: {npz: eval.npz}")
    spec = load_spec(tmp_path / "deploy.yaml", ["optimize.gates.min_accuracy=0.9"])
    assert "model.evaluation: has no labels, and the min_accuracy gate needs them" in str(build_error(spec, tmp_path))
