"""A sweep beyond one process: Hydra's Ray launcher against a real Ray cluster.

The test starts a one-node Ray cluster on loopback (`ray start --head`), points the sweep at it
with `hydra.launcher.ray.init.address`, runs two jobs, and stops the cluster (`ray stop`). A
remote cluster is the same override with its address (README, "Sweeps on a Ray cluster").

hydra-ray-launcher 1.2.2 asks for cloudpickle<3; cloudpickle 3.1.3 is installed here and the
jobs below pickle, ship and return through it: this test is the check that the pair works.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.sweep.launcher import launch, normalize
from tests.conftest import EXAMPLES, ROOT
from tests.sweep.test_launcher import Probe

DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"
RAY = Path(sys.executable).with_name("ray")

pytest.importorskip("ray", reason="the `ray` extra (ray, hydra-ray-launcher) is not installed")
pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="hydra-ray-launcher is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A real local Ray head node (2 CPUs, small object store), stopped after the module."""
    port = _free_port()
    temp = tmp_path_factory.mktemp("ray")
    # Ray's session folder path must stay short (unix socket names are limited to 107 bytes).
    short = Path(f"/tmp/ray-{os.getpid()}")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
           # Workers import the task's module (tests.sweep.test_launcher) from the repository.
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start = subprocess.run([str(RAY), "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
                            "--num-cpus", "2", "--disable-usage-stats", "--include-dashboard=false",
                            "--object-store-memory", str(100 * 2**20), "--temp-dir", str(short)],
                           env=env, capture_output=True, text=True, timeout=180, cwd=temp)
    assert start.returncode == 0, start.stdout + start.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(short, ignore_errors=True)


def test_two_job_sweep_runs_on_a_local_ray_cluster(ray_cluster, tmp_path, monkeypatch):
    import ray

    monkeypatch.chdir(tmp_path)
    jobs = [normalize(DIGITS, ["target=cpu-x86", "serve.replicas.max=3"]),
            normalize(DIGITS, ["target=nvidia-a100", "serve.replicas.max=4"])]
    hydra = ["hydra/launcher=ray", f"+hydra.launcher.ray.init.address={ray_cluster}",
             # The launcher sets a default object store size, which ray.init refuses when it
             # joins an existing cluster (the cluster already sized it).
             "+hydra.launcher.ray.init.object_store_memory=null",
             "+hydra.launcher.ray.remote.num_cpus=1"]
    try:
        ran = launch(DIGITS, jobs, hydra, Probe())
        gcs, cpus = ray.get_runtime_context().gcs_address, ray.cluster_resources().get("CPU")
    finally:
        ray.shutdown()
    assert ran.launcher == "RayLauncher"
    assert [r["num"] for r in ran.returns] == [0, 1]
    assert [r["target"] for r in ran.returns] == ["cpu-x86", "nvidia-a100"]
    assert [r["replicas"] for r in ran.returns] == [3, 4]  # each job composed its own config
    # The jobs ran in Ray's worker processes of the cluster started above, not in this one.
    assert os.getpid() not in {r["pid"] for r in ran.returns}
    # ... and the driver joined that cluster (its port and its 2 CPUs), not a fresh local one.
    assert gcs.rsplit(":", 1)[1] == ray_cluster.rsplit(":", 1)[1] and cpus == 2
    assert list(tmp_path.iterdir()) == []  # Hydra wrote nothing into the user's folder
