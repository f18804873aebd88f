"""Fixtures for the runtime tests (helpers live in helpers.py)."""

from __future__ import annotations

import pytest

from .helpers import Server, toy_config
from .text_model import build_artifact


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One batching server for a test module."""
    srv = Server(tmp_path_factory.mktemp("server"), toy_config())
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def artifact(tmp_path_factory):
    """The tiny BERT text model (ONNX) and the real MiniLM tokenizer: (folder, vocab size)."""
    return build_artifact(tmp_path_factory.mktemp("text-model"))
