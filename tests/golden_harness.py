"""The one golden-file harness: every golden test compares through `check_golden`.

Goldens live under tests/golden/<suite>/<case>/ as plain files, so a change of an emitter
shows up in a pull request as a reviewable diff. After an intended change, one command
rewrites all of them (and removes files no longer emitted):

    make golden      # DEPLOYC_REFRESH_GOLDEN=1 pytest -m golden

then review `git diff tests/golden` before committing.
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
REFRESH = os.environ.get("DEPLOYC_REFRESH_GOLDEN") == "1"

golden = pytest.mark.golden  # `make golden` runs every test with this marker


def check_golden(suite: str, case: str, files: dict[str, bytes]) -> None:
    """Assert `files` (relative path -> bytes) equal tests/golden/<suite>/<case>/, file set included.

    With DEPLOYC_REFRESH_GOLDEN=1 the folder is rewritten from `files` first.
    """
    folder = GOLDEN / suite / case
    if REFRESH:
        shutil.rmtree(folder, ignore_errors=True)
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
    assert folder.is_dir(), f"no golden at {folder.relative_to(GOLDEN.parent.parent)}; run `make golden` and review it"
    expected = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    problems = [f"missing from the output: {rel}" for rel in sorted(set(expected) - set(files))]
    problems += [f"not in the golden: {rel}" for rel in sorted(set(files) - set(expected))]
    problems += [_unified(rel, expected[rel], files[rel]) for rel in sorted(set(expected) & set(files))
                 if expected[rel] != files[rel]]
    assert not problems, (f"output differs from tests/golden/{suite}/{case} (run `make golden` if intended):\n"
                          + "\n".join(problems[:5]))


def _unified(rel: str, old: bytes, new: bytes) -> str:
    lines = difflib.unified_diff(old.decode(errors="replace").splitlines(), new.decode(errors="replace").splitlines(),
                                 f"golden/{rel}", f"built/{rel}", lineterm="", n=1)
    return "\n".join(list(lines)[:40])
