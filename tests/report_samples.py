"""Hand-made but complete reports for tests of the report's readers (diff, check, sweep, progress)."""

from __future__ import annotations

from dataclasses import replace

from compiler.report_model import (CandidateRow, LatencyRow, PlanRow, Report, ReportPlan, Selected,
                                   VerificationData)


def sample_candidate(name: str = "onnx-fp32", **changes) -> CandidateRow:
    row = CandidateRow(candidate=name, max_abs_error=8e-06, cosine=1.0, top1_agreement=1.0, accuracy=0.9933,
                       accuracy_drop=0.0, size_mb=0.1666, latency=(LatencyRow(1, 0.015, 0.03),),
                       non_finite_outputs=0, format="onnx", precision="fp32", sha256="a" * 64,
                       passes=("onnx-export",), passed=True, gate_failures=())
    return replace(row, **changes)


def sample_report(*candidates: CandidateRow, **changes) -> Report:
    """digits-cnn on cpu-x86 with one passing candidate, selected."""
    rows = candidates or (sample_candidate(),)
    steps = (PlanRow("model", True, "the selected artifact"), PlanRow("bundle", False, "no bundle output"),
             PlanRow("report", True, "report.md and report.json"))
    report = Report(
        name="digits-cnn", version="1.0.0", target="cpu-x86", target_description="x86-64 CPU nodes",
        plan=ReportPlan(passes=(PlanRow("onnx-export", True, "every ONNX candidate starts here"),), emitters=steps),
        latency_note="measured on the build host (x86_64)", measured=True,
        verification=VerificationData("evaluation", 450, 0.9933), gates={"min_cosine": 0.99},
        candidates=tuple(rows), baseline=None,
        selected=Selected(rows[0].candidate, "fastest passing candidate", rows[0].sha256 or ""), notes={})
    return replace(report, **changes)
