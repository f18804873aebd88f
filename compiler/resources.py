"""Where the packaged data lives (targets/, schemas/ and templates/, from a checkout or a wheel), and
deployc's own cache folder."""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import platformdirs
import yaml


def _package_dir(name: str) -> Path:
    return Path(str(resources.files(name)))


def targets_dir() -> Path:
    return _package_dir("compiler._targets")


def schemas_dir() -> Path:
    return _package_dir("compiler._schemas")


def templates_dir() -> Path:
    return Path(__file__).parent / "templates"


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    with open(schemas_dir() / f"{name}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def target_names() -> list[str]:
    return sorted(p.stem for p in targets_dir().glob("*.yaml"))


def cache_dir() -> Path:
    """$DEPLOYC_CACHE, else the user cache dir: pass results (passes/cache.py), vendored wheels, and
    model versions downloaded from a registry (frontend/mlflow_source.py)."""
    return Path(os.environ.get("DEPLOYC_CACHE") or platformdirs.user_cache_dir("deployc"))


def registry_downloads() -> Path:
    """Model versions downloaded from a registry, one folder per content digest."""
    return cache_dir() / "registry"
