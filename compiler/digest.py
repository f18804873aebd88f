"""sha256 of files, JSON data and whole folders: the one definition every digest in deployc uses."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Union

FileData = Union[bytes, Path]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_data(data: FileData) -> str:
    return sha256_file(data) if isinstance(data, Path) else hashlib.sha256(data).hexdigest()


def sha256_json(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def files_digest(files: dict[str, FileData]) -> str:
    """sha256 over (relative path, sha256 of content), sorted: a digest of a whole folder's content.
    The image's content tag uses it, both before the folder exists (emitters) and after (docker)."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{sha256_data(files[rel])}\n".encode())
    return h.hexdigest()
