"""Selection: fastest passing candidate, with timing noise unable to flip the choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.errors import GateError, GateFailure
from compiler.passes.base import Artifact
from compiler.passes.pipeline import PassResults
from compiler.passes.verify import Latency, Verification
from compiler.planner import Plan
from compiler.select import select


def results(p50: dict[str, float], failing: tuple[str, ...] = ()) -> PassResults:
    arts = [Artifact(n, "onnx", "fp32", Path(n), n) for n in p50]
    ver = {n: Verification(n, 0.0, 1.0, size_mb=1.0 + i, latency=[Latency(1, t, t)]) for i, (n, t) in enumerate(p50.items())}
    fails = {n: [GateFailure(n, "cosine", 0.99, 0.5, ">=")] if n in failing else [] for n in p50}
    return PassResults(None, None, arts, ver, fails, None)


PLAN = Plan("cpu-x86", (), (), True, "measured on the build host", ("onnx-opt", "onnx-fp32"))


def test_fastest_wins_outside_the_noise_band():
    assert select(results({"onnx-opt": 1.0, "onnx-int8-dynamic": 0.5}), PLAN, "fastest").artifact.candidate == "onnx-int8-dynamic"


def test_near_tie_goes_to_the_least_changed_model():
    chosen = select(results({"onnx-int8-static": 0.95, "onnx-opt": 1.0}), PLAN, "fastest")
    assert chosen.artifact.candidate == "onnx-opt" and "tie" in chosen.reason


def test_failing_candidates_are_never_selected():
    chosen = select(results({"onnx-int8-static": 0.1, "onnx-opt": 1.0}, failing=("onnx-int8-static",)), PLAN, "fastest")
    assert chosen.artifact.candidate == "onnx-opt"


def test_no_passing_candidate_raises_with_every_failure():
    with pytest.raises(GateError, match="onnx-opt: cosine = 0.5, gate requires >= 0.99"):
        select(results({"onnx-opt": 1.0}, failing=("onnx-opt",)), PLAN, "fastest")


def test_unmeasured_target_uses_preference():
    plan = Plan("cpu-arm64", (), (), False, "not measured on this host", ("onnx-opt", "onnx-fp32"))
    chosen = select(results({"onnx-fp32": 1.0, "onnx-opt": 1.0}), plan, "fastest")
    assert chosen.artifact.candidate == "onnx-opt" and "not measured on this host" in chosen.reason


def test_smallest():
    assert select(results({"onnx-opt": 1.0, "onnx-fp32": 1.0}), PLAN, "smallest").artifact.candidate == "onnx-opt"


def test_a_nan_latency_is_never_the_fastest():
    chosen = select(results({"onnx-int8-dynamic": float("nan"), "onnx-opt": 1.0}), PLAN, "fastest")
    assert chosen.artifact.candidate == "onnx-opt"


def test_nan_latency_first_in_line_does_not_decide_the_batch_or_the_winner():
    chosen = select(results({"onnx-fp16": float("nan"), "onnx-int8-dynamic": 2.0, "onnx-opt": 1.0}), PLAN, "fastest")
    assert chosen.artifact.candidate == "onnx-opt"


def test_no_finite_latency_falls_back_to_the_preference():
    chosen = select(results({"onnx-fp32": float("nan"), "onnx-opt": float("inf")}), PLAN, "fastest")
    assert chosen.artifact.candidate == "onnx-opt" and "no finite measurement" in chosen.reason


def test_smallest_skips_a_nan_size():
    r = results({"onnx-fp32": 1.0, "onnx-opt": 1.0})
    r.verifications["onnx-fp32"].size_mb = float("nan")
    assert select(r, PLAN, "smallest").artifact.candidate == "onnx-opt"


def test_most_accurate_counts_zero_accuracy_and_skips_nan():
    r = results({"onnx-fp32": 1.0, "onnx-opt": 1.0, "onnx-fp16": 1.0})
    r.verifications["onnx-fp32"].accuracy = 0.0  # a real accuracy: not replaced by the cosine of 1.0
    r.verifications["onnx-opt"].accuracy = float("nan")
    r.verifications["onnx-fp16"].accuracy = 0.5
    assert select(r, PLAN, "most-accurate").artifact.candidate == "onnx-fp16"
