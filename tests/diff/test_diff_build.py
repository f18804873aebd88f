"""`deployc diff` between two real builds of the digits example whose specs differ in the replica
count, the drift alert threshold and the canary analysis error budget."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow

DIGITS = str(EXAMPLES / "digits-cnn" / "deploy.yaml")


def test_diff_names_replicas_and_thresholds(cli, tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    assert cli("build", DIGITS, "-o", str(old)).returncode == 0
    changed = ("serve.replicas.max=8", "monitoring.drift.threshold=0.3", "rollout.analysis.max_error_ratio=0.02")
    assert cli("build", DIGITS, *changed, "-o", str(new)).returncode == 0
    r = cli("diff", str(old), str(new))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("## deployc diff")
    assert "HorizontalPodAutoscaler/digits-cnn: spec.maxReplicas 6 -> 8" in out
    assert "deployc.digits-cnn.drift/DeploycInputDrift: expr threshold 0.2 -> 0.3" in out
    assert ("AnalysisTemplate/digits-cnn: spec.metrics[name=error-ratio].successCondition "
            '"result[0] >= 0 && result[0] <= 0.01" -> "result[0] >= 0 && result[0] <= 0.02"') in out
    assert "**Model**" not in out  # same artifact, same numbers: nothing to say about the model
    assert str(tmp_path) not in out.split("\n", 3)[3]  # paths only in the heading


def test_diff_of_a_tree_with_itself_is_empty(cli, tmp_path):
    assert cli("build", DIGITS, "-o", str(tmp_path)).returncode == 0
    r = cli("diff", str(tmp_path), str(tmp_path))
    assert r.returncode == 0 and "0 trees changed, 1 unchanged" in r.stdout
