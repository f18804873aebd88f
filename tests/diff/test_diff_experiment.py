"""An experiment's report names both variants; report.json round-trips them, report.md and
`deployc diff` show them side by side, and the report reads variant A from the spec's control report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from compiler.diff import diff_paths, render
from compiler.emitters.report import ReportEmitter, with_experiment
from compiler.emitters.base import EmitContext
from compiler.frontend import load_spec
from compiler.report_model import Experiment, Report, Variant
from tests.diff.test_diff_trees import make_tree
from tests.report_samples import sample_candidate, sample_report

SPEC = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn" / "experiment.yaml"


def _control() -> Report:
    return sample_report()  # digits-cnn 1.0.0, onnx-fp32, sha256 a..., 0.1666 MB, accuracy 0.9933


def _candidate() -> Report:
    row = sample_candidate("onnx-int8-dynamic", sha256="b" * 64, size_mb=0.0512, accuracy=0.9911)
    return replace(sample_report(row), version="1.1.0")


def _experiment_report() -> Report:
    return replace(_candidate(), experiment=Experiment(Variant.of(_control()), Variant.of(_candidate())))


def test_report_json_round_trips_both_variants():
    report = _experiment_report()
    data = json.loads(json.dumps(report.to_json_dict()))
    assert data["experiment"]["control"]["sha256"] == "a" * 64
    assert data["experiment"]["candidate"]["candidate"] == "onnx-int8-dynamic"
    assert Report.from_json_dict(data) == report
    assert "experiment" not in sample_report().to_json_dict()  # other strategies: report.json as before


def test_report_md_shows_the_variants_side_by_side():
    ctx = EmitContext(spec=None, selected=None, runtime=None, report=_experiment_report())
    md = ReportEmitter().emit(ctx)["report.md"].decode()
    assert "## Experiment: variant A (control) and variant B (candidate)" in md
    assert "| model | digits-cnn 1.0.0 `onnx-fp32` | digits-cnn 1.1.0 `onnx-int8-dynamic` |" in md
    assert "| size MB | 0.1666 | 0.0512 |" in md and "| accuracy | 0.9933 | 0.9911 |" in md


def test_the_control_comes_from_the_report_the_spec_names(tmp_path: Path):
    folder = tmp_path / "spec"
    folder.mkdir()
    for f in SPEC.parent.iterdir():
        if f.is_file():  # copies: symlinks resolve to the example's folder, outside the spec's
            (folder / f.name).write_bytes(f.read_bytes())
    (folder / "previous").mkdir()
    (folder / "previous" / "report.json").write_text(json.dumps(_control().to_json_dict()))
    spec = load_spec(folder / "experiment.yaml", ["rollout.experiment.control.report=previous/report.json"])
    report = with_experiment(_candidate(), spec)
    assert report.experiment.control == Variant.of(_control())
    assert report.experiment.candidate.sha256 == "b" * 64
    unnamed = with_experiment(_candidate(), load_spec(SPEC, ["rollout.experiment.control.report=''"]))
    assert unnamed.experiment.control is None
    example = with_experiment(_candidate(), load_spec(SPEC))  # the example's control/report.json: 1.0.0, int8
    assert (example.experiment.control.version, example.experiment.control.candidate) == ("1.0.0", "onnx-int8-dynamic")


def test_diff_shows_both_variants(tmp_path: Path):
    old = make_tree(tmp_path / "old" / "cpu-x86")
    new = make_tree(tmp_path / "new" / "cpu-x86", report=_experiment_report().to_json_dict())
    text = render(diff_paths(old, new))
    assert "**Experiment**: variant A (control) and variant B (candidate)" in text
    assert "| model | digits-cnn 1.0.0 `onnx-fp32` | digits-cnn 1.1.0 `onnx-int8-dynamic` |" in text
    assert "| sha256 | `aaaaaaaaaaaa` | `bbbbbbbbbbbb` |" in text
    assert "| size MB | 0.1666 | 0.0512 |" in text
    same = make_tree(tmp_path / "same" / "cpu-x86", report=_experiment_report().to_json_dict())
    assert not diff_paths(new, same).changed
