"""One broken candidate does not sink the build: it is reported with its reason, the others are
judged and one of them ships. Real failures: a file onnxruntime refuses, a pass on a bad input."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.digest import sha256_file
from compiler.emitters.base import EmitContext
from compiler.emitters.report import ReportEmitter, report_data
from compiler.errors import GateError
from compiler.frontend import load_spec
from compiler.passes import export_onnx, fp16
from compiler.passes.base import Artifact, PassContext
from compiler.passes.cache import Cache
from compiler.passes.data import synthesize
from compiler.passes.load import load_model
from compiler.passes.pipeline import PassResults, judge
from compiler.passes.reference import reference
from compiler.planner import plan
from compiler.select import select

MODEL = """
import torch
def build():
    torch.manual_seed(0)
    return torch.nn.Linear(4, 3)
"""
SPEC = """
name: tiny
version: "1"
model:
  factory: model.py:build
  inputs: [{name: x, dtype: float32, shape: [batch, 4]}]
  outputs: [{name: y, dtype: float32, shape: [batch, 3]}]
optimize: {quantize: none, gates: {min_cosine: 0.99}, latency: {batch_sizes: [1], warmup: 1, iterations: 5}}
"""


@pytest.fixture
def setting(tmp_path):
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL))
    (tmp_path / "deploy.yaml").write_text(SPEC)
    spec = load_spec(tmp_path / "deploy.yaml")
    ctx = PassContext(spec, Cache(tmp_path / "cache"))
    model = load_model(spec)
    data = synthesize(spec, 16)
    return spec, ctx, model, data, reference(model, data, ctx)


def rejected_by_onnxruntime(path) -> Artifact:
    """Valid protobuf, wrong types: Add of a float32 input and a float16 constant. onnxruntime
    refuses to load it, as it refused the fp16 BERT of the issue."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "c"], ["y"])], "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor("c", TensorProto.FLOAT16, [4], np.zeros(4, np.float16).tobytes(), raw=True)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return Artifact("onnx-fp16", "onnx", "fp16", path, sha256_file(path), ("onnx-export", "fp16"))


def test_a_candidate_onnxruntime_refuses_is_reported_and_another_ships(setting, tmp_path):
    spec, ctx, model, data, ref = setting
    the_plan = plan(spec, False)
    good = export_onnx.export(model, ctx)
    bad = rejected_by_onnxruntime(tmp_path / "bad.onnx")
    candidates, verifications, failures = judge([good, bad], ctx, data, ref, None, the_plan)
    assert [a.candidate for a in candidates] == ["onnx-fp32"] and failures == {"onnx-fp32": []}
    [broken] = ctx.broken
    assert broken.candidate == "onnx-fp16" and "failed to run" in broken.reason and "Add" in broken.reason
    assert any(e.failed and e.name == "onnx-fp16 failed" for e in ctx.events)  # the console shows it
    results = PassResults(data, None, candidates, verifications, failures, None, broken=list(ctx.broken))
    selection = select(results, the_plan, "fastest")
    assert selection.artifact.candidate == "onnx-fp32"
    report = report_data(spec, the_plan, results, selection)
    row = next(c for c in report.candidates if c.candidate == "onnx-fp16")
    assert not row.passed and row.error == broken.reason and row.sha256 == bad.sha256
    files = ReportEmitter().emit(EmitContext(spec, None, None, report))
    assert json.loads(files["report.json"])["candidates"][1]["error"] == broken.reason
    assert f"- onnx-fp16 could not be built or run: {broken.reason}" in files["report.md"].decode()


def test_when_only_broken_candidates_are_left_the_build_fails_naming_them(setting, tmp_path):
    spec, ctx, model, data, ref = setting
    the_plan = plan(spec, False)
    candidates, verifications, failures = judge([rejected_by_onnxruntime(tmp_path / "bad.onnx")],
                                                ctx, data, ref, None, the_plan)
    results = PassResults(data, None, candidates, verifications, failures, None, broken=list(ctx.broken))
    with pytest.raises(GateError, match=r"onnx-fp16: could not be built or run: pass verify: onnx-fp16 failed to run"):
        select(results, the_plan, "fastest")


def test_a_pass_that_raises_marks_only_its_candidate(setting, tmp_path):
    spec, ctx, *_ = setting
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf")
    source = Artifact("onnx-fp32", "onnx", "fp32", garbage, sha256_file(garbage))
    assert ctx.attempt("onnx-fp16", lambda: fp16.to_fp16(source, ctx)) is None  # the real converter fails
    [broken] = ctx.broken
    assert broken.candidate == "onnx-fp16" and broken.reason.startswith("pass fp16: onnx-fp16 from onnx-fp32: ")
    assert broken.artifact is None


# fp16 of this model is a file onnxruntime refuses (a Cast to float16 meets a float Add): its
# error names the cached model.onnx by absolute path.
REFUSED_FP16 = """
import torch
import torch.nn.functional as F
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
    def forward(self, x):
        h = self.lin(x)
        return F.celu(h) + torch.argmax(h, 1, keepdim=True).float()
def build():
    torch.manual_seed(0)
    return M()
"""


def test_a_broken_candidates_error_in_the_report_holds_no_host_path(tmp_path):
    from compiler.build import build

    reports = []
    for where in ("a", "b"):  # two hosts: another spec folder, another cache
        folder = tmp_path / where / "project"
        folder.mkdir(parents=True)
        (folder / "model.py").write_text(textwrap.dedent(REFUSED_FP16))
        (folder / "deploy.yaml").write_text(SPEC.replace("quantize: none,", "quantize: none, precisions: [fp32, fp16],"))
        build(load_spec(folder / "deploy.yaml", ["target=nvidia-a100"]), tmp_path / where / "out",
              Cache(tmp_path / where / "cache"))
        tree = tmp_path / where / "out" / "nvidia-a100"
        reports.append(((tree / "report.json").read_bytes(), (tree / "report.md").read_bytes()))
    data = json.loads(reports[0][0])
    [row] = [c for c in data["candidates"] if c["candidate"] == "onnx-fp16"]
    assert "<cache>/" in row["error"] and "model.onnx" in row["error"]  # still says which file
    for text in reports[0] + reports[1]:
        assert str(tmp_path).encode() not in text and b"/tmp/" not in text
    assert reports[0] == reports[1]  # the same bytes from either host
