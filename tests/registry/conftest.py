"""A real MLflow tracking server (SQLite backend, artifacts served by the server) on loopback,
one per test session (it takes tens of seconds to start on two busy cores), with a tiny ONNX
model registered as two versions and the alias `champion` on version 1."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# Tests that need no server (flavour dispatch, URIs) run without mlflow too.
NO_MLFLOW = None if importlib.util.find_spec("mlflow") else "the registry tests need the `registry` extra (mlflow)"

MODEL = "tiny-mlp"
START_TIMEOUT_S = 240


def said(result) -> str:
    """stderr with the console's line wrapping undone."""
    return " ".join(result.stderr.split())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> str:
    if NO_MLFLOW:
        pytest.skip(NO_MLFLOW)
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, root / "server.log")
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server's own group: gunicorn/uvicorn workers too
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow server not ready after {START_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


def tiny_onnx(scale: float):
    """x [batch, 4] -> y [batch, 3]: one MatMul, so a build verifies and measures it in a second."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array((np.arange(12, dtype=np.float32).reshape(4, 3) - 5) * scale, "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model


@pytest.fixture(scope="session")
def registry(mlflow_server) -> dict:
    """Versions 1 and 2 of MODEL (different weights), @champion -> 1. Returns their run ids."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(mlflow_server)
    runs = {}
    for version, scale in (("1", 0.1), ("2", 0.2)):
        with mlflow.start_run() as run:
            mlflow.onnx.log_model(tiny_onnx(scale), name="model", registered_model_name=MODEL, pip_requirements=[])
        runs[version] = run.info.run_id
    MlflowClient(mlflow_server).set_registered_model_alias(MODEL, "champion", "1")
    return runs


SPEC = """defaults: [{{target: cpu-x86}}, _self_]
name: tiny-mlp
version: "1.0.0"
model:
  source: mlflow
  uri: {uri}
  tracking_uri: {tracking}
  inputs: [{{name: x, dtype: float32, shape: [batch, 4], range: [0, 1]}}]
  outputs: [{{name: y, dtype: float32, shape: [batch, 3]}}]
optimize:
  precisions: [fp32]
  quantize: none
  latency: {{batch_sizes: [1], warmup: 2, iterations: 5}}
  verify_samples: 16
"""


def write_spec(folder: Path, tracking: str, uri: str = f"models:/{MODEL}@champion") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "deploy.yaml"
    path.write_text(SPEC.format(uri=uri, tracking=tracking))
    return path


@pytest.fixture(scope="session")
def built(mlflow_server, registry, cache_dir, tmp_path_factory) -> Path:
    """One build from models:/tiny-mlp@champion: the folder holding deploy.yaml and out/cpu-x86."""
    from tests.conftest import run_cli

    folder = tmp_path_factory.mktemp("built")
    spec = write_spec(folder, mlflow_server)
    r = run_cli("build", str(spec), "-o", str(folder / "out"), cwd=folder)
    assert r.returncode == 0, r.stderr + r.stdout
    return folder
