"""The typed report: report.json -> Report -> report.json is the identity, non-finite metrics stay
strict JSON, and a report.json this deployc would not write is refused naming the key."""

from __future__ import annotations

import json
from dataclasses import fields, replace

import pytest

from compiler.passes.verify import Verification
from compiler.report_model import CandidateRow, ImageInfo, LatencyRow, Measurement, Report, ReportFormatError
from compiler.writer import dumps
from tests.report_samples import sample_candidate, sample_report


def _values(**changes) -> dict:
    base = {"candidate": "onnx-fp16", "max_abs_error": 0.01, "cosine": 0.999, "top1_agreement": 1.0,
            "accuracy": None, "accuracy_drop": None, "size_mb": 0.08, "non_finite_outputs": 0,
            "latency": [{"batch": 1, "p50_ms": 0.02, "p99_ms": 0.04}, {"batch": 32, "p50_ms": 0.3, "p99_ms": 0.5}]}
    return {**base, **changes}


def _measured(**changes) -> CandidateRow:
    return CandidateRow.measured(_values(**changes), format="onnx", precision="fp16", sha256="b" * 64,
                                 passes=("onnx-export", "fp16"), gate_failures=())


def _round_trip(report: Report) -> Report:
    text = dumps(report.to_json_dict())
    again = Report.from_json_dict(json.loads(text))
    assert again == report and dumps(again.to_json_dict()) == text
    return again


def test_every_verification_field_reaches_the_report():
    """A metric added to verification must be added here too, or the report would drop it."""
    assert [f.name for f in fields(Verification)] == [f.name for f in fields(Measurement)]


def test_a_full_report_round_trips_with_image_baseline_notes_and_a_broken_candidate():
    broken = CandidateRow.broken("onnx-int8-static", "pass int8-static: calibration failed")
    baseline = Measurement("torch-eager", 0.0, 1.0, None, 0.99, None, 0.0, (LatencyRow(1, 0.08, 0.1),), 0)
    report = sample_report(sample_candidate(), _measured(), broken, baseline=baseline,
                           notes={"fp16": "slower here"}, image=ImageInfo("sha256:" + "c" * 64, ("x:1",), 123))
    data = _round_trip(report).to_json_dict()
    assert data["candidates"][2] == {
        "candidate": "onnx-int8-static", "max_abs_error": None, "cosine": None, "top1_agreement": None,
        "accuracy": None, "accuracy_drop": None, "size_mb": None, "latency": [], "non_finite_outputs": None,
        "format": None, "precision": None, "sha256": None, "passes": [], "gate_failures": [], "passed": False,
        "error": "pass int8-static: calibration failed"}
    assert "error" not in data["candidates"][0] and "non_finite" not in data["candidates"][0]
    assert data["image"] == {"id": "sha256:" + "c" * 64, "tags": ["x:1"], "size_bytes": 123}
    assert "image" not in sample_report().to_json_dict()


def test_non_finite_metrics_are_null_and_spelled_out():
    row = _measured(cosine=float("nan"), latency=[{"batch": 1, "p50_ms": float("inf"), "p99_ms": 0.04}])
    assert row.cosine is None and row.latency[0].p50_ms is None
    assert row.non_finite == {"cosine": "nan", "latency.b1.p50_ms": "inf"}
    text = dumps(sample_report(row).to_json_dict())  # strict JSON: dumps refuses a bare NaN
    assert json.loads(text)["candidates"][0]["non_finite"] == {"cosine": "nan", "latency.b1.p50_ms": "inf"}
    _round_trip(sample_report(row))


def test_passed_follows_the_gate_failures():
    failing = CandidateRow.measured(_values(), format="onnx", precision="fp16", sha256="b" * 64, passes=(),
                                    gate_failures=("cosine 0.5 < min_cosine 0.99",))
    assert not failing.passed and failing.gate_failures == ("cosine 0.5 < min_cosine 0.99",)
    assert _measured().passed


def test_chosen_is_the_selected_row():
    report = sample_report(sample_candidate(), _measured())
    assert report.chosen.candidate == "onnx-fp32"
    assert replace(report, selected=replace(report.selected, candidate="onnx-fp16")).chosen.precision == "fp16"


def _broken_json(edit) -> dict:
    data = sample_report(sample_candidate(), _measured()).to_json_dict()
    edit(data)
    return data


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["candidates"][1].pop("cosine"), r"report.json: candidates\[1\].cosine: missing"),
    (lambda d: d["candidates"][0].update(cosine="high"), r"candidates\[0\].cosine: expected a finite number, got str"),
    (lambda d: d["candidates"][0].update(cosine=float("nan")), r"candidates\[0\].cosine: expected a finite number"),
    (lambda d: d["candidates"][0]["latency"][0].update(batch=1.5), r"latency\[0\].batch: expected a whole number"),
    (lambda d: d["candidates"][0].update(passed="yes"), r"candidates\[0\].passed: expected true or false"),
    (lambda d: d["plan"]["emitters"][0].update(extra=1), r"plan.emitters\[0\]: unknown key 'extra'"),
    (lambda d: d.update(selected=None), r"selected: expected an object, got null"),
    (lambda d: d["verification"].pop("samples"), r"verification.samples: missing"),
    (lambda d: d["gates"].update(min_cosine=True), r"gates.min_cosine: expected a finite number, got bool"),
])
def test_a_report_json_this_deployc_would_not_write_is_refused_naming_the_key(edit, message):
    with pytest.raises(ReportFormatError, match=message):
        Report.from_json_dict(_broken_json(edit))


def test_not_an_object_is_refused():
    with pytest.raises(ReportFormatError, match=r"out/report.json: <top>: expected an object, got list"):
        Report.from_json_dict([], "out/report.json")


@pytest.mark.slow
def test_a_real_build_round_trips_byte_for_byte(cache_dir, tmp_path):
    """What the build wrote is what the typed report writes again, and report.md renders from it."""
    from compiler.build import build
    from compiler.emitters.report import ReportEmitter
    from compiler.frontend import load_spec
    from compiler.passes.cache import Cache
    from compiler.emitters.base import EmitContext
    from tests.conftest import EXAMPLES

    spec = load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", [])
    result = build(spec, tmp_path, Cache(cache_dir), build_image=False)
    written = (result.target_dir / "report.json").read_bytes()
    read = Report.from_json_dict(json.loads(written))
    assert read == result.report and dumps(read.to_json_dict()) == written
    files = ReportEmitter().emit(EmitContext(spec, None, None, read))
    assert files["report.json"] == written
    assert files["report.md"] == (result.target_dir / "report.md").read_bytes()
