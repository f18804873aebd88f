"""Vendor the image's wheels: download exactly the pins of a shipped lock (compiler/locks/).

`pip download --no-deps --require-hashes` fetches each pinned wheel for the image's platform
(not the build host's) once into the deployc cache; later builds read them from there with
no network. Nothing is resolved here: a newer release on the index, or a local wheel folder
offering one, changes no byte. A pin the index no longer serves is a clear error naming it.
The image then installs with `pip install --no-index --require-hashes`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from compiler.digest import sha256_file, sha256_json
from compiler.errors import DeploycError
from compiler.locks import Lock, normalize, pip_platforms
from compiler.passes.cache import Cache, default_cache_dir


def vendor(lock: Lock, cache_root: Path | None = None) -> dict[str, Path]:
    """Wheel file name -> path in the cache, for every pin of `lock`, each checked by sha256.

    Raises DeploycError naming the pins that cannot be downloaded.
    """
    cache = Cache(Path(cache_root or default_cache_dir()) / "wheels")
    key = sha256_json({"lock": lock.body(), "platform": lock.platform, "python": lock.python, "v": 2})
    entry = cache.get_or_run(key, lambda folder: _download(lock, folder))
    return {name: entry.dir / name for name in entry.meta["files"]}


def _download(lock: Lock, folder: Path) -> dict:
    requirements = folder / "requirements.lock"
    requirements.write_text(lock.body(), encoding="utf-8")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--require-hashes", "--only-binary=:all:",
           *[a for p in pip_platforms(lock.platform) for a in ("--platform", p)],
           "--python-version", lock.python, "--implementation", "cp",
           "--abi", "cp" + lock.python.replace(".", ""), "--dest", str(folder), "-r", str(requirements)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    requirements.unlink()
    if proc.returncode != 0:
        errors = [re.sub(r" \(from versions: [^)]*\)", "", ln) for ln in proc.stderr.splitlines()
                  if ln.startswith("ERROR") and "yanked" not in ln] or proc.stderr.splitlines()
        raise DeploycError(
            f"image.hermetic: cannot download the pinned wheels of {lock.file_name} for {lock.platform} / "
            f"CPython {lock.python}:\n  " + "\n  ".join(errors[-4:])
            + "\n(a pin may be gone from the index: `deployc lock --upgrade` re-resolves the locks; "
              "or set image.hermetic: false)")
    files = sorted(p.name for p in folder.glob("*.whl"))
    _check(lock, folder, files)
    return {"files": files}


def _check(lock: Lock, folder: Path, files: list[str]) -> None:
    """Exactly one wheel per pin, with the pinned sha256 (pip checked it too: this is the proof)."""
    by_name = {normalize(f.split("-")[0]): f for f in files}
    want = {p.name: p for p in lock.pins}
    if set(by_name) != set(want):
        raise DeploycError(f"image: the wheels downloaded for {lock.file_name} do not match its pins "
                           f"(missing {sorted(set(want) - set(by_name))}, extra {sorted(set(by_name) - set(want))})")
    for name, file in by_name.items():
        if sha256_file(folder / file) != want[name].sha256:
            raise DeploycError(f"image: {file} does not have the sha256 {lock.file_name} pins")
