"""Pick the artifact to ship: the best candidate that passes every gate for the target."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.errors import GateError
from compiler.passes.base import Artifact
from compiler.passes.pipeline import PassResults
from compiler.planner import Plan


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
        batch = 1 if v[passing[0].candidate].p50(1) is not None else v[passing[0].candidate].latency[0].batch
        best = min(passing, key=lambda a: (v[a.candidate].p50(batch), a.candidate))
        return Selection(best, f"fastest passing candidate at batch {batch} "
                               f"(p50 {v[best.candidate].p50(batch)} ms, {plan.measure_note})")
    names = [a.candidate for a in passing]
    for name in plan.preference:
        if name in names:
            best = passing[names.index(name)]
            return Selection(best, f"latency {plan.measure_note}: chose {name}, the target's preferred passing candidate")
    return Selection(passing[0], f"latency {plan.measure_note}: chose the first passing candidate")
