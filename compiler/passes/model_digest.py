"""What the model really is, as one digest: it keys every pass result made from the model.

The spec names a factory and perhaps a weights file, but a factory may read anything (a Hugging
Face folder, a config, a sibling module). A digest of the names the spec writes let a rebuild
ship a stale model after such a file changed. So the digest covers what was loaded:
- every parameter and buffer of the built module (persistent or not): names, dtypes, shapes, bytes;
- its architecture (`repr`, which shows each layer's hyper-parameters);
- the source of every class in the module tree, of the factory, and of user modules the factory
  imported (code changes what `forward` computes without changing a tensor);
- every file the factory opened through Python (`open`/`io.open_code` audit events) outside the
  Python installation: configs and such that decide behaviour without being a tensor.
Files read by native code (safetensors, tokenizers) are not seen by the audit hook; their tensors
are covered by the first item. Contents are hashed, never paths: one model in two folders is
one model.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import sys
import sysconfig
import threading
from contextlib import contextmanager
from pathlib import Path

_recording = threading.local()
_hook_installed = False
_SKIP_PREFIXES = ("/proc/", "/sys/", "/dev/")  # pseudo-files: content changes from read to read


def _audit(event: str, args: tuple) -> None:
    if event != "open":
        return
    files = getattr(_recording, "files", None)
    if files is not None and isinstance(args[0], (str, bytes)) and args[0]:
        files.add(args[0].decode() if isinstance(args[0], bytes) else args[0])


@contextmanager
def recording_reads():
    """Collect the files this thread opens, and the modules it imports, while the body runs."""
    global _hook_installed
    if not _hook_installed:  # audit hooks cannot be removed: install one, switch it per thread
        sys.addaudithook(_audit)
        _hook_installed = True
    seen = {"files": set(), "modules": set()}
    before = set(sys.modules)
    _recording.files = seen["files"]
    try:
        yield seen
    finally:
        _recording.files = None
        seen["modules"] = set(sys.modules) - before


def _installation_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             *(paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths)}
    roots.add(str(Path(__file__).resolve().parents[1]))  # deployc itself (warnings read its source)
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    return tuple(str(Path(r).resolve()) + "/" for r in roots if r) + ((str(Path(main).resolve()),) if main else ())


def _user_file(path: str, roots: tuple[str, ...]) -> Path | None:
    try:
        p = Path(path).resolve()
    except (OSError, RuntimeError):
        return None
    text = str(p)
    if text.startswith(_SKIP_PREFIXES) or text.startswith(roots) or p.suffix == ".pyc" or not p.is_file():
        return None
    return p


def _class_sources(module) -> set[Path]:
    out = set()
    for sub in module.modules():
        try:
            out.add(Path(inspect.getsourcefile(type(sub))).resolve())
        except (TypeError, OSError):  # a class defined in C or interactively: nothing to read
            pass
    return out


def _module_sources(names: set[str], roots: tuple[str, ...]) -> set[Path]:
    out = set()
    for name in names:
        path = getattr(sys.modules.get(name), "__file__", None)
        user = _user_file(path, roots) if path else None
        if user is not None:
            out.add(user)
    return out


def _tensor_bytes(tensor):
    t = tensor.detach()
    if t.is_quantized:
        t = t.int_repr()
    return t.cpu().contiguous().reshape(-1).view(__import__("torch").uint8).numpy()


def module_digest(module, factory: str, factory_files: list[Path], seen: dict) -> str:
    """sha256 of the module's tensors, architecture, code and the files it was built from."""
    h = hashlib.sha256(f"pytorch\0{factory}\0".encode())
    tensors = [("p", n, t) for n, t in module.named_parameters(remove_duplicate=False)]
    tensors += [("b", n, t) for n, t in module.named_buffers(remove_duplicate=False)]
    for kind, name, t in sorted(tensors, key=lambda x: (x[0], x[1])):
        h.update(f"{kind}\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(_tensor_bytes(t))
    h.update(re.sub(r"0x[0-9a-fA-F]+", "0x", repr(module)).encode())
    roots = _installation_roots()
    files = set(factory_files) | _class_sources(module) | _module_sources(seen["modules"], roots)
    files |= {p for p in (_user_file(f, roots) for f in seen["files"]) if p is not None}
    for digest in sorted(_file_digest(p) for p in files):
        h.update(digest.encode())
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def files_digest(paths: list[Path], extra: str) -> str:
    """For an ONNX source: the model file and the external data files it names."""
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(_file_digest(p).encode())
    return h.hexdigest()
