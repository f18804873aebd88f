"""The image's Python dependency locks, shipped with deployc: the same spec and deployc
version give the same `image/requirements.lock` (and wheels) next month too.

One lock per (server engine, wheel platform, CPython): `<engine>-<platform>-cp<XY>.txt` in
pip's hash-checking format, every wheel pinned by version and sha256. A build only reads
them; it never asks a package index which versions exist. `deployc lock` (compiler/locks/
make.py) writes them, keeping the current pins unless `--upgrade` is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from compiler.errors import DeploycError, SpecError

# The versions the runtime is tested with: direct dependencies only. `deployc lock` resolves
# the rest for each platform and records what it chose in the lock files beside this one.
PINS = {
    "numpy": "2.4.6",
    "starlette": "1.10.0",
    "uvicorn": "0.54.0",
    "httptools": "0.9.0",  # uvicorn's C HTTP parser: ~1.5x the requests/s of its pure-Python h11
    "prometheus-client": "0.26.0",
    "onnxruntime": "1.32.0",
    "onnxruntime-gpu": "1.31.1",  # the newest CUDA build on the index lags the CPU one
    # text generation: the runtime's LLM backend (og.Model, og.Generator); it runs on onnxruntime
    "onnxruntime-genai": "0.18.0",
    "torch": "2.13.0",
    "ai-edge-litert": "2.3.0",
    "tokenizers": "0.23.3",  # text models: the runtime tokenizes requests from tokenizer.json
    # OIP v2 over gRPC and the standard health service; the stubs in compiler/runtime were made
    # for protobuf 6 and load on the protobuf 7 the engines' locks pin (a test in the image).
    "grpcio": "1.85.3",
    "grpcio-health-checking": "1.85.1",
}
SERVER = ("numpy", "starlette", "uvicorn", "httptools", "prometheus-client", "tokenizers",
          "grpcio", "grpcio-health-checking")
# Locked without their dependencies: tokenizers needs huggingface_hub (and ~10 MB more) only to
# download from a hub, which a server reading its own tokenizer.json never does. The image
# installs the lock with --no-deps: the lock is the complete set, nothing else gets resolved.
NO_DEPS = ("tokenizers",)
ENGINES = ("onnxruntime", "onnxruntime-gpu", "torch", "ai-edge-litert", "onnxruntime-genai")
# Direct pins an engine brings along (so the lock holds the tested onnxruntime, not the newest).
ENGINE_WITH = {"onnxruntime-genai": ("onnxruntime",)}
GPU_PROVIDERS = {"CUDAExecutionProvider", "TensorrtExecutionProvider"}
# The newest glibc the wheels may need: every supported base (Debian 12, Ubuntu 22.04 and
# later) has it. pip's --platform matches tags exactly, so `pip_platforms` lists the older
# manylinux tags too (a manylinux_2_17 wheel runs on a 2.28 glibc).
MANYLINUX = "manylinux_2_28"
ARCHES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm64/v8": "aarch64"}
_LINE = re.compile(r"^(?P<name>[a-z0-9-]+)==(?P<version>[^\s\\]+) \\\n    --hash=sha256:(?P<sha256>[0-9a-f]{64})$", re.M)


@dataclass(frozen=True)
class Pin:
    name: str  # normalized project name
    version: str
    sha256: str


@dataclass(frozen=True)
class Lock:
    engine: str
    platform: str  # wheel platform tag, e.g. manylinux_2_28_x86_64
    python: str  # major.minor
    pins: tuple[Pin, ...]  # sorted by name

    @property
    def file_name(self) -> str:
        return lock_file_name(self.engine, self.platform, self.python)

    def body(self) -> str:
        """The pins in pip's hash-checking format, one wheel per entry, sorted by name."""
        return "".join(f"{p.name}=={p.version} \\\n    --hash=sha256:{p.sha256}\n" for p in self.pins)


def engine_for(backend: str, providers: list[str]) -> str:
    """The package that runs the model for a runtime backend (onnxruntime | torch | litert |
    onnxruntime-genai)."""
    if backend == "onnxruntime":
        return "onnxruntime-gpu" if GPU_PROVIDERS & set(providers) else "onnxruntime"
    if backend == "torch":
        return "torch"
    if backend == "litert":
        return "ai-edge-litert"
    if backend == "onnxruntime-genai":  # CPU build; the CUDA one (onnxruntime-genai-cuda) is not locked yet
        return "onnxruntime-genai"
    raise DeploycError(f"image: no dependency set for runtime backend {backend!r}")


def requirements(engine: str) -> list[str]:
    """Pinned direct dependencies of the server with one engine, sorted (NO_DEPS included)."""
    return [f"{name}=={PINS[name]}" for name in sorted((*SERVER, engine, *ENGINE_WITH.get(engine, ())))]


def platform_tag(platform: str) -> str:
    """`linux/amd64` -> `manylinux_2_28_x86_64`; names the spec key when unknown."""
    arch = ARCHES.get(platform)
    if arch is None:
        raise DeploycError(f"target.image.platform: {platform!r} has no wheel platform here "
                           f"(known: {', '.join(sorted(ARCHES))})")
    return f"{MANYLINUX}_{arch}"


def pip_platforms(tag: str) -> list[str]:
    """`--platform` values for pip: the lock's manylinux tag and every older one, newest first."""
    arch = tag.removeprefix(f"{MANYLINUX}_")
    newest = int(MANYLINUX.split("_")[2])
    return ([f"manylinux_2_{minor}_{arch}" for minor in range(newest, 16, -1)]
            + [f"manylinux2014_{arch}"] + ([f"manylinux2010_{arch}", f"manylinux1_{arch}"] if arch == "x86_64" else []))


def lock_file_name(engine: str, platform_tag_: str, python: str) -> str:
    return f"{engine}-{platform_tag_}-cp{python.replace('.', '')}.txt"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(engine: str, platform: str, python: str, text: str) -> Lock:
    pins = tuple(Pin(m["name"], m["version"], m["sha256"]) for m in _LINE.finditer(text))
    return Lock(engine, platform, python, tuple(sorted(pins, key=lambda p: p.name)))


def shipped() -> list[str]:
    """File names of every lock shipped with this deployc, sorted."""
    return sorted(p.name for p in resources.files(__name__).iterdir() if p.name.endswith(".txt"))


def load(engine: str, platform: str, python: str) -> Lock:
    """The shipped lock for an engine on a platform (`linux/amd64`) and CPython (`3.11`).

    Raises DeploycError naming the missing combination and the locks that do exist.
    """
    tag = platform_tag(platform)
    name = lock_file_name(engine, tag, python)
    path = resources.files(__name__).joinpath(name)
    if not path.is_file():
        have = ", ".join(n.removesuffix(".txt") for n in shipped()) or "none"
        raise DeploycError(
            f"image: deployc ships no dependency lock for {engine} on {tag} / CPython {python} "
            f"(target.image.platform, target.image.base); shipped: {have}. Add one with "
            f"`deployc lock --python {python} --platform {platform}` in a deployc checkout, "
            "or set image.hermetic: false")
    lock = parse(engine, tag, python, path.read_text(encoding="utf-8"))
    if not any(p.name == engine for p in lock.pins):
        raise DeploycError(f"image: the shipped lock {name} does not pin {engine}; rewrite it with `deployc lock`")
    return lock


# Python of a base image without a python:X.Y tag, by distribution release in its name.
# Those bases have no Python of their own (CUDA runtime images): the Dockerfile installs it.
DISTRO_PYTHON = {"bookworm": "3.11", "trixie": "3.13", "bullseye": "3.9", "noble": "3.12",
                 "ubuntu24.04": "3.12", "jammy": "3.10", "ubuntu22.04": "3.10", "l4t-jetpack:r36": "3.10"}


@dataclass(frozen=True)
class BaseImage:
    ref: str
    python: str  # major.minor of the interpreter the image will run
    has_python: bool


def base_image(ref: str) -> BaseImage:
    """What the wheels must match: a `python:X.Y-*` image, or a known distribution release."""
    m = re.search(r"(?:^|/)python:(\d+\.\d+)", ref)
    if m:
        return BaseImage(ref, m.group(1), True)
    for release, python in DISTRO_PYTHON.items():
        if release in ref:
            return BaseImage(ref, python, False)
    raise SpecError(f"cannot tell which Python {ref!r} runs: use a python:X.Y-* image (or one named after "
                    f"a known release: {', '.join(sorted(DISTRO_PYTHON))})", "target.image.base")
