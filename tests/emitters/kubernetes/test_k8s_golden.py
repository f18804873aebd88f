"""The k8s/ folder of each rollout policy against tests/golden/k8s/<case>/, byte for byte
(tests/golden_harness.py; refresh all goldens with `make golden`)."""

from __future__ import annotations

import pytest
from k8s_helpers import CASES, emit_case

from tests.golden_harness import check_golden, golden


@golden
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_golden(case):
    check_golden("k8s", case, {name.split("/", 1)[1]: data for name, data in emit_case(case).items()})
