"""Which batch sizes verify times and how `fastest` weighs them (the plan's latency decision)."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.frontend.spec import Spec


@dataclass(frozen=True)
class LatencyPlan:
    """Which batch sizes verify times and how `fastest` weighs them: the batches the server runs
    (serve.batching) are measured and count most, so a candidate that wins at batch 1 but loses
    where a batching server spends its time is not shipped."""

    batches: tuple[int, ...]  # ascending: optimize.latency.batch_sizes and the serving batch
    weights: tuple[float, ...]  # one per batch, summing to 1
    serving_batch: int  # serve.batching.max_batch_size with batching on, else 1
    note: str  # the decision in words, for the selection's reason


# The share of the selection score that the batch the server runs carries; the other measured
# batches share the rest equally (a server also runs small batches when traffic is light).
SERVING_WEIGHT = 0.5


def latency_plan(spec: Spec) -> LatencyPlan:
    edge = spec.optimize.edge.batch_size
    if spec.target.is_edge and isinstance(edge, int):
        # An edge bundle runs its fixed batch in the app, no server batches it; timing batch 32
        # of a batch-1 TFLite model is 32 interpreter runs per sample (10 minutes for MiniLM).
        return LatencyPlan((edge,), (1.0,), edge, f"batch {edge} (optimize.edge.batch_size: the bundle's fixed batch)")
    b = spec.serve.batching
    serving = b.max_batch_size if b.enabled else 1
    batches = tuple(sorted({*spec.optimize.latency.batch_sizes, serving}))
    rest = len(batches) - 1
    weights = tuple(1.0 if not rest else SERVING_WEIGHT if n == serving else (1 - SERVING_WEIGHT) / rest
                    for n in batches)
    source = ("serve.batching.max_batch_size, batching on" if b.enabled else "batching off")
    note = (f"batches {', '.join(map(str, batches))} weighted toward batch {serving} ({source})"
            if rest else f"batch {serving} ({source})")
    return LatencyPlan(batches, weights, serving, note)
