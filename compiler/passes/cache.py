"""Content-addressed cache of pass results.

Key = sha256 of (pass name, its config, the digests of its inputs, library versions). An entry
is a folder of files plus meta.json; it is written to a temp folder and renamed, so a crash
never leaves half an entry. Location: $DEPLOYC_CACHE, else the user cache dir.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from compiler.digest import files_digest, sha256_json
from compiler.resources import cache_dir


@lru_cache(maxsize=1)
def passes_code_digest() -> str:
    """A digest of the passes' own source: a fix in a pass must not be hidden by results the
    old code cached (library versions alone would not notice)."""
    folder = Path(__file__).parent
    return files_digest({p.name: p for p in sorted(folder.glob("*.py"))})


def default_cache_dir() -> Path:
    return cache_dir()


@dataclass
class Entry:
    dir: Path
    meta: dict
    hit: bool

    def file(self, name: str) -> Path:
        return self.dir / name


class Cache:
    def __init__(self, root: Path | None = None, enabled: bool = True):
        self.root = Path(root) if root else default_cache_dir()
        self.enabled = enabled

    def key(self, pass_name: str, config: dict, inputs: dict[str, str], versions: dict[str, str]) -> str:
        return sha256_json({"pass": pass_name, "config": config, "inputs": inputs, "versions": versions,
                            "code": passes_code_digest()})

    def get_or_run(self, key: str, produce: Callable[[Path], dict]) -> Entry:
        """`produce(folder)` writes files into folder and returns meta (plain data)."""
        final = self.root / key[:2] / key
        meta_path = final / "meta.json"
        if self.enabled and meta_path.is_file():
            return Entry(final, json.loads(meta_path.read_text()), hit=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
        try:
            meta = produce(tmp)
            (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True, indent=1))
            if final.exists():  # a concurrent job won the race (sweeps share the cache)
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Entry(final, json.loads(meta_path.read_text()), hit=False)
