"""`deployc build --image` against a real Docker engine, and without one.

The engine tests start Debian's dockerd (tests/docker_engine.py), build the digits-cnn image
from the generated context through the CLI on a base made with mmdebstrap, run it the way a
hardened cluster would (read-only root, tmpfs /tmp, uid 10001, no capabilities) and talk to it
with tritonclient. Containers use the host network (the engine has no bridge) and the
runtime binds 127.0.0.1 on a free port: argparse takes the last --host/--port given.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from compiler.actions import dockerd
from compiler.actions.docker_image import build_args, build_image, context_digest, image_tags
from compiler.errors import DeploycError
from compiler.frontend import load_spec
from tests.conftest import EXAMPLES, run_cli
from tests.docker_engine import base_image, docker_engine, free_port  # noqa: F401 (fixtures)

SPEC = EXAMPLES / "digits-cnn" / "deploy.yaml"
BASE = "deployc-base/python:3.11-bookworm"
NO_ENGINE = "unix:///nonexistent/deployc-test/docker.sock"
# The CPU image measured 278 MB with the HTTP server alone; gRPC (grpcio, protobuf, the health
# service) and the text tokenizer brought it to 312 MB. The bound catches a heavy dependency
# slipping in (torch alone is ~700 MB), not a few MB.
MAX_IMAGE_BYTES = 330_000_000


def _spec():
    return load_spec(SPEC, [f"target.image.base={BASE}"])


def _cli_build(out: Path, docker_host: str):
    started = time.monotonic()
    proc = run_cli("build", str(SPEC), "-o", str(out), "--image", f"target.image.base={BASE}",
                   env={"DOCKER_HOST": docker_host})
    return proc, out / "cpu-x86", time.monotonic() - started


# -- without an engine -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def no_engine_build(tmp_path_factory, cache_dir):
    return _cli_build(tmp_path_factory.mktemp("no-engine"), NO_ENGINE)


def test_no_engine_is_a_message_not_a_failure(no_engine_build):
    proc, tree, _ = no_engine_build
    assert proc.returncode == 0, proc.stderr
    assert f"image not built: no Docker engine reachable at {NO_ENGINE}" in proc.stderr
    assert "Traceback" not in proc.stderr
    lock = json.loads((tree / "deployc.lock.json").read_text())
    assert "image" not in lock
    for rel in ("image/Dockerfile", "image/requirements.lock", "image/runtime.json", "image/runtime/server.py"):
        assert (tree / rel).is_file() and rel in lock["files"]


def test_context_digest_covers_paths_and_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"1")
    first = context_digest(tmp_path)
    assert context_digest(tmp_path) == first
    (tmp_path / "a" / "x").write_bytes(b"2")
    assert context_digest(tmp_path) != first
    (tmp_path / "a" / "x").write_bytes(b"1")
    (tmp_path / "a" / "x").rename(tmp_path / "a" / "y")
    assert context_digest(tmp_path) != first


def test_tags_are_version_and_content_digest(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    spec = _spec()
    digest = context_digest(tmp_path)[:12]
    assert image_tags(spec, tmp_path) == ["digits-cnn:1.0.0", f"digits-cnn:sha-{digest}"]
    other = replace(spec, version="1.0.0+build.7", image=replace(spec.image, repository="registry.local/ml/digits"))
    assert image_tags(other, tmp_path) == ["registry.local/ml/digits:1.0.0-build.7", f"registry.local/ml/digits:sha-{digest}"]


def test_created_only_from_source_date_epoch(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert build_args() == ({}, {})
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert build_args() == ({"SOURCE_DATE_EPOCH": "1700000000"},
                            {"org.opencontainers.image.created": "2023-11-14T22:13:20Z"})
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(DeploycError, match="SOURCE_DATE_EPOCH must be whole seconds"):
        build_args()


def test_ping_is_false_without_an_engine():
    assert dockerd.ping(NO_ENGINE) is False


# -- with a real engine ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory, cache_dir, docker_engine, base_image):
    proc, tree, seconds = _cli_build(tmp_path_factory.mktemp("image"), docker_engine.host)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lock = json.loads((tree / "deployc.lock.json").read_text())
    return proc, tree, lock, docker_engine.client.images.get(lock["image"]["id"])


def _run(client, image, port: int, **extra):
    """The hardened way: read-only root, tmpfs /tmp, uid 10001, every capability dropped."""
    return client.containers.run(
        image.id, ["--host", "127.0.0.1", "--port", str(port), "--metrics-port", str(free_port())], detach=True,
        read_only=True, tmpfs={"/tmp": "rw,nosuid,nodev,size=64m"}, user="10001:10001", cap_drop=["ALL"],
        security_opt=["no-new-privileges"], network_mode="host", **extra)


def _wait_ready(container, port: int, timeout_s: float = 60):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        container.reload()
        assert container.status in ("created", "running"), container.logs().decode()[-3000:]
        try:
            if client.is_server_ready():
                return client
        except Exception:  # connection refused until uvicorn binds
            pass
        time.sleep(0.2)
    raise AssertionError(f"not ready after {timeout_s}s:\n{container.logs().decode()[-3000:]}")


@pytest.fixture
def server(docker_engine, built):
    port = free_port()
    container = _run(docker_engine.client, built[3], port)
    try:
        yield container, port, _wait_ready(container, port)
    finally:
        container.remove(force=True)


@pytest.mark.docker
def test_cli_builds_tags_and_locks_a_small_image(built, docker_engine):
    proc, tree, lock, image = built
    info = lock["image"]
    digest = context_digest(tree / "image")[:12]
    assert info["tags"] == ["digits-cnn:1.0.0", f"digits-cnn:sha-{digest}"]
    assert sorted(image.tags) == sorted(info["tags"])
    assert info["size_bytes"] == image.attrs["Size"] < MAX_IMAGE_BYTES, f"image is {info['size_bytes'] / 1e6:.1f} MB"
    assert f"image digits-cnn:1.0.0, digits-cnn:sha-{digest} {image.id}" in proc.stdout
    # The report is re-emitted with the image it describes; the lock lists the new report.
    assert json.loads((tree / "report.json").read_text())["image"] == info
    assert f"{info['size_bytes'] / 1e6:.1f} MB, id `{image.id}`" in (tree / "report.md").read_text()


@pytest.mark.docker
def test_image_config_is_unprivileged_labelled_and_stoppable(built):
    config = built[3].attrs["Config"]
    assert config["User"] == "10001:10001"
    assert set(config["ExposedPorts"]) == {"8080/tcp", "9090/tcp", "9000/tcp"}  # HTTP, metrics, gRPC
    assert config["StopSignal"] == "SIGTERM"
    assert "/v2/health/ready" in " ".join(config["Healthcheck"]["Test"])
    assert config["Entrypoint"][:5] == ["python3", "-m", "runtime", "--root", "/srv"]
    assert config["Labels"]["org.opencontainers.image.title"] == "digits-cnn"
    assert config["Labels"]["org.opencontainers.image.version"] == "1.0.0"
    assert "org.opencontainers.image.created" not in config["Labels"]  # no SOURCE_DATE_EPOCH, no date


@pytest.mark.docker
def test_serves_read_only_and_matches_local_onnxruntime(server, built):
    import onnxruntime as ort
    import tritonclient.http as httpclient

    _, _, client = server
    assert client.is_server_live() and client.is_model_ready("digits-cnn")
    meta = client.get_model_metadata("digits-cnn")
    assert meta["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": [-1, 1, 8, 8]}]
    assert meta["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]
    x = np.random.default_rng(7).uniform(0, 1, (5, 1, 8, 8)).astype(np.float32)
    inp = httpclient.InferInput("pixels", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    got = client.infer("digits-cnn", [inp], outputs=[httpclient.InferRequestedOutput("logits")]).as_numpy("logits")
    model = next((built[1] / "image" / "model").glob("model.*"))
    want = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(["logits"], {"pixels": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.docker
def test_healthcheck_turns_healthy_under_the_hardened_settings(docker_engine, built):
    """The image's own HEALTHCHECK command, pointed at this test's port and run every second."""
    image = built[3]
    port = free_port()
    health = image.attrs["Config"]["Healthcheck"]
    test = [arg.replace("127.0.0.1:8080/", f"127.0.0.1:{port}/") for arg in health["Test"]]
    container = _run(docker_engine.client, image, port,
                     healthcheck={"test": test, "interval": 1_000_000_000, "timeout": 3_000_000_000, "retries": 3})
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status != "healthy":
            time.sleep(0.5)
            container.reload()
            status = container.attrs["State"].get("Health", {}).get("Status")
        assert status == "healthy", container.attrs["State"].get("Health")
    finally:
        container.remove(force=True)


@pytest.mark.docker
def test_docker_stop_drains_and_exits_0_quickly(server):
    """SIGTERM turns readiness off; a client that, like a load balancer, stops sending once
    the endpoint is not ready loses no request, and the container exits 0 soon after."""
    import tritonclient.http as httpclient

    container, port, _ = server
    x = np.zeros((1, 1, 8, 8), np.float32)
    outcomes: list[str] = []

    def load():
        c = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
        inp = httpclient.InferInput("pixels", [1, 1, 8, 8], "FP32")
        inp.set_data_from_numpy(x)
        try:
            while c.is_server_ready():
                c.infer("digits-cnn", [inp])
                outcomes.append("ok")
        except Exception as exc:
            outcomes.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    container.stop(timeout=30)  # SIGTERM, then SIGKILL after 30 s
    elapsed = time.monotonic() - started
    thread.join(timeout=10)
    container.reload()
    logs = container.logs().decode()
    assert container.attrs["State"]["ExitCode"] == 0, logs[-2000:]
    assert elapsed < 5, f"took {elapsed:.1f}s to stop"
    assert "drained; shutting down" in logs
    assert outcomes.count("ok") > 10 and set(outcomes) == {"ok"}, [o for o in outcomes if o != "ok"][:3]


def _steps(image) -> dict[str, str]:
    """Build step -> the image id it produced; a step taken from the build cache keeps its id."""
    marks = {"deps": " in /opt/venv", "model": " in /srv/model/", "code": " in /srv/runtime/",
             "config": " in /srv/runtime.json"}
    history = image.history()
    return {name: next(h["Id"] for h in history if h["CreatedBy"].rstrip().endswith(mark.strip()))
            for name, mark in marks.items()}


@pytest.mark.docker
def test_code_or_config_change_reuses_dependency_and_model_layers(built, tmp_path, monkeypatch, docker_engine):
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    _, tree, lock, image = built
    first = _steps(image)

    config_change = tmp_path / "config"
    shutil.copytree(tree / "image", config_change)
    rt = json.loads((config_change / "runtime.json").read_text())
    (config_change / "runtime.json").write_text(json.dumps({**rt, "max_queue_delay_ms": 1.0}, indent=2))
    started = time.monotonic()
    result = build_image(config_change, _spec())
    seconds = time.monotonic() - started
    second = docker_engine.client.images.get(result["image"]["id"])
    steps = _steps(second)
    assert steps["deps"] == first["deps"] and steps["model"] == first["model"] and steps["code"] == first["code"]
    assert steps["config"] != first["config"]
    assert second.attrs["RootFS"]["Layers"][:-1] == image.attrs["RootFS"]["Layers"][:-1]
    assert seconds < 60, f"a config-only rebuild took {seconds:.1f}s"
    assert second.attrs["Config"]["Labels"]["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"

    code_change = tmp_path / "code"
    shutil.copytree(tree / "image", code_change)
    with open(code_change / "runtime" / "server.py", "a") as fh:
        fh.write("\n# a code-only change\n")
    third = _steps(docker_engine.client.images.get(build_image(code_change, _spec())["image"]["id"]))
    assert third["deps"] == first["deps"] and third["model"] == first["model"]
    assert third["code"] != first["code"]
