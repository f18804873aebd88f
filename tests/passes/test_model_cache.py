"""The cache never ships a stale model: pass results are keyed on what the model really is.

A factory that reads its weights from a file the spec does not name (as a Hugging Face user's
`from_pretrained(folder)` does) once rebuilt from the cache after that file changed, and the
report claimed parity with the old model.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np

from compiler.build import build
from compiler.frontend import load_spec
from compiler.passes.cache import Cache
from compiler.passes.load import load_model

SPEC = """
name: hidden-weights
version: "1"
model:
  factory: model.py:build
  task: regression
  inputs: [{name: x, dtype: float32, shape: [batch, 6]}]
  outputs: [{name: y, dtype: float32, shape: [batch, 4]}]
optimize:
  precisions: [fp32]
  graph: false
  quantize: none
  aoti: never
  latency: {batch_sizes: [1], warmup: 0, iterations: 5}
  gates: {min_cosine: 0.999}
"""

# The factory reads a file of its own folder that the spec never names, and a config that
# changes what forward computes without being a tensor.
MODEL = """
import json
from pathlib import Path
import torch
from safetensors.torch import load_file

HERE = Path(__file__).parent

class Net(torch.nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.fc = torch.nn.Linear(6, 4)
        self.scale = scale
    def forward(self, x):
        return self.fc(x) * self.scale

def build():
    scale = json.loads((HERE / "config.json").read_text())["scale"] if (HERE / "config.json").exists() else 1.0
    net = Net(scale)
    net.load_state_dict(load_file(str(HERE / "hub" / "model.safetensors")))
    return net
"""


def _weights(folder: Path, seed: int) -> None:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    (folder / "hub").mkdir(exist_ok=True)
    save_file({f"fc.{k}": v.contiguous() for k, v in torch.nn.Linear(6, 4).state_dict().items()}, str(folder / "hub" / "model.safetensors"))


def _project(folder: Path, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(textwrap.dedent(MODEL))
    (folder / "deploy.yaml").write_text(SPEC)
    _weights(folder, seed)
    return folder / "deploy.yaml"


def _torch_outputs(spec_path: Path, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return load_model(load_spec(spec_path)).module(torch.from_numpy(x)).numpy()


def _shipped_outputs(tree: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(tree / "model" / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return float(np.mean((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def test_changed_unnamed_weights_rebuild_the_model(tmp_path):
    spec_path = _project(tmp_path / "project", seed=0)
    cache, out = Cache(tmp_path / "cache"), tmp_path / "out"
    first = build(load_spec(spec_path), out, cache)
    assert not any(e.cached for e in first.events if e.name.startswith("onnx-export"))

    _weights(tmp_path / "project", seed=1)  # the folder's weights change; the spec does not
    second = build(load_spec(spec_path), out, cache)
    export_events = [e for e in second.events if e.name.startswith("onnx-export")]
    assert export_events and not any(e.cached for e in export_events), "the rebuild reused the old model"

    x = np.random.default_rng(3).standard_normal((64, 6)).astype(np.float32)
    new, shipped = _torch_outputs(spec_path, x), _shipped_outputs(out / "cpu-x86", x)
    assert _cosine(shipped, new) > 0.9999  # the shipped model is the new one
    report = json.loads((out / "cpu-x86" / "report.json").read_text())
    selected = next(c for c in report["candidates"] if c["candidate"] == report["selected"]["candidate"])
    assert selected["cosine"] > 0.9999 and selected["max_abs_error"] < 1e-4  # parity with the new model

    third = build(load_spec(spec_path), out, cache)  # nothing changed: now the cache serves it
    assert all(e.cached for e in third.events if e.name.startswith("onnx-export"))


def test_digest_follows_a_config_the_factory_reads(tmp_path):
    spec_path = _project(tmp_path / "p")
    plain = load_model(load_spec(spec_path)).digest
    (tmp_path / "p" / "config.json").write_text(json.dumps({"scale": 2.0}))
    scaled = load_model(load_spec(spec_path)).digest
    assert scaled != plain  # not a tensor changed: the file the factory opened did
    assert load_model(load_spec(spec_path)).digest == scaled  # and it is stable


def test_digest_follows_architecture_not_folder(tmp_path):
    spec_a = _project(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert load_model(load_spec(spec_a)).digest == load_model(load_spec(tmp_path / "b" / "deploy.yaml")).digest


def test_onnx_source_digest_covers_external_data(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((6, 4), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [weight])
    onnx.save(helper.make_model(graph), str(tmp_path / "m.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="m.onnx.data", size_threshold=0)
    (tmp_path / "deploy.yaml").write_text(SPEC.replace("factory: model.py:build", "source: onnx\n  onnx: m.onnx"))
    before = load_model(load_spec(tmp_path / "deploy.yaml")).digest
    data = bytearray((tmp_path / "m.onnx.data").read_bytes())
    data[0] ^= 0xFF
    (tmp_path / "m.onnx.data").write_bytes(bytes(data))
    assert load_model(load_spec(tmp_path / "deploy.yaml")).digest != before


# The factory reads an environment variable into a plain float attribute: no tensor, file or line
# of code changes, only what forward computes.
ENV_MODEL = """
import os
import torch

class Scaled(torch.nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.lin = torch.nn.Linear(6, 4)
        self.env_scale = scale
    def forward(self, x):
        return self.lin(x) * self.env_scale + 1.0

def build():
    torch.manual_seed(0)
    return Scaled(float(os.environ.get("DEPLOYC_TEST_SCALE", "1")))
"""


def test_a_plain_attribute_the_factory_set_rebuilds_the_model(tmp_path, monkeypatch):
    folder = tmp_path / "env"
    folder.mkdir()
    (folder / "model.py").write_text(textwrap.dedent(ENV_MODEL))
    (folder / "deploy.yaml").write_text(SPEC)
    spec_path, cache, out = folder / "deploy.yaml", Cache(tmp_path / "cache"), tmp_path / "out"
    monkeypatch.setenv("DEPLOYC_TEST_SCALE", "1")
    load_model(load_spec(spec_path))  # the first load of a process reads extra files (warnings' linecache)
    build(load_spec(spec_path), out, cache)

    monkeypatch.setenv("DEPLOYC_TEST_SCALE", "5")
    second = build(load_spec(spec_path), out, cache)
    export_events = [e for e in second.events if e.name.startswith("onnx-export")]
    assert export_events and not any(e.cached for e in export_events), "the rebuild reused the x1 model"
    x = np.random.default_rng(3).standard_normal((64, 6)).astype(np.float32)
    new, shipped = _torch_outputs(spec_path, x), _shipped_outputs(out / "cpu-x86", x)
    np.testing.assert_allclose(shipped, new, rtol=1e-5, atol=1e-5)  # the x5 model shipped
    report = json.loads((out / "cpu-x86" / "report.json").read_text())
    selected = next(c for c in report["candidates"] if c["candidate"] == report["selected"]["candidate"])
    assert selected["max_abs_error"] < 1e-4  # parity measured against the x5 model


def test_digest_covers_plain_attributes_the_same_in_every_process(tmp_path):
    import subprocess
    import sys

    from compiler.passes.model_digest import attributes_digest
    from tests.passes.tiny import tiny_module

    plain, module = attributes_digest(tiny_module()), tiny_module()
    module[5].scale = 2.0
    assert attributes_digest(module) != plain
    module[5].scale = {"a": [1, 2], "b": (None, "x")}  # nested plain data counts too
    assert attributes_digest(module) not in (plain,)
    code = ("import torch; from compiler.passes.model_digest import attributes_digest as a; "
            "from tests.passes.tiny import tiny_module; m = tiny_module(); m[5].tags = {'q', 'r', 's'}; "
            "m[5].opaque = object(); m[5].act = torch.nn.functional.relu; print(a(m))")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": ""}, cwd=Path(__file__).parents[2]).stdout
               for seed in ("1", "2")}
    assert len(digests) == 1 and digests != {""}  # sets, objects and functions: no id() or hash order
