"""Shared fixtures. Tests use their own pass cache (never the user's) so results are reproducible."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One pass cache for the whole session: the first build of an example exports it, the rest reuse."""
    path = Path(os.environ.get("DEPLOYC_TEST_CACHE") or tmp_path_factory.mktemp("deployc-cache"))
    os.environ["DEPLOYC_CACHE"] = str(path)
    return path


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run `deployc` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DEPLOYC_DEBUG", None) if env is None or "DEPLOYC_DEBUG" not in env else None
    return subprocess.run([sys.executable, "-m", "compiler", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli(cache_dir):
    return run_cli
