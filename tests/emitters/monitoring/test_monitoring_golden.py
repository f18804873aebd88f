"""Golden files of the monitoring folder for each example, and byte-for-byte determinism.

Refresh after an intended change, then review the diff:
    DEPLOYC_REFRESH_GOLDEN=1 pytest tests/emitters/monitoring
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from monitoring_helpers import EXAMPLES, REPO, emit

GOLDEN = Path(__file__).resolve().parent / "golden"
REFRESH = os.environ.get("DEPLOYC_REFRESH_GOLDEN") == "1"


@pytest.mark.parametrize("example", EXAMPLES)
def test_matches_golden(example):
    files = emit(example)
    folder = GOLDEN / example
    if REFRESH:
        for old in folder.rglob("*"):
            if old.is_file():
                old.unlink()
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
    expected = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    assert sorted(files) == sorted(expected), "file set changed; refresh with DEPLOYC_REFRESH_GOLDEN=1"
    for rel in files:
        assert files[rel] == expected[rel], f"{rel} differs from golden; refresh with DEPLOYC_REFRESH_GOLDEN=1"


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
