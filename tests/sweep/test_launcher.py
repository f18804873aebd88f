"""Jobs really go through Hydra's launchers (basic in-process, joblib in worker processes).

The task here is a small timing probe instead of a model build, so these tests are fast;
tests/sweep/test_sweep_build.py runs the same launchers with real builds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from compiler.errors import SpecError
from compiler.sweep.launcher import job_number, job_overrides, launch, normalize
from tests.conftest import EXAMPLES

DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"


@dataclass(frozen=True)
class Probe:
    """Records what Hydra handed the job, where it ran, and when."""

    sleep: float = 0.0

    def __call__(self, cfg) -> dict:
        started = time.time()
        time.sleep(self.sleep)
        return {"num": job_number(), "overrides": job_overrides(), "replicas": cfg.serve.replicas.max,
                "target": cfg.target.name, "cwd": os.getcwd(), "pid": os.getpid(),
                "started": started, "finished": time.time()}


def _jobs(*items: list[str]) -> list[list[str]]:
    return [normalize(DIGITS, job) for job in items]


def _hydra_leftovers(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.name in (".hydra", "outputs", "multirun") or p.suffix == ".log")


def test_basic_launcher_composes_each_job_in_process(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    jobs = _jobs(["target=cpu-x86", "serve.replicas.max=3"], ["target=nvidia-a100", "serve.replicas.max=4"])
    ran = launch(DIGITS, jobs, [], Probe())
    assert ran.launcher == "BasicLauncher"
    assert [r["num"] for r in ran.returns] == [0, 1]
    assert [r["target"] for r in ran.returns] == ["cpu-x86", "nvidia-a100"]
    assert [r["replicas"] for r in ran.returns] == [3, 4]  # Hydra composed the job's own config
    assert ran.returns[0]["overrides"] == ["target=cpu-x86", "++serve.replicas.max=3"]
    assert {r["cwd"] for r in ran.returns} == {str(tmp_path)}  # nothing chdir'd
    assert {r["pid"] for r in ran.returns} == {os.getpid()}
    assert _hydra_leftovers(tmp_path) == [] and list(tmp_path.iterdir()) == []
    assert os.getcwd() == str(tmp_path)


def test_user_cannot_turn_chdir_or_output_folders_back_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran = launch(DIGITS, _jobs(["target=cpu-x86"]), ["hydra.job.chdir=True", "hydra.output_subdir=.hydra"], Probe())
    assert ran.returns[0]["cwd"] == str(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_joblib_launcher_runs_two_jobs_at_the_same_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    jobs = _jobs(["target=cpu-x86"], ["target=nvidia-a100"])
    ran = launch(DIGITS, jobs, ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], Probe(sleep=2.0))
    assert ran.launcher == "JoblibLauncher"
    first, second = ran.returns
    assert first["pid"] != second["pid"] and os.getpid() not in (first["pid"], second["pid"])
    # Overlap: each job started before the other finished.
    assert first["started"] < second["finished"] and second["started"] < first["finished"]
    assert [r["target"] for r in ran.returns] == ["cpu-x86", "nvidia-a100"]
    assert {r["cwd"] for r in ran.returns} == {str(tmp_path)}
    assert list(tmp_path.iterdir()) == []


def test_unknown_launcher_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="hydra"):
        launch(DIGITS, _jobs(["target=cpu-x86"]), ["hydra/launcher=no-such-launcher"], Probe())
    assert list(tmp_path.iterdir()) == []
