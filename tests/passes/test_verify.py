"""A NaN is never a pass: a real int8 candidate that outputs NaN fails its gates, is never
selected, and the report stays strict JSON."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from compiler.build import build
from compiler.errors import GateError
from compiler.frontend import load_spec
from compiler.frontend.spec import Gates
from compiler.passes.cache import Cache
from compiler.passes.verify import Latency, Verification, check_gates

# Dynamic int8 quantizes an activation with scale (max - min) / 255. Here max - min overflows
# float32 (2e38 - -2e38), so the scale is Inf and the int8 output NaN on every input, while the
# float model adds exactly 0 (the wide activation meets zero weights) and stays finite.
MODEL = """
import torch
class Wide(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Sequential(torch.nn.Linear(4, 512), torch.nn.Linear(512, 3))  # int8 is smaller
        self.wide = torch.nn.Linear(8, 3, bias=False)
        torch.nn.init.zeros_(self.wide.weight)
    def forward(self, x):
        return self.fc(x) + self.wide(torch.cat([x + 2e38, x - 2e38], -1))
def build():
    torch.manual_seed(0)
    return Wide()
"""

SPEC = """
name: wide
version: "1"
model:
  factory: model.py:build
  task: classification
  inputs: [{name: x, dtype: float32, shape: [batch, 4]}]
  outputs: [{name: y, dtype: float32, shape: [batch, 3]}]
optimize: {quantize: int8-dynamic, graph: false, latency: {batch_sizes: [1], warmup: 1, iterations: 5}}
"""


@pytest.fixture
def wide(tmp_path) -> Path:
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL))
    (tmp_path / "deploy.yaml").write_text(SPEC)
    return tmp_path / "deploy.yaml"


def strict_json(text: str) -> dict:
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_nan_candidate_fails_every_gate_it_meets_and_is_not_selected(wide, tmp_path):
    spec = load_spec(wide, ["optimize.gates.min_cosine=0.99", "optimize.gates.max_abs_error=0.01",
                            "optimize.gates.min_top1_agreement=0.5", "optimize.select=smallest"])
    result = build(spec, tmp_path / "out", Cache(tmp_path / "cache"))
    rows = {c.candidate: c for c in result.report.candidates}
    bad = rows["onnx-int8-dynamic"]
    assert not bad.passed and result.report.selected.candidate == "onnx-fp32"
    failures = "\n".join(bad.gate_failures)
    assert "onnx-int8-dynamic: cosine = nan, gate requires >= 0.99 (not a finite number)" in failures
    assert "onnx-int8-dynamic: max_abs_error = nan" in failures
    assert "non_finite_outputs = " in failures
    report = strict_json((result.target_dir / "report.json").read_text())
    row = next(c for c in report["candidates"] if c["candidate"] == "onnx-int8-dynamic")
    assert row["cosine"] is None and row["non_finite"]["cosine"] == "nan"
    assert "| onnx-int8-dynamic | int8 |" in (result.target_dir / "report.md").read_text()
    assert "| nan | nan |" in (result.target_dir / "report.md").read_text()


def test_nan_candidate_fails_even_without_a_parity_gate(wide, tmp_path):
    spec = load_spec(wide, ["optimize.graph=false"])  # no gates set at all
    result = build(spec, tmp_path / "out", Cache(tmp_path / "cache"))
    bad = next(c for c in result.report.candidates if c.candidate == "onnx-int8-dynamic")
    assert not bad.passed and any("non_finite_outputs" in f for f in bad.gate_failures)


def test_no_candidate_left_names_the_nan(wide, tmp_path):
    # max_size_mb below the fp32 file: only the smaller int8 candidate, the NaN one, passes it.
    spec = load_spec(wide, ["optimize.gates.min_cosine=0.5"])
    cache = Cache(tmp_path / "cache")
    fp32_size = next(c.size_mb for c in build(spec, tmp_path / "o1", cache).report.candidates
                     if c.candidate == "onnx-fp32")
    spec = load_spec(wide, ["optimize.gates.min_cosine=0.5", f"optimize.gates.max_size_mb={fp32_size / 2}"])
    with pytest.raises(GateError, match=r"onnx-int8-dynamic: cosine = nan, gate requires >= 0.5 \(not a finite number\)"):
        build(spec, tmp_path / "o2", cache)


METRICS = [("max_abs_error", "max_abs_error", 1.0), ("min_cosine", "cosine", 0.5),
           ("min_top1_agreement", "top1_agreement", 0.5), ("min_accuracy", "accuracy", 0.5),
           ("max_accuracy_drop", "accuracy_drop", 0.5), ("max_size_mb", "size_mb", 10.0)]


@pytest.mark.parametrize("gate,field,threshold", METRICS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_every_gate_fails_a_non_finite_value(gate, field, threshold, bad):
    v = Verification("c", 0.0, 1.0, top1_agreement=1.0, accuracy=1.0, accuracy_drop=0.0, size_mb=1.0)
    assert check_gates(v, Gates(**{gate: threshold})) == []  # the finite value passes
    setattr(v, field, bad)
    failures = check_gates(v, Gates(**{gate: threshold}))
    assert [f.metric for f in failures] == [field] and "not a finite number" in str(failures[0])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_latency_gate_fails_a_non_finite_value(bad):
    v = Verification("c", 0.0, 1.0, latency=[Latency(1, bad, bad)])
    assert [f.metric for f in check_gates(v, Gates(max_latency_p99_ms=5.0))] == ["latency_p99_ms_batch1"]


def test_a_gate_on_an_unmeasured_metric_fails_with_the_reason():
    v = Verification("c", 0.0, 1.0)  # latency not measured on this host
    failures = check_gates(v, Gates(max_latency_p99_ms=5.0), "not measured on this host (an NVIDIA GPU)")
    assert str(failures[0]) == ("c: latency_p99_ms_batch1 = not computed, gate requires <= 5 "
                                "(latency not measured on this host (an NVIDIA GPU))")


def test_text_models_gate_the_worst_sentence_not_the_mean():
    import numpy as np

    from compiler.passes.data import Dataset
    from compiler.passes.verify import parity

    ref = np.eye(4, 8, dtype=np.float32) + 0.1
    out = ref.copy()
    out[3] = -ref[3]  # one sentence's embedding points the other way; three are exact
    data = Dataset({"input_ids": np.zeros((4, 3), np.int64)}, None, "evaluation", ["a", "b", "c", "d"])
    text = parity("onnx-int8-dynamic", [out], [ref], data, "sentence-embedding", None)
    assert text.cosine == pytest.approx(0.5) and text.cosine_min == pytest.approx(-1.0)
    failed = check_gates(text, Gates(min_cosine=0.4))
    assert [(f.metric, f.measured) for f in failed] == [("cosine", text.cosine_min)]
    generic = parity("onnx-int8-dynamic", [out], [ref], data, "embedding", None)
    assert generic.cosine_min is None and check_gates(generic, Gates(min_cosine=0.4)) == []
