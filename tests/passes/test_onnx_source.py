"""`model.source: onnx`: an existing ONNX file is the original, and candidates are checked against it."""

from __future__ import annotations

import shutil

from compiler.build import build
from compiler.frontend import load_spec
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.export_onnx import export
from compiler.passes.load import load_model
from tests.conftest import EXAMPLES


def test_onnx_source_builds_and_verifies_against_itself(tmp_path):
    cache = Cache(tmp_path / "cache")
    torch_spec = load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml")
    exported = export(load_model(torch_spec), PassContext(torch_spec, cache))
    folder = tmp_path / "digits"
    shutil.copytree(EXAMPLES / "digits-cnn", folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(exported.path, folder / "model.onnx")
    spec = load_spec(folder / "deploy.yaml", ["model.source=onnx", "model.onnx=model.onnx", "~model.factory",
                                              "~model.weights", "optimize.quantize=int8-dynamic",
                                              "optimize.distill=null"])  # a student needs a torch teacher
    report = build(spec, tmp_path / "out", cache).report
    rows = {c.candidate: c for c in report.candidates}
    assert rows["onnx-fp32"].max_abs_error == 0.0  # the normalized source computes exactly itself
    assert rows["onnx-int8-dynamic"].accuracy > 0.97
    assert report.baseline is None  # no torch eager row without a PyTorch model
