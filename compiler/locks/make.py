"""`deployc lock`: resolve the image's dependency locks (compiler/locks/*.txt) with pip.

This is the only place that asks a package index which versions exist, and it runs only when
a maintainer asks: a build reads the shipped locks and never resolves. pip resolves for the
image's platform and CPython, not the host's (`--platform --python-version --only-binary`),
with `--dry-run --report`, so only metadata is fetched. Without `upgrade` every package keeps
the version its current lock pins (pip constraints), so adding a lock or a dependency moves
nothing else.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from compiler.errors import DeploycError
from compiler.locks import (ENGINES, NO_DEPS, Lock, Pin, lock_file_name, normalize, parse, pip_platforms,
                            platform_tag, requirements)

HEADER = ("# The pinned Python dependencies of deployc's serving image: {engine} on {tag}, CPython {python}.\n"
          "# Written by `deployc lock`; builds copy these pins into image/requirements.lock.\n")
# What `deployc lock` with no --python/--platform writes: every CPython a supported base image
# runs (DISTRO_PYTHON and python:X.Y tags in use) on both wheel platforms.
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PLATFORMS = ("linux/amd64", "linux/arm64")


@dataclass(frozen=True)
class Outcome:
    file: str
    changed: bool
    error: str = ""


def folder() -> Path:
    return Path(__file__).resolve().parent


def make_locks(pythons=PYTHONS, platforms=PLATFORMS, engines=ENGINES, upgrade: bool = False) -> list[Outcome]:
    """Write one lock per combination into compiler/locks/; a combination pip cannot resolve
    (no wheel for that platform) is reported and gets no file."""
    outcomes = []
    for platform in platforms:
        tag = platform_tag(platform)
        for python in pythons:
            for engine in engines:
                outcomes.append(_make_one(engine, tag, python, upgrade))
    return outcomes


def _make_one(engine: str, tag: str, python: str, upgrade: bool) -> Outcome:
    path = folder() / lock_file_name(engine, tag, python)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    keep = [] if upgrade or not old else [f"{p.name}=={p.version}" for p in parse(engine, tag, python, old).pins]
    try:
        pins = lock_pins(engine, tag, python, keep)
    except DeploycError as exc:
        return Outcome(path.name, False, str(exc))
    text = HEADER.format(engine=engine, tag=tag, python=python) + Lock(engine, tag, python, pins).body()
    if text != old:
        path.write_text(text, encoding="utf-8")
    return Outcome(path.name, text != old)


def lock_pins(engine: str, tag: str, python: str, keep: list[str]) -> tuple[Pin, ...]:
    """The lock of the server with `engine`: its closure, plus NO_DEPS packages without theirs."""
    reqs = requirements(engine)
    with_deps = [r for r in reqs if r.split("==")[0] not in NO_DEPS]
    pins = resolve(with_deps, tag, python, keep) + resolve(
        [r for r in reqs if r not in with_deps], tag, python, keep, deps=False)
    return tuple(sorted({p.name: p for p in pins}.values(), key=lambda p: p.name))


def resolve(reqs: list[str], tag: str, python: str, keep: list[str], deps: bool = True) -> tuple[Pin, ...]:
    """Every wheel `reqs` need on (tag, python), by name, version and sha256, sorted by name
    (with deps=False: the wheels of `reqs` alone)."""
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("".join(f"{k}\n" for k in keep), encoding="utf-8")
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--disable-pip-version-check", "--report", str(report), "--target", str(Path(tmp) / "t"),
               "--only-binary=:all:", *[a for p in pip_platforms(tag) for a in ("--platform", p)],
               "--python-version", python, *([] if deps else ["--no-deps"]),
               "--implementation", "cp", "--abi", "cp" + python.replace(".", ""),
               "-c", str(constraints), *reqs]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")] or proc.stderr.splitlines()
            hint = "" if not keep else " (the current pins may no longer fit: try --upgrade)"
            raise DeploycError(f"cannot resolve {' '.join(reqs)} for {tag} / CPython {python}{hint}: "
                               + " | ".join(errors[-3:]))
        items = json.loads(report.read_text(encoding="utf-8"))["install"]
    pins = [Pin(normalize(i["metadata"]["name"]), i["metadata"]["version"], _sha256(i["download_info"]))
            for i in items]
    local = [f"{p.name}=={p.version}" for p in pins if "+" in p.version]
    if local:  # a build of this host's own (e.g. torch 2.13.0+cpu from a wheel folder): no index has it
        raise DeploycError(f"{', '.join(local)} for {tag} / CPython {python} is a local build, not on the "
                           "package index an image build can reach")
    return tuple(sorted(pins, key=lambda p: p.name))


def _sha256(info: dict) -> str:
    digest = info.get("archive_info", {}).get("hashes", {}).get("sha256")
    if digest:
        return digest
    url = urlparse(info["url"])
    if url.scheme == "file":  # a local wheel folder: its index gives no hash, the file does
        return hashlib.sha256(Path(unquote(url.path)).read_bytes()).hexdigest()
    raise DeploycError(f"the index gave no sha256 for {info['url']}")
