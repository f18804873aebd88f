"""AOTInductor on the CPU: the .pt2 candidate computes what the model computes, on real data."""

from __future__ import annotations

import pytest

from compiler.frontend import load_spec
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.pipeline import run_passes
from compiler.planner import plan
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow


def test_digits_aoti_candidate_passes_parity_on_the_holdout(tmp_path):
    """The holdout is a numpy view (x[:, None]) with odd strides; the package must still be right."""
    spec = load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", ["optimize.aoti=always", "optimize.quantize=none"])
    the_plan = plan(spec)
    assert the_plan.runs("aoti")
    results = run_passes(the_plan, PassContext(spec, Cache(tmp_path / "cache")))
    v = results.verifications["aoti-cpu"]
    assert v.cosine > 0.9999 and v.top1_agreement == 1.0 and not results.failures["aoti-cpu"]
