"""The drift baseline: quantile edges and shares, counted the way the runtime counts."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import PassError
from compiler.passes.baseline import compute_baseline
from compiler.runtime.drift import bucket_counts


def _uniform(n: int = 10_000) -> np.ndarray:
    return np.random.default_rng(0).random((n // 100, 100)).astype(np.float32)


def test_uniform_values_get_equal_shares_and_sorted_edges():
    base = compute_baseline({"x": _uniform()}, 10)["x"]
    assert len(base.edges) == 9 and base.edges == sorted(base.edges)
    assert len(base.ratios) == 10
    assert sum(base.ratios) == pytest.approx(1.0, abs=1e-5)
    assert all(r == pytest.approx(0.1, abs=0.002) for r in base.ratios)


def test_shares_are_the_runtimes_bucket_counts():
    values = np.random.default_rng(1).normal(size=5000)
    base = compute_baseline({"x": values}, 8)["x"]
    counts = bucket_counts(values, np.asarray(base.edges))
    assert base.ratios == pytest.approx(list(counts / counts.sum()), rel=1e-5)


def test_deterministic_and_rounded_to_six_significant_digits():
    a = compute_baseline({"x": _uniform(), "y": _uniform() * 3}, 10)
    b = compute_baseline({"y": _uniform() * 3, "x": _uniform()}, 10)
    assert a == b and list(a) == ["x", "y"]
    for value in a["x"].edges + a["x"].ratios:
        assert float(f"{value:.6g}") == value


def test_integer_token_ids_get_edges():
    ids = np.random.default_rng(7).integers(0, 1000, size=(128, 32), dtype=np.int64)
    base = compute_baseline({"input_ids": ids}, 10)["input_ids"]
    assert len(base.edges) == 9 and 0 < base.edges[0] < base.edges[-1] < 999
    assert sum(base.ratios) == pytest.approx(1.0, abs=1e-5)


def test_repeated_quantiles_merge_into_fewer_buckets():
    # Half zeros, like digit images: many quantiles are 0, and one bucket holds all of them.
    values = np.concatenate([np.zeros(5000), np.linspace(0.01, 1, 5000)])
    base = compute_baseline({"x": values}, 10)["x"]
    assert len(set(base.edges)) == len(base.edges) < 9
    assert max(base.ratios) == pytest.approx(0.5, abs=0.01)


def test_constant_input_gets_one_edge():
    base = compute_baseline({"x": np.full((4, 4), 3.0)}, 10)["x"]
    assert base.edges == [3.0] and base.ratios == [0.0, 1.0]


def test_non_finite_values_are_ignored_and_empty_input_is_an_error():
    base = compute_baseline({"x": np.array([np.nan, 1.0, 2.0, np.inf, 3.0, 4.0])}, 2)["x"]
    assert base.edges == [2.5] and base.ratios == [0.5, 0.5]
    with pytest.raises(PassError, match="'x' has no finite values"):
        compute_baseline({"x": np.array([np.nan])}, 4)
    with pytest.raises(PassError, match="at least 2 buckets"):
        compute_baseline({"x": _uniform()}, 1)
