"""How students are judged (optimize.distill): their own gates, and the speed they must gain.

A student is another model, so the teacher's parity gates (cosine, top-1 agreement near 1) are
not its bar: `optimize.distill.gates`, when set, replace the spec's parity gates for the
student-* candidates (empty: the same gates as every candidate); the spec's min_accuracy,
max_latency_p99_ms and max_size_mb, which any shipped model must meet, still apply unless the
student's gates set them. And a student exists to be faster: its
p50 at batch 1 must be `min_speedup` times below the fastest teacher candidate that passed its
gates, or it fails that gate, named like any other.
"""

from __future__ import annotations

from compiler.candidates import Candidate
from compiler.errors import GateFailure
from compiler.frontend.spec import Gates, Spec
from compiler.report_model import Distillation, StudentRow

SPEEDUP = "speedup_vs_teacher_b1"
DEPLOYMENT_GATES = ("min_accuracy", "max_latency_p99_ms", "max_size_mb")


def is_student(candidate: str) -> bool:
    return candidate in {c.value for c in Candidate if c.is_student}


def gates_for(spec: Spec, candidate: str) -> Gates:
    d = spec.optimize.distill
    if d is None or not is_student(candidate) or all(v is None for v in d.gates.__dict__.values()):
        return spec.gates
    own = {k: v for k, v in d.gates.__dict__.items() if v is not None}
    # What the deployment requires of any shipped model (accuracy, latency, size) still holds
    # for a student unless its own gates say otherwise; only the parity gates are replaced.
    kept = {k: getattr(spec.gates, k) for k in DEPLOYMENT_GATES if k not in own}
    return Gates(**{**kept, **own})


def p50_b1(v) -> float | None:
    return next((l.p50_ms for l in v.latency if l.batch == 1), None)


def teacher_best(verifications: dict, failures: dict) -> tuple[str, float] | None:
    """The fastest teacher candidate at batch 1 that passed its gates (else the fastest one)."""
    timed = [(p50_b1(v), name) for name, v in verifications.items() if not is_student(name) and p50_b1(v) is not None]
    passing = [t for t in timed if not failures.get(t[1])]
    best = min(passing or timed, default=None)
    return None if best is None else (best[1], best[0])


def add_speedup_gates(spec: Spec, verifications: dict, failures: dict, unmeasured: str) -> None:
    """Adds the speedup gate's failure to each student that misses it (in place)."""
    d = spec.optimize.distill
    if d is None:
        return
    best = teacher_best(verifications, failures)
    for name, v in verifications.items():
        if not is_student(name):
            continue
        speedup, mine = None, p50_b1(v)
        if best is not None and mine is not None and mine > 0:
            speedup = round(best[1] / mine, 3)
        if speedup is not None and speedup >= d.min_speedup:
            continue
        if best is None or mine is None:
            note = f"latency {unmeasured}" if unmeasured else "no batch-1 latency to compare"
        else:
            note = f"p50 {mine:.4f} ms against the teacher's {best[0]} at {best[1]:.4f} ms"
        failures.setdefault(name, []).append(GateFailure(name, SPEEDUP, d.min_speedup, speedup, ">=", note))


def summary(spec: Spec, training, verifications: dict, failures: dict, reference_accuracy) -> Distillation:
    """The report's distillation section: what the students cost in accuracy and gained in speed
    and size against the teacher's fastest passing candidate, and the verdict in words."""
    best = teacher_best(verifications, failures)
    teacher = verifications[best[0]] if best else None
    rows = []
    for name, v in verifications.items():
        if not is_student(name):
            continue
        mine = p50_b1(v)
        speedup = round(best[1] / mine, 3) if best and mine else None
        size = round(teacher.size_mb / v.size_mb, 3) if teacher and v.size_mb else None
        rows.append(StudentRow(name, v.accuracy, v.accuracy_drop, speedup, size, not failures.get(name)))
    return Distillation(training.student, training.data, training.samples, training.steps, training.seconds,
                        training.final_loss, training.student_parameters, training.teacher_parameters,
                        best[0] if best else None, reference_accuracy, tuple(rows), _verdict(rows, failures),
                        _settings(spec), _gates(spec))


def _settings(spec: Spec) -> dict:
    d = spec.optimize.distill
    return {k: getattr(d, k) for k in ("batch_size", "hard_label_weight", "learning_rate", "seed", "temperature")}


def _gates(spec: Spec) -> dict:
    any_student = next((c.value for c in Candidate if c.is_student))
    gates = {k: v for k, v in gates_for(spec, any_student).__dict__.items() if v is not None}
    return {**gates, "min_speedup": spec.optimize.distill.min_speedup}


def _verdict(rows: list, failures: dict) -> str:
    passed = [r for r in rows if r.passed]
    if not rows:
        return "FAILED: no student candidate could be built or run (see the candidates)"
    if not passed:
        why = "; ".join(str(f) for r in rows for f in failures.get(r.candidate, []))
        return f"FAILED the gates: no student passed ({why})"
    r = max(passed, key=lambda r: r.speedup_b1 or 0)
    drop = "-" if r.accuracy_drop is None else f"{r.accuracy_drop:.4f}"
    speed = "-" if r.speedup_b1 is None else f"{r.speedup_b1:.2f}x"
    return (f"passed: {len(passed)} of {len(rows)} students passed their gates; the fastest, {r.candidate}, "
            f"is {speed} as fast as the teacher at batch 1 with an accuracy drop of {drop}")
