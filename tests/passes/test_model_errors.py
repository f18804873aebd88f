"""Bad models and data get a clear error naming the spec key (exit 2) or the pass (exit 1)."""

from __future__ import annotations

import re
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


# Every kind of bad factory or weights is the user's input: a SpecError naming the key (exit 2).

def _weights_error(tmp_path, state, name="w.pt", build="return Tiny()") -> str:
    import torch

    if isinstance(state, bytes):
        (tmp_path / name).write_bytes(state)
    elif name.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state, str(tmp_path / name))
    else:
        torch.save(state, tmp_path / name)
    with pytest.raises(SpecError) as info:
        load_model(load_spec(make(tmp_path, weights=f"weights: {name}", build=build)))
    assert info.value.exit_code == 2
    return str(info.value)


def test_weights_wrong_shape_names_tensor_and_shapes(tmp_path):
    import torch

    text = _weights_error(tmp_path, {"fc.weight": torch.zeros(5, 4), "fc.bias": torch.zeros(5)})
    assert text.startswith("model.weights")
    assert "fc.weight (module [3, 4], file [5, 4])" in text and "fc.bias (module [3], file [5])" in text


def test_weights_wrong_dtype(tmp_path):
    import torch

    text = _weights_error(tmp_path, {"fc.weight": torch.zeros(3, 4, dtype=torch.int64), "fc.bias": torch.zeros(3)})
    assert "dtype mismatch: fc.weight (module float32, file int64)" in text


def test_weights_half_precision_loads(tmp_path):
    """fp16 into an fp32 module is what torch's copy does without changing meaning: accepted."""
    import torch

    torch.save({"fc.weight": torch.ones(3, 4, dtype=torch.float16), "fc.bias": torch.zeros(3)}, tmp_path / "w.pt")
    module = load_model(load_spec(make(tmp_path, weights="weights: w.pt"))).module
    assert module.fc.weight.dtype == torch.float32 and float(module.fc.weight.sum()) == 12.0


def test_weights_not_a_weights_file(tmp_path):
    """The front end may catch a wrong format first; either way the key and the file are named."""
    for name, content in (("w.pt", b"just some text\n"), ("w.safetensors", b"\x00" * 64)):
        text = _weights_error(tmp_path, content, name)
        assert text.startswith("model.weights") and name in text
        assert re.search(r"cannot read|not a|invalid", text), text


def test_weights_not_a_state_dict(tmp_path):
    import torch

    assert "holds a Tensor, not a state dict" in _weights_error(tmp_path, torch.zeros(3))
    text = _weights_error(tmp_path, {"fc.weight": torch.zeros(3, 4), "fc.bias": torch.zeros(3), "epoch": 3})
    assert "entries that are not tensors: epoch" in text


BUFFERED = """return WithIds()
class WithIds(Tiny):
    def __init__(self):
        super().__init__()
        self.register_buffer("position_ids", torch.arange(4), persistent=False)
        self.register_buffer("scale", torch.ones(3))"""


def test_non_persistent_buffer_in_file_is_accepted(tmp_path):
    """Older transformers saved position_ids as persistent; torch does not load non-persistent
    buffers, so the key is fine and the module keeps its own values."""
    import torch

    state = {"fc.weight": torch.ones(3, 4), "fc.bias": torch.zeros(3), "scale": torch.full((3,), 2.0),
             "position_ids": torch.arange(4)}
    torch.save(state, tmp_path / "w.pt")
    module = load_model(load_spec(make(tmp_path, weights="weights: w.pt", build=BUFFERED))).module
    assert float(module.scale[0]) == 2.0 and module.position_ids.tolist() == [0, 1, 2, 3]


def test_unknown_key_and_missing_buffer_are_errors(tmp_path):
    import torch

    state = {"fc.weight": torch.ones(3, 4), "fc.bias": torch.zeros(3), "position_ids": torch.arange(4),
             "pooler.dense.weight": torch.zeros(2)}
    text = _weights_error(tmp_path, state, build=BUFFERED)
    assert "missing keys: scale" in text and "unexpected keys: pooler.dense.weight" in text
    assert "position_ids" not in text


@pytest.mark.parametrize("body, message", [
    ("return 42", r"model.factory: returned int, not a torch.nn.Module"),
    ("raise SystemExit(3)", r"model.factory: the factory build\(\) raised SystemExit: 3"),
    ("import no_such_pkg_xyz", r"model.factory: the factory build\(\) raised ModuleNotFoundError: No module named 'no_such_pkg_xyz'"),
])
def test_factory_bad_result_or_exit(tmp_path, body, message):
    with pytest.raises(SpecError, match=message):
        load_model(load_spec(make(tmp_path, build=body)))


@pytest.mark.parametrize("ref, message", [
    ("model.py:nothing", r"model.factory: model.py has no 'nothing'"),
    ("model.py:CONSTANT", r"model.factory: 'CONSTANT' in model.py is a int, not a function"),
])
def test_factory_missing_or_not_callable(tmp_path, ref, message):
    spec_path = make(tmp_path)
    (tmp_path / "model.py").write_text((tmp_path / "model.py").read_text() + "\nCONSTANT = 3\n")
    with pytest.raises(SpecError, match=message):
        load_model(load_spec(spec_path, [f"model.factory={ref}"]))


def test_wrong_weights_exit_2_through_the_cli(tmp_path, cli):
    import torch

    torch.save({"fc.weight": torch.zeros(7, 4), "fc.bias": torch.zeros(7)}, tmp_path / "w.pt")
    result = cli("build", str(make(tmp_path, weights="weights: w.pt")), "-o", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "model.weights" in result.stderr and "fc.weight (module [3, 4], file [7, 4])" in result.stderr
    assert "failed on the signature's inputs" not in result.stderr and "Traceback" not in result.stderr


def test_factory_data_that_cannot_match_the_edge_fixed_dims_fails_before_conversion(tmp_path):
    """The text-encoder's calibration factory makes 32-token rows; an edge build fixed at 16
    is a spec error naming both keys, before litert-torch converts anything."""
    import time

    from tests.conftest import EXAMPLES, run_cli

    spec = EXAMPLES / "text-encoder" / "deploy.yaml"
    start = time.monotonic()
    r = run_cli("build", str(spec), "target=android-arm64", "optimize.edge.fixed_dims={seq:16}", "-o", str(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "model.calibration" in r.stderr and "optimize.edge.fixed_dims.seq" in r.stderr
    assert "seq = 32" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - start < 60  # the conversion alone took ~14 s
