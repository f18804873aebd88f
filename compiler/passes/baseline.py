"""Drift baseline: quantile buckets of each input's values, captured at build time.

The runtime counts live input values in the same buckets (deployc_input_bucket_total) and
exports these shares as deployc_input_baseline_ratio; the monitoring emitter's PSI rule
compares the two. Counting goes through the runtime's own `bucket_counts`, so the build and
the server cannot disagree on which bucket a value falls in (edges[i-1] <= x < edges[i]).

Skewed inputs (a pixel image that is half zeros) repeat quantiles; repeated edges are merged,
so such an input gets fewer buckets than asked for, each with its measured share. Edges and
shares are rounded to six significant digits: stable text across numpy versions.
"""

from __future__ import annotations

import numpy as np

from compiler.errors import PassError
from compiler.runtime.config import DriftBaseline
from compiler.runtime.drift import TEXT_INPUT, UNKNOWN_EDGES, bucket_counts, unknown_input

SIGNIFICANT_DIGITS = 6


def compute_baseline(arrays: dict[str, np.ndarray], buckets: int) -> dict[str, DriftBaseline]:
    """Per input: inner edges at the 1/buckets .. (buckets-1)/buckets quantiles, and the shares."""
    if buckets < 2:
        raise PassError("baseline", f"need at least 2 buckets, got {buckets}")
    return {name: _one(name, arrays[name], buckets) for name in sorted(arrays)}


def _one(name: str, array: np.ndarray, buckets: int) -> DriftBaseline:
    values = np.asarray(array).astype(np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise PassError("baseline", f"input '{name}' has no finite values to build a drift baseline from")
    quantiles = np.quantile(values, np.arange(1, buckets) / buckets)
    edges = sorted({_round(q) for q in quantiles})
    counts = bucket_counts(values, np.asarray(edges, dtype=np.float64))
    ratios = [_round(c / values.size) for c in counts]
    return DriftBaseline(edges=edges, ratios=ratios)


def _round(x: float) -> float:
    return float(f"{float(x):.{SIGNIFICANT_DIGITS}g}")


def text_baseline(inputs: dict[str, np.ndarray], unk_id: int | None, buckets: int) -> dict[str, DriftBaseline]:
    """A text model's baselines, from the tokenized evaluation/calibration text: tokens per text
    (special tokens included, what the server counts per text) under the text input's name, and the
    unknown-token share (runtime/drift.py: unknown_input). Clients send text, not token ids, so
    the model's tensors get no baseline of their own."""
    mask = inputs["attention_mask"].astype(bool)
    lengths = mask.sum(axis=1)
    tokens = int(lengths.sum())
    unknown = int(np.count_nonzero((inputs["input_ids"] == unk_id) & mask)) if unk_id is not None else 0
    if tokens == 0:
        raise PassError("baseline", "the text data has no tokens to build a drift baseline from")
    share = _round(unknown / tokens)
    return {TEXT_INPUT: _one(TEXT_INPUT, lengths, buckets),
            unknown_input(TEXT_INPUT): DriftBaseline(edges=list(UNKNOWN_EDGES), ratios=[_round(1 - share), share])}
