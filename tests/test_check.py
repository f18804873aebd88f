"""`deployc build --check`: stale committed output fails (with the diff), fresh output passes,
and OUT is never modified. The comparison rules are tested fast on hand-made trees; the CLI
flow builds the real digits example (slow). Last, the users' CI workflow (examples/ci/):
its shape, and its check step run as written."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from compiler.check import compare, compare_tree, portable
from compiler.report_model import Report
from tests.conftest import EXAMPLES, ROOT
from tests.diff.test_diff_trees import REPORT, make_tree


def _with_report(root: Path, report: dict) -> Path:
    tree = make_tree(root, report=report)
    text = json.dumps(report, sort_keys=True)
    (tree / "report.md").write_text(f"# report\n{hashlib.sha256(text.encode()).hexdigest()}\n")
    lock = {"files": {"report.json": hashlib.sha256(text.encode()).hexdigest(), "k8s/hpa.yaml": "x"}, "target": "t"}
    (tree / "deployc.lock.json").write_text(json.dumps(lock, sort_keys=True))
    return tree


def test_identical_trees_are_up_to_date(tmp_path):
    a, b = _with_report(tmp_path / "a" / "t", REPORT), _with_report(tmp_path / "b" / "t", REPORT)
    assert compare_tree(a, b) == ([], True)


def test_other_host_latency_is_not_staleness(tmp_path):
    """A CI runner measures other numbers; report.json, report.md and the lock's report
    digests may differ by exactly that."""
    other = copy.deepcopy(REPORT)
    other["candidates"][0]["latency"][0]["p50_ms"] = 0.5
    other["latency_note"] = "measured on the build host (aarch64)"
    a, b = _with_report(tmp_path / "a" / "t", REPORT), _with_report(tmp_path / "b" / "t", other)
    assert compare_tree(a, b) == ([], False)
    assert portable(Report.from_json_dict(REPORT)) == portable(Report.from_json_dict(other))


def test_a_latency_cell_that_was_nan_on_one_host_only_is_not_staleness(tmp_path):
    other = copy.deepcopy(REPORT)
    other["candidates"][0]["latency"][0]["p50_ms"] = None
    other["candidates"][0]["non_finite"] = {"latency.b1.p50_ms": "nan"}
    a, b = _with_report(tmp_path / "a" / "t", REPORT), _with_report(tmp_path / "b" / "t", other)
    assert compare_tree(a, b) == ([], False)


@pytest.mark.parametrize("edit", [lambda r: r["candidates"][0].pop("cosine"), lambda r: r.update(extra=1),
                                  lambda r: r["candidates"][0].update(cosine=float("nan"))])
def test_a_committed_report_this_deployc_would_not_write_is_stale(tmp_path, edit):
    """Missing, unknown or NaN: whatever the rest says, it is not what the spec builds now."""
    committed = copy.deepcopy(REPORT)
    edit(committed)
    a, b = _with_report(tmp_path / "a" / "t", committed), _with_report(tmp_path / "b" / "t", REPORT)
    assert "report.json" in compare_tree(a, b)[0]


def test_a_different_artifact_or_manifest_is_stale(tmp_path):
    other = copy.deepcopy(REPORT)
    other["candidates"][0]["accuracy"] = 0.5
    a, b = _with_report(tmp_path / "a" / "t", REPORT), _with_report(tmp_path / "b" / "t", other)
    (b / "k8s" / "hpa.yaml").write_text("kind: HorizontalPodAutoscaler\n")
    (b / "extra.txt").write_text("new\n")
    stale, _ = compare_tree(a, b)
    assert stale == ["extra.txt", "k8s/hpa.yaml", "report.json"]


def test_a_missing_committed_tree_is_stale(tmp_path):
    fresh = _with_report(tmp_path / "fresh" / "t", REPORT)
    stale = compare(tmp_path / "committed", fresh.parent, ["t"])
    assert "t/report.json" in stale and "t/k8s/hpa.yaml" in stale


DIGITS_DIR = EXAMPLES / "digits-cnn"


def _snapshot(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_check_fails_after_the_spec_changes_and_passes_after_a_rebuild(cli, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(DIGITS_DIR, project)
    spec = project / "deploy.yaml"
    out = tmp_path / "committed"
    assert cli("build", str(spec), "-o", str(out)).returncode == 0

    fresh = cli("build", str(spec), "--check", "-o", str(out))
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "up to date" in fresh.stdout

    text = spec.read_text()
    spec.write_text(text.replace("replicas: {min: 2, max: 6}", "replicas: {min: 2, max: 7}")
                    .replace("drift: {buckets: 10, threshold: 0.2}", "drift: {buckets: 10, threshold: 0.25}"))
    before = _snapshot(out)
    stale = cli("build", str(spec), "--check", "-o", str(out))
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "HorizontalPodAutoscaler/digits-cnn: spec.maxReplicas 6 -> 7" in stale.stdout
    assert "DeploycInputDrift: expr threshold 0.2 -> 0.25" in stale.stdout
    assert "is stale" in stale.stderr
    assert _snapshot(out) == before  # --check never writes OUT (not even the build log)

    assert cli("build", str(spec), "-o", str(out)).returncode == 0
    again = cli("build", str(spec), "--check", "-o", str(out))
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.slow
def test_check_of_a_sweep_and_of_missing_output(cli, tmp_path):
    spec = str(DIGITS_DIR / "deploy.yaml")
    out = tmp_path / "out"
    missing = cli("build", spec, "--check", "-o", str(out))
    assert missing.returncode == 1 and "cpu-x86 (added)" in missing.stdout
    assert not out.exists()
    sweep = ("-m", "target=cpu-x86,nvidia-a100")
    assert cli("build", spec, *sweep, "-o", str(out)).returncode == 0
    fresh = cli("build", spec, *sweep, "--check", "-o", str(out))
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    changed = cli("build", spec, *sweep, "rollout.analysis.max_error_ratio=0.02", "--check", "-o", str(out))
    assert changed.returncode == 1
    assert "AnalysisTemplate/digits-cnn: spec.metrics[name=error-ratio].successCondition" in changed.stdout
    assert "### nvidia-a100 (changed)" in changed.stdout


WORKFLOW = ROOT / "examples" / "ci" / "deployc-check.yml"


def _steps() -> dict[str, dict]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    return {s.get("name") or s.get("uses"): s for s in doc["jobs"]["check"]["steps"]}


def test_workflow_shape():
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in doc[True]  # YAML 1.1 reads the `on:` key as true
    assert doc["permissions"] == {"contents": "read", "pull-requests": "write"}
    names = list(_steps())
    assert names.index("Check that the committed output is what the spec builds") < names.index(
        "Comment on the pull request") < names.index("Fail when the output is stale or the build failed")
    comment = _steps()["Comment on the pull request"]
    assert comment["uses"].startswith("actions/github-script@")
    assert "updateComment" in comment["with"]["script"] and "createComment" in comment["with"]["script"]
    assert (ROOT / "examples" / "ci" / "README.md").is_file()


def _run_step(name: str, cwd: Path, env: dict) -> dict[str, str]:
    script = _steps()[name]["run"]
    out_file = cwd / "github_output"
    out_file.write_text("")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    r = subprocess.run(["bash", "-e", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=900,
                       env={**os.environ, **env, "PATH": path, "GITHUB_OUTPUT": str(out_file)})
    assert r.returncode == 0, r.stdout + r.stderr
    return dict(line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line)


@pytest.mark.slow
def test_check_step_reports_fresh_then_stale(cli, tmp_path):
    shutil.copytree(EXAMPLES / "digits-cnn", tmp_path / "deploy")
    assert cli("build", str(tmp_path / "deploy" / "deploy.yaml"), "-o", str(tmp_path / "deploy" / "out")).returncode == 0
    env = {"SPEC": "deploy/deploy.yaml", "OUT": "deploy/out", "SWEEP": ""}
    step = "Check that the committed output is what the spec builds"
    assert _run_step(step, tmp_path, env)["code"] == "0"
    stale = _run_step(step, tmp_path, {**env, "SWEEP": "serve.replicas.max=9"})
    assert stale["code"] == "1"
    assert "HorizontalPodAutoscaler/digits-cnn: spec.maxReplicas 6 -> 9" in (tmp_path / "check.md").read_text()
    assert "is stale" in (tmp_path / "check.err").read_text()
