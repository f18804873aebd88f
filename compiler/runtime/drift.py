"""Drift buckets, shared by the compiler (baseline at build time) and the server (live counts).

Bucket i holds edges[i-1] <= value < edges[i]: len(edges) + 1 buckets, the outer two open.
numpy only, so the compiler can import it without the server's dependencies.
"""

from __future__ import annotations

import numpy as np

from .config import DriftBaseline

TEXT_INPUT = "text"  # the BYTES input clients send to a text model


def unknown_input(text_input: str) -> str:
    """The drift baseline of a text input's unknown-token share: a per-token value, 0 for a known
    token and 1 for the tokenizer's unknown token, in two buckets (edges [1.0]), so its baseline
    ratios are [known share, unknown share] and the PSI rules treat it like any input."""
    return f"{text_input}:unknown_tokens"


UNKNOWN_EDGES = [1.0]


def bucket_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many values fall in each bucket (int64, length len(edges) + 1)."""
    flat = np.asarray(values).ravel()
    index = np.searchsorted(edges, flat, side="right")
    return np.bincount(index, minlength=len(edges) + 1)


def baseline(values: np.ndarray, buckets: int) -> DriftBaseline:
    """A baseline from sample inputs: quantile edges (deduplicated) and the share per bucket."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0 or buckets < 2:
        raise ValueError("a drift baseline needs values and at least 2 buckets")
    edges = np.unique(np.quantile(flat, np.linspace(0.0, 1.0, buckets + 1)[1:-1]))
    counts = bucket_counts(flat, edges)
    return DriftBaseline(edges=[float(e) for e in edges], ratios=[float(c) for c in counts / counts.sum()])
