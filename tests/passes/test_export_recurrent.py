"""Recurrent models with a dynamic batch and sequence build end to end.

The dynamo exporter declares an ONNX GRU/LSTM output with the traced sequence length although
torch.export kept it symbolic; `optimize.export.exporter: auto` then uses the TorchScript
exporter, and the report and cache key say so. A dim the model really specializes still fails.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from compiler.build import build
from compiler.errors import PassError
from compiler.frontend import load_spec
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.export_onnx import export
from compiler.passes.load import load_model

SPEC = """
name: recurrent
version: "1"
model:
  factory: model.py:build
  task: embedding
  inputs: [{{name: x, dtype: float32, shape: [batch, seq, 8]}}]
  outputs: [{{name: y, dtype: float32, shape: [batch, seq, 16]}}]
optimize:
  precisions: [fp32]
  graph: false
  quantize: none
  aoti: never
  latency: {{batch_sizes: [1], warmup: 0, iterations: 5}}
  gates: {{min_cosine: 0.9999, max_abs_error: 0.0001}}
  {export}
"""

MODEL = """
import torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.{cls}(8, 16, batch_first=True)
    def forward(self, x):
        return self.rnn(x)[0]{tail}
def build():
    torch.manual_seed(0)
    return Net()
"""


def _spec(tmp_path: Path, cls="GRU", export_line="", tail="") -> Path:
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL.format(cls=cls, tail=tail)))
    (tmp_path / "deploy.yaml").write_text(SPEC.format(export=export_line))
    return tmp_path / "deploy.yaml"


def _dims(path: Path, which: str) -> list:
    import onnx

    value = getattr(onnx.load(str(path)).graph, which)[0]
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.mark.parametrize("cls", ["GRU", "LSTM"])
def test_recurrent_model_builds_with_dynamic_dims(tmp_path, cls):
    import onnxruntime as ort
    import torch

    spec_path = _spec(tmp_path, cls)
    result = build(load_spec(spec_path), tmp_path / "out", Cache(tmp_path / "cache"))
    tree = tmp_path / "out" / "cpu-x86"
    model = tree / "model" / "model.onnx"
    assert _dims(model, "input") == ["batch", "seq", 8] and _dims(model, "output") == ["batch", "seq", 16]

    report = json.loads((tree / "report.json").read_text())
    fp32 = next(c for c in report["candidates"] if c["candidate"] == "onnx-fp32")
    assert fp32["passed"] and fp32["cosine"] > 0.9999
    assert fp32["passes"][0].startswith("onnx-export (torchscript; dynamo fixed 'seq' at 16")
    assert f"nn.{cls} 'rnn'" in fp32["passes"][0]
    assert any("torchscript" in e.detail for e in result.events if e.name.startswith("onnx-export"))

    # Really dynamic: another batch and sequence length than any traced or verified one.
    x = np.random.default_rng(1).standard_normal((3, 29, 8)).astype(np.float32)
    got = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with torch.no_grad():
        want = load_model(load_spec(spec_path)).module(torch.from_numpy(x)).numpy()
    assert got.shape == (3, 29, 16) and np.abs(got - want).max() < 1e-5


def test_forced_dynamo_names_the_exporters_reason(tmp_path):
    spec = load_spec(_spec(tmp_path, export_line="export: {exporter: dynamo}"))
    with pytest.raises(PassError) as info:
        export(load_model(spec), PassContext(spec, Cache(tmp_path / "cache")))
    text = str(info.value)
    assert "output 'y' dim 1 ('seq') was exported fixed at 16 by the dynamo exporter" in text
    assert "torch.export kept 'seq' symbolic" in text and "nn.GRU 'rnn'" in text
    assert "optimize.export.exporter: torchscript" in text


def test_exporter_is_part_of_the_cache_key(tmp_path):
    cache = Cache(tmp_path / "cache")
    auto = load_spec(_spec(tmp_path))
    forced = load_spec(_spec(tmp_path, export_line="export: {exporter: torchscript}"))
    first = export(load_model(auto), PassContext(auto, cache))
    ctx = PassContext(forced, cache)
    second = export(load_model(forced), ctx)
    assert not any(e.cached for e in ctx.events)  # another exporter setting: its own entry
    assert first.produced_by != second.produced_by and second.produced_by == ("onnx-export (torchscript)",)


def test_a_dim_the_model_specializes_fails_with_both_exporters(tmp_path):
    """A reshape to a constant length makes 'seq' a constant: no exporter can keep it dynamic,
    and the error says what each exporter found."""
    spec = load_spec(_spec(tmp_path, tail=".reshape(-1, 16, 16)"))
    with pytest.raises(PassError) as info:
        export(load_model(spec), PassContext(spec, Cache(tmp_path / "cache")))
    text = str(info.value)
    assert "('seq') was exported fixed at 16 by the dynamo exporter" in text
    assert "the TorchScript exporter fails too" in text
