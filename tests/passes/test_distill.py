"""optimize.distill: a seeded student, verified against the original model, in the report with its
real numbers; its gates reject a student that cannot keep the accuracy; bad settings exit 2."""

from __future__ import annotations

import json

import pytest

from compiler.errors import SpecError
from compiler.frontend import load_spec
from compiler.passes import distill
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.load import load_model
from compiler.report_model import Report
from tests.conftest import EXAMPLES, run_cli

DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"
STUDENTS = {"student-onnx-fp32", "student-onnx-opt", "student-onnx-int8-dynamic"}


def _student(tmp_path, cache: str, overrides=()):
    spec = load_spec(DIGITS, ["optimize.distill.steps=40", *overrides])
    seen = []
    ctx = PassContext(spec, Cache(tmp_path / cache), on_progress=lambda *step: seen.append(step))
    artifact, training = distill.distill(load_model(spec), None, ctx)
    return artifact, training, seen


def test_the_same_seed_trains_the_same_student_bytes(tmp_path):
    a, trained, progress = _student(tmp_path, "a")
    b, again, _ = _student(tmp_path, "b")  # another cache: trained again from scratch
    assert a.path != b.path and a.sha256 == b.sha256
    assert (trained.steps, trained.samples, trained.final_loss) == (40, 1347, again.final_loss)
    assert trained.data == "optimize.distill.data.npz (train.npz)" and trained.student == "model.py:build_student"
    assert progress[-1] == ("distill", 40, 40) and len(progress) == 40  # the progress bar's steps
    assert trained.student_parameters * 5 < trained.teacher_parameters
    other, _, _ = _student(tmp_path, "c", ["optimize.distill.seed=1"])
    assert other.sha256 != a.sha256
    mixed, _, _ = _student(tmp_path, "d", ["optimize.distill.hard_label_weight=0.5"])  # train.npz has labels
    assert mixed.sha256 not in (a.sha256, other.sha256)


def test_a_factory_that_returns_no_module_is_a_spec_error(tmp_path):
    spec = load_spec(DIGITS, ["optimize.distill.student=data.py:calibration"])
    with pytest.raises(SpecError, match=r"optimize.distill.student.*returned dict, not a torch.nn.Module"):
        distill.student_builder(spec, load_model(spec))


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache_dir):
    from compiler.build import build

    def run(name: str, overrides: list[str]) -> dict:
        spec = load_spec(DIGITS, overrides)
        target = build(spec, tmp_path_factory.mktemp(name), Cache(cache_dir)).target_dir
        return {"json": json.loads((target / "report.json").read_text()), "md": (target / "report.md").read_text()}
    return run


def test_the_digits_student_is_judged_and_reported_with_real_numbers(built):
    report = built("example", [])
    d, rows = report["json"]["distillation"], {c["candidate"]: c for c in report["json"]["candidates"]}
    assert STUDENTS <= set(rows)
    assert (d["steps"], d["samples"], d["student"]) == (600, 1347, "model.py:build_student")
    assert d["seconds"] > 0 and d["final_loss"] > 0 and d["student_parameters"] < d["teacher_parameters"]
    assert d["teacher_accuracy"] == report["json"]["verification"]["reference_accuracy"]
    assert d["gates"] == {"max_accuracy_drop": 0.02, "min_speedup": 2.0}
    for s in d["students"]:
        row = rows[s["candidate"]]  # verified against the original model like every candidate
        assert s["accuracy"] == row["accuracy"] and s["accuracy_drop"] == row["accuracy_drop"]
        assert s["passed"] == row["passed"] and s["size_ratio"] > 1
        if s["passed"]:
            assert s["speedup_b1"] >= 2.0 and s["accuracy_drop"] <= 0.02
        else:
            assert any("speedup_vs_teacher_b1" in f or "accuracy_drop" in f for f in row["gate_failures"])
    passed = any(s["passed"] for s in d["students"])
    assert d["verdict"].startswith("passed" if passed else "FAILED")
    assert "## Distillation" in report["md"] and f"**Distillation {d['verdict']}.**" in report["md"]
    assert Report.from_json_dict(report["json"]).to_json_dict() == report["json"]  # the typed reader reads it back


def test_a_student_that_cannot_keep_the_accuracy_is_rejected_with_the_reason(built):
    report = built("untrained", ["optimize.distill.steps=1", "optimize.distill.learning_rate=1e-6"])
    r = report["json"]
    assert not r["selected"]["candidate"].startswith("student-")
    for row in (c for c in r["candidates"] if c["candidate"] in STUDENTS):
        assert not row["passed"]
        assert any(f.startswith(f"{row['candidate']}: accuracy_drop = ") and "gate requires <= 0.02" in f
                   for f in row["gate_failures"])
    assert r["distillation"]["verdict"].startswith("FAILED the gates: no student passed")
    assert "accuracy_drop" in r["distillation"]["verdict"]


@pytest.mark.parametrize("override, key, words", [
    ("optimize.distill.steps=0", "optimize.distill.steps", "min value is 1"),
    ("optimize.distill.temperature=0", "optimize.distill.temperature", "must be a finite number > 0"),
    ("optimize.distill.temperature=-2", "optimize.distill.temperature", "must be a finite number > 0"),
    ("optimize.distill.learning_rate=0", "optimize.distill.learning_rate", "must be a finite number > 0"),
    ("optimize.distill.student=nowhere.py:build", "optimize.distill.student", "file not found"),
    ("optimize.distill.student=model.py", "optimize.distill.student", "does not match"),
    ("~optimize.distill.student optimize.distill.layers=2", "optimize.distill.layers", "needs model.source huggingface"),
    ("optimize.distill.layers=2", "optimize.distill", "or 'layers' (a depth reduction), not both"),
    ("optimize.distill.data.factory=data.py:calibration", "optimize.distill.data", "not both"),
    ("~optimize.distill.student", "optimize.distill", "needs 'student'"),
    ("optimize.distill.data.npz=missing.npz", "optimize.distill.data.npz", "not found"),
])
def test_bad_settings_exit_2_naming_the_key(override, key, words):
    r = run_cli("validate", str(DIGITS), *override.split())
    assert r.returncode == 2, r.stdout + r.stderr
    text = " ".join(r.stderr.split())
    assert key in text and words in text and "Traceback" not in text


def test_an_unknown_factory_function_stops_the_build_with_exit_2(cli, tmp_path):
    r = cli("build", str(DIGITS), "-o", str(tmp_path), "optimize.distill.student=model.py:no_such_student")
    text = " ".join(r.stderr.split())
    assert r.returncode == 2, r.stdout + r.stderr
    assert "optimize.distill.student" in text and "model.py has no 'no_such_student'" in text
    assert "Traceback" not in text and not (tmp_path / "cpu-x86").exists()


def test_a_student_still_meets_what_any_shipped_model_must():
    """distill.gates replace the parity gates only: a spec's min_accuracy still binds a student."""
    from compiler.frontend import load_spec
    from compiler.passes.distill_gates import gates_for

    spec = load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", ["optimize.gates.min_accuracy=0.9999"])
    gates = gates_for(spec, "student-onnx-opt")
    assert gates.min_accuracy == 0.9999 and gates.max_accuracy_drop == 0.02 and gates.min_cosine is None
    assert gates_for(spec, "onnx-opt").min_cosine == 0.99
