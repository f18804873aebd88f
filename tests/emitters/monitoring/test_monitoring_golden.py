"""The monitoring folder of each example against tests/golden/monitoring/ (tests/golden_harness.py;
refresh all goldens with `make golden`), and byte-for-byte determinism."""

from __future__ import annotations

import json

import pytest

from monitoring_helpers import EXAMPLES, REPO, emit
from tests.golden_harness import check_golden, golden


@golden
@pytest.mark.parametrize("example", EXAMPLES)
def test_matches_golden(example):
    check_golden("monitoring", example, emit(example))


@pytest.mark.parametrize("example", EXAMPLES)
def test_rebuild_is_byte_identical_and_relocatable(example):
    first, second = emit(example), emit(example)
    assert first == second
    for rel, data in first.items():
        assert str(REPO).encode() not in data, f"{rel} holds an absolute path"


def test_dashboard_queries_only_catalog_metrics():
    dashboard = json.loads(emit("digits-cnn")["monitoring/dashboard.json"])
    assert dashboard["uid"] == "deployc-digits-cnn"
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 12
    assert any("deployc_input_psi" in e for e in exprs)
    ids = [p["id"] for p in dashboard["panels"]]
    assert ids == sorted(set(ids))
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {"${datasource}"}
