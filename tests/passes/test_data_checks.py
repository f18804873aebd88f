"""The spec's own data is checked when it is loaded, before any pass runs: finite values, inside
each input's declared range, labels that are class indices. Each fault is a spec error (exit 2)
naming the data key, the input (or labels), the sample and its value."""

from __future__ import annotations

import shutil
import textwrap

import numpy as np
import pytest

from compiler.errors import SpecError
from compiler.frontend import load_spec
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.data import load_dataset
from compiler.passes.load import load_model
from compiler.passes.reference import reference
from tests.conftest import EXAMPLES, run_cli

FILES = {"calibration": "calibration.npz", "evaluation": "holdout.npz"}


@pytest.fixture
def digits(tmp_path):
    folder = tmp_path / "digits"
    shutil.copytree(EXAMPLES / "digits-cnn", folder)
    return folder


def rewrite(folder, key: str, change) -> None:
    path = folder / FILES[key]
    with np.load(path) as npz:
        arrays = {k: npz[k].copy() for k in npz.files}
    change(arrays)
    np.savez(path, **arrays)


def message(folder, key: str, overrides=()) -> str:
    with pytest.raises(SpecError) as err:
        load_dataset(load_spec(folder / "deploy.yaml", list(overrides)), key)
    return str(err.value)


def test_the_examples_data_passes_and_labels_are_class_indices(digits):
    data = load_dataset(load_spec(digits / "deploy.yaml"), "evaluation")
    assert data.labels.dtype == np.int64 and data.labels.max() == 9


@pytest.mark.parametrize("key", ["calibration", "evaluation"])
@pytest.mark.parametrize("bad, shown", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_non_finite_data_is_a_spec_error_naming_key_input_and_sample(digits, key, bad, shown):
    def poison(arrays):
        arrays["pixels"][5, 0, 3, 3] = bad
    rewrite(digits, key, poison)
    text = message(digits, key)
    assert f"model.{key}:" in text and "'pixels'" in text and "sample 5 " in text and shown in text


def test_data_outside_the_declared_range_names_the_range(digits):
    text = message(digits, "calibration", ["model.inputs.0.range=[0,0.5]"])
    assert "model.calibration:" in text and "'pixels'" in text and "outside the declared range [0, 0.5]" in text
    assert "model.inputs[0].range:" in text
    sample = int(text.split("sample ")[1].split()[0])
    with np.load(digits / "calibration.npz") as npz:
        pixels = npz["pixels"]
    assert (pixels[:sample] <= 0.5).all() and pixels[sample].max() > 0.5  # the first bad sample


def test_one_evaluation_pixel_out_of_range_is_found(digits):
    def spike(arrays):
        arrays["pixels"][17, 0, 2, 6] = 5.0
    rewrite(digits, "evaluation", spike)
    text = message(digits, "evaluation")
    assert "model.evaluation:" in text and "sample 17 holds 5," in text and "model.inputs[0].range" in text


@pytest.mark.parametrize("bad, shown", [(np.nan, "nan"), (99, "99"), (-1, "-1"), (2.5, "2.5")])
def test_labels_must_be_class_indices_of_model_labels(digits, bad, shown):
    def relabel(arrays):
        labels = arrays["labels"].astype(np.float64)
        labels[3] = bad
        arrays["labels"] = labels
    rewrite(digits, "evaluation", relabel)
    text = message(digits, "evaluation")
    assert "model.evaluation:" in text and "label of sample 3 is" in text and shown in text


def test_labels_of_one_column_per_sample_are_refused(digits):
    rewrite(digits, "evaluation", lambda a: a.update(labels=a["labels"][:, None]))
    assert "one class index per sample" in message(digits, "evaluation")


def test_without_named_labels_the_output_width_bounds_them(digits):
    rewrite(digits, "evaluation", lambda a: a["labels"].__setitem__(0, 10))
    text = message(digits, "evaluation", ["model.labels=[]"])
    assert "label of sample 0 is 10" in text and "[0, 10)" in text and "model.outputs[0] has 10 scores" in text


MODEL = """
import torch
def build():
    torch.manual_seed(0)
    return torch.nn.Linear(4, 3)
def evaluation():
    x = torch.rand(8, 4).numpy()
    return {"x": x}, [0, 1, 2, 0, 1, 2, 3, 0]
"""
SPEC = """
name: tiny
version: "1"
model:
  factory: model.py:build
  task: classification
  inputs: [{name: x, dtype: float32, shape: [batch, 4]}]
  outputs: [{name: y, dtype: float32, shape: [batch, n]}]
  evaluation: {factory: model.py:evaluation}
optimize: {quantize: none, gates: {min_accuracy: 0.1}}
"""


def test_a_model_of_unnamed_width_bounds_labels_by_what_it_outputs(tmp_path):
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL))
    (tmp_path / "deploy.yaml").write_text(SPEC)
    spec = load_spec(tmp_path / "deploy.yaml")
    data = load_dataset(spec, "evaluation")  # the spec does not say how many classes
    with pytest.raises(SpecError, match=r"model.evaluation: label of sample 6 is 3: .*\[0, 3\) "
                                        r"\(the model outputs 3 scores\)"):
        reference(load_model(spec), data, PassContext(spec, Cache(tmp_path / "cache")))


def test_the_cli_refuses_before_any_pass_runs(digits, tmp_path, cache_dir):
    result = run_cli("build", str(digits / "deploy.yaml"), "-o", str(tmp_path / "out"), "model.inputs.0.range=[0,0.5]")
    assert result.returncode == 2, result.stderr
    assert "model.inputs[0].range" in result.stderr and "Traceback" not in result.stderr
    assert "onnx-export" not in result.stdout + result.stderr and not (tmp_path / "out").exists()
