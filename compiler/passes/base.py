"""What passes share: the artifact type, the pass context, and timing/caching bookkeeping."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, TypeVar

from compiler.frontend.spec import Spec
from compiler.passes.cache import Cache


@dataclass(frozen=True)
class Artifact:
    """One candidate model file, living in the cache."""

    candidate: str  # onnx-fp32, onnx-opt, onnx-fp16, onnx-int8-dynamic, aoti, tflite-int8, ...
    format: str  # onnx | pt2 | tflite
    precision: str
    path: Path
    sha256: str
    produced_by: tuple[str, ...] = ()  # the chain of passes, for the report


@dataclass(frozen=True)
class Broken:
    """A candidate that could not be built or run: reported with its reason, never selected."""

    candidate: str
    reason: str
    artifact: Artifact | None = None  # None when the pass itself failed


@dataclass
class PassEvent:
    name: str
    seconds: float
    cached: bool
    detail: str = ""
    failed: bool = False


T = TypeVar("T")


@dataclass
class PassContext:
    spec: Spec
    cache: Cache
    on_event: Callable[[PassEvent], None] = lambda e: None
    events: list[PassEvent] = field(default_factory=list)
    broken: list[Broken] = field(default_factory=list)
    # A long pass's steps (distillation's training): (pass, done, total), for a progress bar.
    on_progress: Callable[[str, int, int], None] = lambda name, done, total: None
    # What a pass learned that the report shows besides its artifact (distillation's training).
    facts: dict = field(default_factory=dict)

    def progress(self, name: str, done: int, total: int) -> None:
        self.on_progress(name, done, total)

    @contextmanager
    def timed(self, name: str):
        """Times one pass; the body sets `.cached` / `.detail` on the yielded event."""
        event = PassEvent(name, 0.0, False)
        start = time.perf_counter()
        yield event
        event.seconds = time.perf_counter() - start
        self.events.append(event)
        self.on_event(event)

    def attempt(self, candidate: str, fn: Callable[[], T], artifact: Artifact | None = None) -> T | None:
        """One candidate's pass or check. Its failure marks that candidate broken (None is returned)
        and the others are still judged. A SpecError still stops the build: the spec is wrong for all."""
        from compiler.errors import DeploycError, SpecError

        try:
            return fn()
        except SpecError:
            raise
        except Exception as exc:  # a library's failure on this candidate only: report it, go on
            reason = self.redact(str(exc) if isinstance(exc, DeploycError) else f"{type(exc).__name__}: {exc}")
            self.broken.append(Broken(candidate, reason, artifact))
            event = PassEvent(f"{candidate} failed", 0.0, False, reason, failed=True)
            self.events.append(event)
            self.on_event(event)
            return None

    def redact(self, text: str) -> str:
        """A library's message names files by absolute path: in the report (which must be the same
        bytes on every host) the cache root, the spec folder and the home directory become <cache>,
        <spec> and ~, and a temporary folder's random name a fixed one."""
        return redact_paths(text, {"<cache>": self.cache.root, "<spec>": self.spec.base_dir, "~": Path.home()})


def redact_paths(text: str, places: dict[str, Path]) -> str:
    import re
    import tempfile

    spelled = {}
    for placeholder, path in places.items():
        for form in {str(path), str(Path(path).resolve())}:
            if len(form) > 1 and form.startswith("/"):  # "/" or a relative path would eat everything
                spelled[form.rstrip("/")] = placeholder
    spelled.setdefault(str(Path(tempfile.gettempdir()).resolve()), "<tmp>")
    for form in sorted(spelled, key=len, reverse=True):  # the most specific first: a cache under ~
        text = re.sub(re.escape(form) + r"(?![\w.-])", spelled[form].replace("\\", r"\\"), text)
    text = re.sub(r"<tmp>/[^/\s'\"]+", "<tmp>/*", text)  # mkdtemp's random folder name
    return re.sub(r"/\.tmp-[A-Za-z0-9_]+", "/.tmp-*", text)  # the cache's own staging folders


def library_versions(*names: str) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def onnx_transform(ctx: PassContext, name: str, candidate: str, precision: str, source: Artifact,
                   config: dict, fn: Callable[[Path, Path], dict], libs: tuple[str, ...]) -> Artifact:
    """Run an ONNX -> ONNX pass through the cache: fn(src, dst) writes dst and returns meta."""
    from compiler.errors import DeploycError, PassError
    from compiler.digest import sha256_file

    def produce(folder: Path) -> dict:
        try:
            return fn(source.path, folder / "model.onnx")
        except DeploycError:
            raise
        except Exception as exc:  # the library's own failure: name the pass and the candidate
            raise PassError(name, f"{candidate} from {source.candidate}: {type(exc).__name__}: {exc}") from None

    key = ctx.cache.key(name, config, {"model": source.sha256}, library_versions(*libs))
    with ctx.timed(f"{name} ({candidate})") as event:
        entry = ctx.cache.get_or_run(key, produce)
        event.cached = entry.hit
    path = entry.file("model.onnx")
    return Artifact(candidate, "onnx", precision, path, sha256_file(path), source.produced_by + (name,))
