"""bench/text_bench.py's table arithmetic: ratios, cosines and load cells (the bench itself needs
built models and minutes; its --quick run is the smoke test)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("text_bench", Path(__file__).resolve().parents[2] / "bench" / "text_bench.py")
text_bench = importlib.util.module_from_spec(_spec)
sys.modules["text_bench"] = text_bench  # dataclasses look their module up there
_spec.loader.exec_module(text_bench)


def test_speedup_is_the_baselines_time_over_ours_and_nan_without_a_time():
    assert text_bench.speedup(3.0, 1.0) == 3.0
    assert math.isnan(text_bench.speedup(3.0, 0.0))


def test_throughput_ratio_is_ours_over_theirs_and_nan_when_theirs_served_nothing():
    ours = text_bench.Load([0.01] * 300, 0, 1.0)
    theirs = text_bench.Load([0.03] * 100, 2, 1.0)
    assert text_bench.throughput_ratio(ours, theirs) == 3.0
    assert math.isnan(text_bench.throughput_ratio(ours, text_bench.Load([], 5, 1.0)))


def test_load_cell_shows_rate_and_percentiles():
    cell = text_bench.Load([0.001 * k for k in range(1, 101)], 0, 2.0)
    assert cell.rps == 50.0 and cell.cell() == "50 (50.5 / 99.0)"
    assert math.isnan(text_bench.Load([], 1, 1.0).pct_ms(50))


def test_cosines_per_row_and_zero_rows_do_not_divide_by_zero():
    a = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    b = np.array([[2.0, 0.0], [0.0, -1.0], [1.0, 0.0]])
    assert np.allclose(text_bench.cosines(a, b), [1.0, -1.0, 0.0])


def test_chunks_cover_every_sentence_once_in_order():
    texts = text_bench.sentences()
    assert len(texts) > 300 and all(texts)
    parts = text_bench.chunks(texts, 32)
    assert [t for p in parts for t in p] == texts and max(map(len, parts)) == 32
