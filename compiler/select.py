"""Pick the artifact to ship: the best candidate that passes every gate for the target."""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.candidates import FIDELITY, Candidate
from compiler.errors import GateError
from compiler.passes.base import Artifact
from compiler.passes.pipeline import PassResults
from compiler.planner import LatencyPlan, Plan
from compiler.verification import Verification


# Latencies within this factor of the fastest are a tie: timing noise must not flip the shipped
# artifact between two builds. Ties go to the candidate that changes the model least.
TIE = 1.10
# verify rounds p50 to 4 decimals (ms): a very small model can measure 0.0; ratios use this floor.
FLOOR_MS = 1e-4


def _fidelity(name: str) -> int:
    """A name outside the enum is a bug in a pass (the pipeline checks each against its step)."""
    return FIDELITY.index(Candidate(name))


@dataclass(frozen=True)
class Selection:
    artifact: Artifact
    reason: str


def select(results: PassResults, plan: Plan, policy: str) -> Selection:
    passing = [a for a in results.candidates if not results.failures[a.candidate]]
    if not passing:
        raise GateError([f for name in sorted(results.failures) for f in results.failures[name]],
                        [f"{b.candidate}: could not be built or run: {b.reason}" for b in results.broken])
    v = results.verifications
    if policy == "smallest":
        best = min(passing, key=lambda a: (_finite(v[a.candidate].size_mb, math.inf), a.candidate))
        return Selection(best, f"smallest passing candidate ({v[best.candidate].size_mb} MB)")
    if policy == "most-accurate":
        best = max(passing, key=lambda a: (_finite(_accuracy(v[a.candidate]), -math.inf), a.candidate))
        return Selection(best, "most accurate passing candidate")
    timed = [a for a in passing if _finite(_p50(v[a.candidate]), None) is not None]
    if plan.measure and plan.latency:
        profiled = [a for a in passing if all(_finite(v[a.candidate].p50(b), None) for b in plan.latency.batches)]
        if profiled:
            return _weighted(profiled, v, plan, results.eager)
    if plan.measure and timed:
        return _fastest(timed, v, plan)
    names = [a.candidate for a in passing]
    note = plan.measure_note if not plan.measure else "has no finite measurement"
    for name in plan.preference:
        if name in names:
            best = passing[names.index(name)]
            return Selection(best, f"latency {note}: chose {name}, the target's preferred passing candidate")
    return Selection(passing[0], f"latency {note}: chose the first passing candidate")


def _finite(value: float | None, default):
    """Non-finite or missing metrics rank last: NaN compares false both ways, so min/max would
    keep whatever they met first."""
    return value if value is not None and math.isfinite(value) else default


def _accuracy(v) -> float:
    return v.accuracy if v.accuracy is not None else v.cosine  # 0.0 is an accuracy, not a missing one


def _p50(v) -> float | None:
    return v.p50(1) if v.p50(1) is not None else (v.latency[0].p50_ms if v.latency else None)


def _fastest(passing: list[Artifact], v: dict, plan: Plan) -> Selection:
    batch = 1 if v[passing[0].candidate].p50(1) is not None else v[passing[0].candidate].latency[0].batch
    timed = [a for a in passing if _finite(v[a.candidate].p50(batch), None) is not None]
    fastest = min(v[a.candidate].p50(batch) for a in timed)
    ties = [a for a in timed if v[a.candidate].p50(batch) <= fastest * TIE]
    best = min(ties, key=lambda a: (_fidelity(a.candidate), a.candidate))
    why = f"fastest passing candidate at batch {batch} (p50 {v[best.candidate].p50(batch)} ms, {plan.measure_note})"
    if len(ties) > 1:
        others = ", ".join(a.candidate for a in ties if a is not best)
        why += f"; {others} within {TIE - 1:.0%} counted as a tie, won by the least-changed model"
    return Selection(best, why)


def score(v: Verification, lat: LatencyPlan, best: dict[int, float]) -> float:
    """Weighted geometric mean over the plan's batches of p50 / the best p50 at that batch: 1.0 is
    fastest everywhere; the batch the server runs weighs most (batch_profile.latency_plan)."""
    return math.prod((max(v.p50(b), FLOOR_MS) / max(best[b], FLOOR_MS)) ** w for b, w in zip(lat.batches, lat.weights))


def slower_than_eager(v: Verification, eager: Verification | None) -> list[int]:
    """The batches at which a candidate's p50 is above torch eager's (none when eager was not timed)."""
    if eager is None:
        return []
    return [l.batch for l in v.latency if _finite(eager.p50(l.batch), None) is not None and l.p50_ms > eager.p50(l.batch)]


def _weighted(timed: list[Artifact], v: dict, plan: Plan, eager: Verification | None) -> Selection:
    """`fastest` over the serving batch profile: candidates slower than torch eager at any measured
    batch are left out while one that is not remains; the best weighted score wins, and scores
    within TIE are a tie won by the least-changed model."""
    lat = plan.latency
    slow = {a.candidate: slower_than_eager(v[a.candidate], eager) for a in timed}
    pool = [a for a in timed if not slow[a.candidate]] or timed
    best_p50 = {b: min(v[a.candidate].p50(b) for a in pool) for b in lat.batches}
    scores = {a.candidate: score(v[a.candidate], lat, best_p50) for a in pool}
    top = min(scores.values())
    ties = [a for a in pool if scores[a.candidate] <= top * TIE]
    best = min(ties, key=lambda a: (_fidelity(a.candidate), a.candidate))
    why = (f"fastest over the serving profile ({lat.note}): {_speeds(v[best.candidate], eager, lat)}; "
           f"{plan.measure_note}")
    excluded = sorted(name for name in slow if slow[name] and any(a.candidate == name for a in timed))
    if len(pool) < len(timed):
        why += "; slower than torch eager, left out: " + ", ".join(
            f"{n} (batch {', '.join(map(str, slow[n]))})" for n in excluded)
    elif excluded:
        why += f"; no candidate is at least as fast as torch eager at every batch ({', '.join(excluded)})"
    if len(ties) > 1:
        others = ", ".join(a.candidate for a in ties if a is not best)
        why += f"; {others} within {TIE - 1:.0%} counted as a tie, won by the least-changed model"
    return Selection(best, why)


def _speeds(v: Verification, eager: Verification | None, lat: LatencyPlan) -> str:
    parts = []
    for b in lat.batches:
        part = f"batch {b} p50 {v.p50(b)} ms"
        if eager is not None and _finite(eager.p50(b), None):
            part += f" ({max(eager.p50(b), FLOOR_MS) / max(v.p50(b), FLOOR_MS):.2f}x torch eager)"
        parts.append(part)
    return ", ".join(parts)
