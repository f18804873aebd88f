"""The k8s/ folder of each rollout policy, byte for byte.

A change to the manifests shows up here as a reviewable diff. After an intended change:
    DEPLOYC_REFRESH_GOLDEN=1 .venv/bin/pytest tests/emitters/kubernetes
rewrites tests/emitters/kubernetes/golden/<case>/ (and removes files no longer emitted).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from k8s_helpers import CASES, emit_case

GOLDEN = Path(__file__).parent / "golden"
REFRESH = os.environ.get("DEPLOYC_REFRESH_GOLDEN") == "1"


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_golden(case):
    emitted = {name.split("/", 1)[1]: data for name, data in emit_case(case).items()}
    folder = GOLDEN / case
    if REFRESH:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.yaml"):
            if stale.name not in emitted:
                stale.unlink()
        for name, data in emitted.items():
            (folder / name).write_bytes(data)
    assert folder.is_dir(), f"no golden for {case}; run with DEPLOYC_REFRESH_GOLDEN=1"
    golden = {p.name: p.read_bytes() for p in sorted(folder.glob("*.yaml"))}
    assert sorted(emitted) == sorted(golden), "emitted files differ from the golden set"
    for name in sorted(golden):
        assert emitted[name].decode() == golden[name].decode(), f"{case}/{name} differs from golden"
