"""Pick the artifact to ship: the best candidate that passes every gate for the target."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.errors import GateError
from compiler.passes.base import Artifact
from compiler.passes.pipeline import PassResults
from compiler.planner import Plan


# Latencies within this factor of the fastest are a tie: timing noise must not flip the shipped
# artifact between two builds. Ties go to the candidate that changes the model least.
TIE = 1.10
FIDELITY = ("onnx-opt", "onnx-fp32", "aoti-cpu", "aoti-cuda", "tensorrt", "onnx-fp16", "onnx-int8-dynamic",
            "onnx-int8-static", "onnx-pruned", "tflite-fp32", "tflite-fp16", "tflite-int8-dynamic",
            "tflite-int8-static")


def _fidelity(name: str) -> int:
    return FIDELITY.index(name) if name in FIDELITY else len(FIDELITY)


@dataclass(frozen=True)
class Selection:
    artifact: Artifact
    reason: str


def select(results: PassResults, plan: Plan, policy: str) -> Selection:
    passing = [a for a in results.candidates if not results.failures[a.candidate]]
    if not passing:
        raise GateError([f for name in sorted(results.failures) for f in results.failures[name]])
    v = results.verifications
    if policy == "smallest":
        best = min(passing, key=lambda a: (v[a.candidate].size_mb, a.candidate))
        return Selection(best, f"smallest passing candidate ({v[best.candidate].size_mb} MB)")
    if policy == "most-accurate":
        best = max(passing, key=lambda a: (v[a.candidate].accuracy or v[a.candidate].cosine, a.candidate))
        return Selection(best, "most accurate passing candidate")
    if plan.measure:
        return _fastest(passing, v, plan)
    names = [a.candidate for a in passing]
    for name in plan.preference:
        if name in names:
            best = passing[names.index(name)]
            return Selection(best, f"latency {plan.measure_note}: chose {name}, the target's preferred passing candidate")
    return Selection(passing[0], f"latency {plan.measure_note}: chose the first passing candidate")


def _fastest(passing: list[Artifact], v: dict, plan: Plan) -> Selection:
    batch = 1 if v[passing[0].candidate].p50(1) is not None else v[passing[0].candidate].latency[0].batch
    fastest = min(v[a.candidate].p50(batch) for a in passing)
    ties = [a for a in passing if v[a.candidate].p50(batch) <= fastest * TIE]
    best = min(ties, key=lambda a: (_fidelity(a.candidate), a.candidate))
    why = f"fastest passing candidate at batch {batch} (p50 {v[best.candidate].p50(batch)} ms, {plan.measure_note})"
    if len(ties) > 1:
        others = ", ".join(a.candidate for a in ties if a is not best)
        why += f"; {others} within {TIE - 1:.0%} counted as a tie, won by the least-changed model"
    return Selection(best, why)
