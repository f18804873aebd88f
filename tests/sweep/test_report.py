"""The sweep report from hand-built job outcomes: honest cells, failure rows, deterministic files."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

from compiler.report_model import LatencyRow, Report
from compiler.sweep.jobs import Job
from compiler.sweep.output import write_reports
from compiler.sweep.report import NOT_MEASURED, csv_text, markdown, rows
from compiler.sweep.run import JobOutcome, SweepResult
from tests.report_samples import sample_candidate, sample_report


def _report(target: str, measured: bool, note: str) -> Report:
    latency = (LatencyRow(1, 0.0151, 0.0302), LatencyRow(32, 0.2, 0.4))
    cand = sample_candidate("onnx-fp32", sha256="ab" * 32, size_mb=0.1666, accuracy=0.993333,
                            latency=latency if measured else ())
    slow = replace(cand, candidate="onnx-int8", precision="int8", passed=False, gate_failures=("x",))
    return sample_report(cand, slow, target=target, measured=measured, latency_note=note)


def _result(out: Path) -> SweepResult:
    jobs = [Job(0, ("target=cpu-x86",), (), ("target=cpu-x86",), "cpu-x86"),
            Job(1, ("target=nvidia-a100",), (), ("target=nvidia-a100",), "nvidia-a100"),
            Job(2, ("target=android-arm64",), (), ("target=android-arm64",), "android-arm64")]
    outcomes = [
        JobOutcome("cpu-x86", True, report=_report("cpu-x86", True, "measured on the build host (x86_64)")),
        JobOutcome("nvidia-a100", True, report=_report(
            "nvidia-a100", False, "not measured on this host (the target runs on a A100 GPU)")),
        JobOutcome("android-arm64", False, 1, "pass tflite: litert_torch is not installed\n  (pip install x)"),
    ]
    return SweepResult(out, "deploy.yaml", ["target=cpu-x86,nvidia-a100,android-arm64", "hydra/launcher=joblib"],
                       jobs, outcomes, "JoblibLauncher")


def test_rows_are_honest(tmp_path):
    cpu, gpu, edge = rows(_result(tmp_path))
    assert (cpu.p50_ms, cpu.p99_ms, cpu.latency_batch) == (0.0151, 0.0302, 1)
    assert gpu.p50_ms is None and gpu.p99_ms is None and gpu.latency_note.startswith(NOT_MEASURED)
    assert gpu.size_mb == 0.1666 and gpu.accuracy == 0.993333  # measured here whatever the target
    assert cpu.gates == "1/2 candidates pass" and cpu.emitters == "model, report"
    assert edge.status == "failed" and edge.selected == "" and edge.size_mb is None
    assert edge.error == "pass tflite: litert_torch is not installed; (pip install x)"


def test_markdown_says_not_measured_and_why_a_job_failed(tmp_path):
    result = _result(tmp_path)
    text = markdown(result, rows(result))
    gpu_row = next(line for line in text.splitlines() if line.startswith("| nvidia-a100 |"))
    assert NOT_MEASURED in gpu_row
    assert not any(ch.isdigit() for ch in gpu_row.split("|")[5])  # the latency cell holds no number
    edge_row = next(line for line in text.splitlines() if line.startswith("| android-arm64 |"))
    assert "FAILED: pass tflite: litert_torch is not installed" in edge_row
    assert "3 job(s), 2 built, 1 failed" in text
    assert "hydra/launcher" not in text  # how jobs ran does not change what they built
    assert str(tmp_path) not in text


def test_csv_leaves_unmeasured_numbers_empty(tmp_path):
    table = list(csv.DictReader(io.StringIO(csv_text(rows(_result(tmp_path))))))
    assert [r["job"] for r in table] == ["cpu-x86", "nvidia-a100", "android-arm64"]
    assert table[0]["p50_ms"] == "0.0151" and table[1]["p50_ms"] == "" and table[1]["p99_ms"] == ""
    assert table[1]["latency_note"].startswith(NOT_MEASURED)
    assert table[2]["status"] == "failed" and "litert_torch" in table[2]["error"]


def test_report_files_are_byte_reproducible(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        (out / ".deployc").mkdir(parents=True)
        write_reports(_result(out))
    for name in ("sweep.md", "sweep.csv", "sweep.png"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    png = (a / "sweep.png").read_bytes()
    assert png.startswith(b"\x89PNG") and b"Software" not in png and b"matplotlib" not in png
    assert (a / ".deployc" / "sweep.json").is_file()
    assert not list(a.glob(".*.tmp"))
