"""Writer: stage every file, write the lock, then swap the staged tree into place.

A failed build (anywhere before the swap) leaves the previous output untouched. Output is
byte-reproducible: sorted JSON keys, no timestamps, no absolute paths.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from compiler.digest import FileData, sha256_file
from compiler.serialize import dumps

LOCK = "deployc.lock.json"


def stage(files: dict[str, FileData], root: Path) -> None:
    for rel, data in sorted(files.items()):
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise ValueError(f"emitter produced a path outside the tree: {rel}")
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Path):
            shutil.copyfile(data, dest)
        else:
            dest.write_bytes(data)


def lock_of(root: Path, meta: dict) -> dict:
    files = {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file() and p.name != LOCK}
    return {**meta, "files": files}


def write_tree(target_dir: Path, files: dict[str, FileData], meta: dict,
               before_swap: Callable[[Path], dict] | None = None) -> dict:
    """Returns the lock. `before_swap(staging)` may act on the staged tree (build the image)
    and returns extra lock fields."""
    target_dir = Path(target_dir)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.staging-", dir=target_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it 0700; the tree should read like any other folder
    try:
        stage(files, staging)
        if before_swap is not None:
            meta = {**meta, **before_swap(staging)}
        lock = lock_of(staging, meta)
        (staging / LOCK).write_bytes(dumps(lock))
        _swap(staging, target_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return lock


def _swap(staging: Path, target_dir: Path) -> None:
    if not target_dir.exists():
        os.replace(staging, target_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.old-", dir=target_dir.parent))
    os.rmdir(old)
    os.replace(target_dir, old)
    os.replace(staging, target_dir)
    shutil.rmtree(old, ignore_errors=True)
