"""Selection: fastest passing candidate, with timing noise unable to flip the choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.errors import GateError, GateFailure
from compiler.passes.base import Artifact
from compiler.passes.pipeline import PassResults
from compiler.passes.verify import Latency, Verification
from compiler.planner import LatencyPlan, Plan
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


def profiled(p50: dict[str, tuple[float, float]], eager: tuple[float, float] | None) -> PassResults:
    """Candidates timed at batch 1 and 32 (p50 ms each); torch eager likewise."""
    r = results({n: t[0] for n, t in p50.items()})
    for n, (b1, b32) in p50.items():
        r.verifications[n].latency = [Latency(1, b1, b1), Latency(32, b32, b32)]
    if eager is not None:
        r.eager = Verification("torch-eager", 0.0, 1.0, latency=[Latency(1, eager[0], eager[0]), Latency(32, eager[1], eager[1])])
    return r


SERVING = Plan("cpu-x86", (), (), True, "measured on the build host", ("onnx-opt", "onnx-fp32"),
               latency=LatencyPlan((1, 32), (0.5, 0.5), 32, "batches 1, 32 weighted toward batch 32"))


def test_a_batch_1_winner_that_loses_at_the_serving_batch_is_not_shipped():
    # The text-encoder case: fp32 fastest at batch 1 but slower than eager at 32, where a batching
    # server spends its time; the old batch-1-only rule picked it.
    r = profiled({"onnx-opt": (0.30, 13.0), "onnx-int8-dynamic": (0.40, 8.0)}, eager=(0.9, 11.0))
    assert select(r, PLAN, "fastest").artifact.candidate == "onnx-opt"
    chosen = select(r, SERVING, "fastest")
    assert chosen.artifact.candidate == "onnx-int8-dynamic"
    assert "onnx-opt (batch 32)" in chosen.reason and "weighted toward batch 32" in chosen.reason
    assert "batch 32 p50 8.0 ms (1.38x torch eager)" in chosen.reason


def test_weighted_score_prefers_throughput_at_the_serving_batch():
    # Both beat eager everywhere: 20% slower at batch 1 but 40% faster at 32 wins (weights 1:1, geometric).
    r = profiled({"onnx-opt": (0.50, 10.0), "onnx-int8-dynamic": (0.60, 6.0)}, eager=(2.0, 20.0))
    assert select(r, SERVING, "fastest").artifact.candidate == "onnx-int8-dynamic"


def test_when_every_candidate_loses_to_eager_somewhere_the_best_score_still_ships_and_says_so():
    r = profiled({"onnx-opt": (0.30, 20.0), "onnx-int8-dynamic": (0.40, 12.0)}, eager=(0.9, 11.0))
    chosen = select(r, SERVING, "fastest")
    assert chosen.artifact.candidate == "onnx-int8-dynamic"
    assert "no candidate is at least as fast as torch eager at every batch" in chosen.reason


def test_weighted_ties_go_to_the_least_changed_model_and_nan_never_wins():
    r = profiled({"onnx-int8-dynamic": (0.95, 9.6), "onnx-opt": (1.0, 10.0), "onnx-fp16": (float("nan"), 1.0)},
                 eager=None)
    chosen = select(r, SERVING, "fastest")
    assert chosen.artifact.candidate == "onnx-opt" and "tie" in chosen.reason


def test_a_zero_p50_does_not_divide_by_zero():
    r = profiled({"onnx-opt": (0.0, 0.0), "onnx-fp32": (0.0, 0.0)}, eager=(0.0, 0.0))
    assert select(r, SERVING, "fastest").artifact.candidate == "onnx-opt"  # a tie: FIDELITY order
