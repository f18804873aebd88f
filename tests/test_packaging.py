"""The wheel users install carries every package, the target profiles, the schemas and templates."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True)
    return next(out.glob("deployc-*.whl"))


def test_wheel_has_every_package_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "compiler").rglob("__init__.py")}
    for package in packages:
        assert f"{package}/__init__.py" in names, f"{package} is not in the wheel (add it to pyproject's packages)"
    for folder, target in (("targets", "compiler/_targets"), ("schemas", "compiler/_schemas"),
                           ("compiler/templates", "compiler/templates")):
        for f in (ROOT / folder).iterdir():
            if f.suffix in (".yaml", ".j2"):
                assert f"{target}/{f.name}" in names, f"{folder}/{f.name} missing from the wheel"


def test_installed_wheel_runs_outside_the_checkout(wheel, tmp_path):
    """Unpacked first on sys.path, run from elsewhere: profiles and schemas come from the wheel."""
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import compiler.resources as r; "
            "from compiler.frontend.validate import spec_schema; "
            "assert r.targets_dir().is_relative_to(sys.argv[1]), r.targets_dir(); "
            "print(len(r.target_names()), sorted(spec_schema())[0])")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path / "site")], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(list((ROOT / "targets").glob("*.yaml")))), "description"]
