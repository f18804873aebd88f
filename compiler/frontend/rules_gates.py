"""Gates the build could not compute are spec errors, found by `deployc validate`.

A gate whose metric is never computed would otherwise be skipped in silence, and the build
would ship a model that nobody checked against it. Every gates block is checked, not only the
one that applies to this build's target: optimize.gates, the target profile's gates, and each
optimize.target_gates.<target> (whose name must be a target, or that block never applies).
"""

from __future__ import annotations

from compiler.errors import SpecIssue
from compiler.frontend.spec import Gates, Spec

CLASSIFICATION = ("min_top1_agreement", "min_accuracy", "max_accuracy_drop")
LABELLED = ("min_accuracy", "max_accuracy_drop")
LATENCY = "max_latency_p99_ms"


def check(spec: Spec):
    yield from _known_targets(spec)
    for path, gates in _blocks(spec):
        for name, value in gates.__dict__.items():
            if value is not None:
                problem = _cannot_compute(spec, name)
                if problem:
                    yield SpecIssue(f"{path}.{name}", problem)


def _blocks(spec: Spec) -> list[tuple[str, Gates]]:
    blocks = [("optimize.gates", spec.optimize.gates), ("target.gates", spec.target.gates)]
    if spec.optimize.distill is not None:  # the students' own gates
        blocks.append(("optimize.distill.gates", spec.optimize.distill.gates))
    return blocks + [(f"optimize.target_gates.{t}", g) for t, g in sorted(spec.optimize.target_gates.items())]


def _cannot_compute(spec: Spec, gate: str) -> str | None:
    m = spec.model
    if gate in CLASSIFICATION and m.task != "classification":
        what = "top-1 agreement" if gate == "min_top1_agreement" else "accuracy"
        return (f"{what} needs model.task: classification (the task is {m.task}); "
                "gate this model with min_cosine or max_abs_error instead")
    if gate in LABELLED and m.evaluation is None:
        return "accuracy needs labelled evaluation data: set model.evaluation (inputs and labels)"
    if gate == LATENCY and 1 not in spec.optimize.latency.batch_sizes:
        return (f"the latency gate is checked at batch 1, which optimize.latency.batch_sizes "
                f"{list(spec.optimize.latency.batch_sizes)} does not measure: add 1")
    return None


def _known_targets(spec: Spec):
    from compiler.resources import target_names

    custom = spec.base_dir / "target"  # the spec's own Hydra group folder may add profiles
    for name in sorted(spec.optimize.target_gates):
        if name != spec.target.name and name not in target_names() and not (custom / f"{name}.yaml").is_file():
            yield SpecIssue(f"optimize.target_gates.{name}",
                            f"no target profile named '{name}', so these gates would never apply; "
                            f"targets: {', '.join(target_names())}")
