"""The layering contract (pyproject.toml [tool.importlinter], docs/architecture.md "Layering"),
checked with import-linter's `lint-imports`, which reads every import, at module level or inside
a function. The contract holds on the tree, and a copy of the tree with one bad import of each
kind breaks it, naming that import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    # lint-imports puts its working directory first on sys.path, so it reads the tree at `root`.
    # A wide console keeps each reported import on one line.
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_tree_keeps_every_contract():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken." in result.stdout


def test_the_runtime_contract_names_every_other_top_level_module():
    """The runtime is copied into the image alone: a new top-level module must be forbidden to it too."""
    tops = {p.stem for p in (ROOT / "compiler").glob("*.py") if p.stem != "__init__"}
    tops |= {p.parent.name for p in (ROOT / "compiler").glob("*/__init__.py")}
    (leaf,) = [c for c in contracts() if c["id"] == "runtime-leaf"]
    assert set(leaf["forbidden_modules"]) == {f"compiler.{m}" for m in tops - {"runtime"}}


# (module to edit, the line added, what lint-imports must then report)
BAD = {
    "emitter imports a pass": (
        "emitters/model.py", "import compiler.passes.base\n", "compiler.emitters.model -> compiler.passes.base"),
    "runtime imports the compiler": (
        "runtime/metrics.py", "import compiler.errors\n", "compiler.runtime.metrics -> compiler.errors"),
    "front end imports the planner inside a function": (
        "frontend/files.py", "\n\ndef _late():\n    import compiler.planner\n", "compiler.frontend.files -> compiler.planner"),
    "a cycle inside a package, held by a function-level import": (
        "sweep/jobs.py", "\n\ndef _late():\n    import compiler.sweep.run\n", "No cycles are allowed in compiler.sweep."),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "compiler", copy / "compiler", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_import_breaks_the_contract(case, pristine, tmp_path):
    module, line, expected = BAD[case]
    tree = tmp_path / "tree"
    shutil.copytree(pristine, tree)
    with open(tree / "compiler" / module, "a", encoding="utf-8") as f:
        f.write(line)
    result = lint(tree)
    assert result.returncode != 0
    assert expected in result.stdout, result.stdout
