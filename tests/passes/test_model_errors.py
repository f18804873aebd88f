"""Bad models and data get a clear error naming the spec key (exit 2) or the pass (exit 1)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from compiler.errors import GateError, PassError, SpecError
from compiler.frontend import load_spec
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.data import load_dataset
from compiler.passes.export_onnx import export
from compiler.passes.load import load_model

SPEC = """
name: tiny
version: "1"
model:
  factory: model.py:build
  {weights}
  task: classification
  inputs: [{{name: x, dtype: {dtype}, shape: [batch, 4]}}]
  outputs: [{{name: y, dtype: float32, shape: [batch, 3]}}]
  {calibration}
optimize: {{quantize: none, gates: {{min_cosine: {cosine}}}}}
"""

MODEL = """
import torch
class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
    def forward(self, x):
        {forward}
def build():
    torch.manual_seed(0)
    {build}
"""


def make(tmp_path: Path, forward="return self.fc(x)", build="return Tiny()", weights="", dtype="float32",
         calibration="", cosine=0.99, extra: dict | None = None) -> Path:
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL.format(forward=forward, build=build)))
    spec = tmp_path / "deploy.yaml"
    spec.write_text(SPEC.format(weights=weights, dtype=dtype, calibration=calibration, cosine=cosine))
    for name, content in (extra or {}).items():
        (tmp_path / name).write_text(textwrap.dedent(content))
    return spec


def ctx_for(spec, tmp_path):
    return PassContext(spec, Cache(tmp_path / "cache"))


def test_factory_file_missing(tmp_path):
    """Caught by the front end when it checks paths, else by the loader: a spec error either way."""
    with pytest.raises(SpecError, match=r"model.factory.*(file not found|factory file not found).*nothere.py"):
        load_model(load_spec(make(tmp_path), ["model.factory=nothere.py:build"]))


def test_factory_not_importable(tmp_path):
    spec = load_spec(make(tmp_path, extra={"broken.py": "import no_such_module_xyz\n"}), ["model.factory=broken.py:build"])
    with pytest.raises(SpecError, match=r"model.factory: importing broken.py failed: ModuleNotFoundError"):
        load_model(spec).module


def test_factory_raises(tmp_path):
    spec = load_spec(make(tmp_path, build="raise RuntimeError('no GPU here')"))
    with pytest.raises(SpecError, match=r"model.factory: the factory build\(\) raised RuntimeError: no GPU here"):
        load_model(spec).module


def test_weights_missing(tmp_path):
    with pytest.raises(SpecError, match=r"model.weights.*file not found.*w.pt"):
        load_model(load_spec(make(tmp_path, weights="weights: w.pt")))


def test_weights_do_not_match_module(tmp_path):
    import torch

    torch.save({"fc.weight": torch.zeros(3, 4), "head.bias": torch.zeros(3)}, tmp_path / "w.pt")
    spec = load_spec(make(tmp_path, weights="weights: w.pt"))
    with pytest.raises(SpecError) as info:
        load_model(spec).module
    assert "missing keys: fc.bias" in str(info.value) and "unexpected keys: head.bias" in str(info.value)


def test_weights_load_safely(tmp_path):
    """A pickle that is not plain tensors is refused (weights_only=True), not executed."""
    import torch

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"fc.weight": Evil()}, tmp_path / "w.pt", _use_new_zipfile_serialization=True)
    with pytest.raises(SpecError, match=r"model.weights: cannot read w.pt"):
        load_model(load_spec(make(tmp_path, weights="weights: w.pt"))).module


def test_signature_input_dtype_the_model_cannot_take(tmp_path):
    from compiler.passes.data import synthesize
    from compiler.passes.load import reference_outputs

    spec = load_spec(make(tmp_path, dtype="int64"))
    with pytest.raises(PassError, match=r"the model failed on the signature's inputs: RuntimeError"):
        reference_outputs(load_model(spec), synthesize(spec, 2).inputs, spec)


def test_signature_output_dtype_mismatch(tmp_path):
    spec = load_spec(make(tmp_path), ["model.outputs=[{name: y, dtype: int64, shape: [batch, 3]}]"])
    with pytest.raises(PassError, match=r"output 'y' is float32 in the model, the signature says int64"):
        export(load_model(spec), ctx_for(spec, tmp_path))


def test_signature_shape_mismatch(tmp_path):
    spec = load_spec(make(tmp_path), ["model.outputs=[{name: y, dtype: float32, shape: [batch, 5]}]"])
    with pytest.raises(PassError, match=r"output 'y' dim 1 is 3 in the model, the signature says 5"):
        export(load_model(spec), ctx_for(spec, tmp_path))


def test_batch_fixed_by_model_is_caught(tmp_path):
    spec = load_spec(make(tmp_path, forward="return self.fc(x).reshape(4, 3)"))
    with pytest.raises(PassError, match=r"onnx-export"):
        export(load_model(spec), ctx_for(spec, tmp_path))


def test_unexportable_op(tmp_path):
    forward = "return self.fc(torch.from_numpy(x.numpy()))"  # leaves the graph: not exportable
    spec = load_spec(make(tmp_path, forward=forward))
    with pytest.raises(PassError, match=r"pass onnx-export: torch.onnx.export failed"):
        export(load_model(spec), ctx_for(spec, tmp_path))


def test_calibration_wrong_shape(tmp_path):
    np.savez(tmp_path / "calib.npz", x=np.zeros((10, 5), np.float32))
    with pytest.raises(SpecError, match=r"model.calibration.*input 'x' has shape \[10, 5\], the signature says \['batch', 4\]"):
        load_dataset(load_spec(make(tmp_path, calibration="calibration: {npz: calib.npz}")), "calibration")


def test_calibration_wrong_input_names(tmp_path):
    np.savez(tmp_path / "calib.npz", pixels=np.zeros((10, 4), np.float32))
    with pytest.raises(SpecError, match=r"model.calibration.*\['pixels'\], the signature.*\['x'\]"):
        load_dataset(load_spec(make(tmp_path, calibration="calibration: {npz: calib.npz}")), "calibration")


def test_gate_violation_names_artifact_metric_threshold(tmp_path):
    from compiler.build import build

    spec = load_spec(make(tmp_path, cosine=0.999), ["optimize.quantize=int8-dynamic", "optimize.gates.max_size_mb=0.0001"])
    with pytest.raises(GateError) as info:
        build(spec, tmp_path / "out", Cache(tmp_path / "cache"))
    text = str(info.value)
    assert "onnx-int8-dynamic: size_mb = " in text and "gate requires <= 0.0001" in text
    assert not (tmp_path / "out" / "cpu-x86").exists()
