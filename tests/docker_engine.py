"""Session fixtures for a real Docker engine and the local base image.

The engine is Debian's dockerd started as root on a private socket (compiler.actions.dockerd),
with its data root at /var/lib/deployc-docker so the base image survives between runs; it is
stopped when the session ends. The base image is made once with mmdebstrap (a minute or two)
and found in the data root afterwards.

Import the fixtures into exactly one test module (or list this module in `pytest_plugins`):
a session fixture defined in two modules would start two engines on one data root.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import pytest

from compiler.actions import dockerd
from compiler.actions.base_image import DEFAULT_TAG as BASE_TAG
from compiler.actions.base_image import make_base_image


@dataclass(frozen=True)
class DockerEngine:
    host: str  # DOCKER_HOST value
    client: object  # docker.DockerClient
    storage_driver: str


def _docker_sdk():
    try:
        import docker
    except ImportError:
        pytest.skip("the docker SDK is not installed (pip install 'deployc[image]')")
    return docker


@pytest.fixture(scope="session")
def docker_engine():
    """DEPLOYC_TEST_DOCKER_HOST names an engine already running (kept running); else start one."""
    docker = _docker_sdk()
    existing = os.environ.get("DEPLOYC_TEST_DOCKER_HOST")
    if existing:
        client = docker.DockerClient(base_url=existing, timeout=1800)
        yield DockerEngine(existing, client, client.info().get("Driver", ""))
        client.close()
        return
    problem = dockerd.missing_requirements()
    if problem:
        pytest.skip(f"no private Docker engine: {problem}")
    engine = dockerd.start()
    client = docker.DockerClient(base_url=engine.host, timeout=1800)
    try:
        yield DockerEngine(engine.host, client, engine.storage_driver)
    finally:
        client.close()
        dockerd.stop(engine)


@pytest.fixture(scope="session")
def base_image(docker_engine) -> str:
    """deployc-base/python:3.11-bookworm in the engine, made with mmdebstrap when missing."""
    import docker

    try:
        docker_engine.client.images.get(BASE_TAG)
        return BASE_TAG
    except docker.errors.ImageNotFound:
        pass
    if shutil.which("mmdebstrap") is None:
        pytest.skip(f"{BASE_TAG} is not in the engine and mmdebstrap is not installed to make it")
    make_base_image(docker_engine.client, BASE_TAG)
    return BASE_TAG


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
