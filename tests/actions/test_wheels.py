"""Vendoring the image's wheels downloads exactly the shipped lock's pins, whatever the index offers."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from compiler import locks
from compiler.actions import wheels
from compiler.digest import sha256_file
from compiler.errors import DeploycError
from compiler.locks import Lock, Pin
from tests.conftest import EXAMPLES, run_cli


def _newer_wheel(folder: Path, name: str, version: str) -> Path:
    """A valid pure-Python wheel of `name` at a version newer than any pin."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name.replace('-', '_')}/__init__.py", "")
        z.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}.dist-info/RECORD", "")
    return path


@pytest.fixture
def newer_links(tmp_path, monkeypatch) -> Path:
    """PIP_FIND_LINKS offers newer releases of a direct and an indirect runtime dependency."""
    folder = tmp_path / "newer"
    folder.mkdir()
    _newer_wheel(folder, "packaging", "99.0")
    _newer_wheel(folder, "starlette", "99.0.0")
    links = " ".join(filter(None, [os.environ.get("PIP_FIND_LINKS", ""), str(folder)]))
    monkeypatch.setenv("PIP_FIND_LINKS", links)
    return folder


def test_vendor_downloads_exactly_the_pins(tmp_path, newer_links):
    lock = locks.load("onnxruntime", "linux/amd64", "3.11")
    files = wheels.vendor(lock, tmp_path / "cache")
    pinned = {p.name: p.sha256 for p in lock.pins}
    assert len(files) == len(pinned)
    for name, path in files.items():
        assert sha256_file(path) == pinned[locks.normalize(name.split("-")[0])]
    assert not any("99.0" in name for name in files)


def test_a_pin_the_index_does_not_serve_is_a_clear_error(tmp_path):
    lock = locks.load("onnxruntime", "linux/amd64", "3.11")
    gone = Lock(lock.engine, lock.platform, lock.python,
                tuple(Pin(p.name, "0.0.0.dev0" if p.name == "starlette" else p.version, p.sha256) for p in lock.pins))
    with pytest.raises(DeploycError, match=r"(?s)cannot download the pinned wheels .*starlette==0\.0\.0\.dev0"):
        wheels.vendor(gone, tmp_path / "cache")


def test_newer_release_on_the_index_changes_no_byte(cache_dir, tmp_path, newer_links):
    """Two builds of one spec, the second with a cold wheel cache and a find-links folder that
    offers newer packaging and starlette: every file of the trees is the same."""
    spec = EXAMPLES / "digits-cnn" / "deploy.yaml"
    first = run_cli("build", str(spec), "-o", str(tmp_path / "a"), env={"PIP_FIND_LINKS": os.environ["PIP_FIND_LINKS"]})
    assert first.returncode == 0, first.stderr
    cold = tmp_path / "cold-cache"  # the pass results are shared; the wheels are fetched again
    cold.mkdir()
    for entry in Path(cache_dir).iterdir():
        if entry.name != "wheels":
            (cold / entry.name).symlink_to(entry)
    second = run_cli("build", str(spec), "-o", str(tmp_path / "b"), env={"DEPLOYC_CACHE": str(cold)})
    assert second.returncode == 0, second.stderr
    assert (cold / "wheels").is_dir()
    a, b = tmp_path / "a" / "cpu-x86", tmp_path / "b" / "cpu-x86"
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert any(str(f).startswith("image/wheels/") for f in files_a)
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
