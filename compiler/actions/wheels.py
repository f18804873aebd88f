"""Vendor the image's Python dependencies: wheels for the target platform, locked by sha256.

`pip download --only-binary=:all: --platform ... --python-version ...` resolves the pinned
runtime requirements for the image's platform (not the build host's) and fetches the wheels
once into the deployc cache; later builds read them from there with no network. The image
then installs with `pip install --no-index --require-hashes`, so its build needs no network
and cannot pick up anything the lock does not name.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from compiler.errors import DeploycError
from compiler.digest import sha256_file, sha256_json
from compiler.passes.cache import Cache, default_cache_dir

# The versions the runtime is tested with. Direct dependencies only; pip resolves the rest
# for the target platform and the lock records what it chose.
PINS = {
    "numpy": "2.4.6",
    "starlette": "1.10.0",
    "uvicorn": "0.54.0",
    "httptools": "0.9.0",  # uvicorn's C HTTP parser: ~1.5x the requests/s of its pure-Python h11
    "prometheus-client": "0.26.0",
    "onnxruntime": "1.32.0",
    "onnxruntime-gpu": "1.31.1",  # the newest CUDA build on the index lags the CPU one
    "torch": "2.13.0",
    "ai-edge-litert": "2.3.0",
}
SERVER = ("numpy", "starlette", "uvicorn", "httptools", "prometheus-client")
GPU_PROVIDERS = {"CUDAExecutionProvider", "TensorrtExecutionProvider"}
# The oldest glibc the wheels may need: every supported base (Debian 12, Ubuntu 22.04 and
# later) has a newer one, and pip also accepts the older manylinux tags below it.
MANYLINUX = "manylinux_2_28"
ARCHES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm64/v8": "aarch64"}


@dataclass(frozen=True)
class Wheel:
    name: str  # normalized project name
    version: str
    file: str
    sha256: str


@dataclass(frozen=True)
class Vendored:
    wheels: tuple[Wheel, ...]
    folder: Path  # where the wheel files are (the cache entry)
    platform: str
    python: str

    def paths(self) -> dict[str, Path]:
        return {w.file: self.folder / w.file for w in self.wheels}


def requirements(backend: str, providers: list[str]) -> list[str]:
    """Pinned direct dependencies of the server for one backend."""
    if backend == "onnxruntime":
        engine = "onnxruntime-gpu" if GPU_PROVIDERS & set(providers) else "onnxruntime"
    elif backend == "torch":
        engine = "torch"
    elif backend == "litert":
        engine = "ai-edge-litert"
    else:
        raise DeploycError(f"image: no dependency set for runtime backend {backend!r}")
    return [f"{name}=={PINS[name]}" for name in sorted((*SERVER, engine))]


def platform_tag(platform: str) -> str:
    arch = ARCHES.get(platform)
    if arch is None:
        raise DeploycError(f"target.image.platform: {platform!r} has no wheel platform here "
                           f"(known: {', '.join(sorted(ARCHES))})")
    return f"{MANYLINUX}_{arch}"


def vendor(reqs: list[str], platform: str, python: str, cache_root: Path | None = None) -> Vendored:
    """Download (or reuse from the cache) every wheel the requirements need on that platform."""
    tag = platform_tag(platform)
    cache = Cache(Path(cache_root or default_cache_dir()) / "wheels")
    key = sha256_json({"requirements": sorted(reqs), "platform": tag, "python": python, "v": 1})
    entry = cache.get_or_run(key, lambda folder: _download(reqs, tag, python, folder))
    wheels = tuple(Wheel(**w) for w in entry.meta["wheels"])
    return Vendored(wheels, entry.dir, tag, python)


def _download(reqs: list[str], tag: str, python: str, folder: Path) -> dict:
    abi = "cp" + python.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--only-binary=:all:", "--platform", tag, "--python-version", python,
           "--implementation", "cp", "--abi", abi, "--dest", str(folder), *reqs]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")] or proc.stderr.splitlines()
        raise DeploycError(
            f"image.hermetic: cannot fetch wheels of {', '.join(reqs)} for {tag} / CPython {python}:\n  "
            + "\n  ".join(errors[-4:])
            + "\n(set image.hermetic: false to install from the index at image build time instead)")
    wheels = [_wheel(p) for p in sorted(folder.glob("*.whl"))]
    return {"wheels": [w.__dict__ for w in wheels]}


def _wheel(path: Path) -> Wheel:
    name, version = path.name.split("-")[:2]
    return Wheel(normalize(name), version, path.name, sha256_file(path))


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_text(vendored: Vendored) -> str:
    """requirements.lock in pip's hash-checking format, sorted by name."""
    head = (f"# The image's Python dependencies for {vendored.platform}, CPython {vendored.python}.\n"
            "# Every wheel is pinned by sha256 and vendored in wheels/; written by deployc.\n"
            "# pip install --no-index --require-hashes --find-links wheels -r requirements.lock\n")
    body = "".join(f"{w.name}=={w.version} \\\n    --hash=sha256:{w.sha256}\n"
                   for w in sorted(vendored.wheels, key=lambda w: w.name))
    return head + body


def unlocked_text(reqs: list[str]) -> str:
    """Without hermetic mode: the pinned direct dependencies; pip resolves the rest at build time."""
    head = ("# The image's direct Python dependencies (not hermetic: pip resolves and downloads\n"
            "# them from the package index when the image is built).\n")
    return head + "".join(f"{r}\n" for r in sorted(reqs))
