"""What the model really is, as one digest: it keys every pass result made from the model.

The spec names a factory and perhaps a weights file, but a factory may read anything (a Hugging
Face folder, a config, a sibling module). A digest of the names the spec writes let a rebuild
ship a stale model after such a file changed. So the digest covers what was loaded:
- every parameter and buffer of the built module (persistent or not): names, dtypes, shapes, bytes;
- its architecture (`repr`, which shows each layer's hyper-parameters);
- every submodule's plain Python attributes (`self.scale = float(os.environ[...])` changes what
  `forward` computes without being a tensor, a file or a line of code): see `attributes_digest`;
- the source of every class in the module tree, of the factory, and of user modules the factory
  imported (code changes what `forward` computes without changing a tensor);
- every file the factory opened through Python (`open`/`io.open_code` audit events) outside the
  Python installation: configs and such that decide behaviour without being a tensor.
Files read by native code (safetensors, tokenizers) are not seen by the audit hook; their tensors
are covered by the first item. Contents are hashed, never paths: one model in two folders is
one model.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
import sys
import sysconfig
import threading
from contextlib import contextmanager
from pathlib import Path

from compiler.digest import sha256_file

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
    if p.parent.suffix in (".dist-info", ".egg-info"):  # package metadata (entry points looked up on a
        return None  # first import): read by the first build of a process only, it made its digest differ
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
    h.update(attributes_digest(module).encode())
    files = set(factory_files) | _class_sources(module) | _module_sources(seen["modules"], roots)
    files |= {p for p in (_user_file(f, roots) for f in seen["files"]) if p is not None}
    for digest in sorted(sha256_file(p) for p in files):
        h.update(digest.encode())
    return h.hexdigest()


# torch's own bookkeeping on every module: tensors and children are hashed above, by name.
_TORCH_SLOTS = ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "training")
_MAX_DEPTH = 6  # nested plain objects (a config holding a config ...): deep enough, never unbounded


def attributes_digest(module) -> str:
    """sha256 of every submodule's plain attributes (vars() minus torch's slots), each made a text
    that is the same in every process: no id()-based reprs, sets sorted, existing paths not spelled
    (one model in two folders is one model). Hooks count by the functions they call."""
    h = hashlib.sha256()
    for name, sub in module.named_modules(remove_duplicate=False):
        for key in sorted(k for k in vars(sub) if k not in _TORCH_SLOTS):
            value = vars(sub)[key]
            if "hooks" in key and isinstance(value, dict):
                value = list(value.values())  # keys are process-wide handle counters
            h.update(f"{name}\0{key}\0{_stable(value, 0, set())}\0".encode())
    return h.hexdigest()


def _stable(value, depth: int, seen: set) -> str:
    import numpy as np
    import torch

    if value is None or isinstance(value, (bool, int, float, complex, bytes)):
        return repr(value)
    if isinstance(value, str):
        return _path_free(value)
    if isinstance(value, Path):
        return "Path:" + _path_free(str(value))
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if isinstance(value, (torch.Tensor, np.ndarray)):  # a tensor kept as a plain attribute, not a buffer
        t = value.detach() if isinstance(value, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(value))
        return f"{kind}({t.dtype},{tuple(t.shape)},{hashlib.sha256(_tensor_bytes(t)).hexdigest()})"
    if isinstance(value, (torch.dtype, torch.device, torch.Size)):
        return f"{kind}({value})"
    if isinstance(value, torch.nn.Module):  # a module kept aside: its type (its tensors are not ours to walk)
        return f"module {kind}"
    if id(value) in seen or depth > _MAX_DEPTH:
        return f"{kind}(...)"
    seen = seen | {id(value)}
    if isinstance(value, (list, tuple)):
        return f"{kind}[" + ",".join(_stable(v, depth + 1, seen) for v in value) + "]"
    if isinstance(value, (set, frozenset)):
        return f"{kind}{{" + ",".join(sorted(_stable(v, depth + 1, seen) for v in value)) + "}"
    if isinstance(value, dict):
        items = sorted((_stable(k, depth + 1, seen), _stable(v, depth + 1, seen)) for k, v in value.items())
        return f"{kind}{{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(value, functools.partial):
        return f"partial({_stable(value.func, depth + 1, seen)},{_stable(value.args, depth + 1, seen)}," \
               f"{_stable(value.keywords, depth + 1, seen)})"
    if callable(value) and hasattr(value, "__qualname__"):  # a function or class: by name (its source is hashed)
        return f"callable {getattr(value, '__module__', '')}.{value.__qualname__}"
    if hasattr(value, "__dict__"):  # a plain object (a config): by its own attributes
        return f"{kind}(" + _stable(vars(value), depth + 1, seen) + ")"
    return f"{kind}:" + _path_free(re.sub(r"0x[0-9a-fA-F]+", "0x", repr(value)))


def _path_free(text: str) -> str:
    """An absolute path to something that exists names a folder, not the model: its contents count
    where the factory read them, the folder's name must not."""
    try:
        return "<path>" if text.startswith("/") and len(text) < 4096 and Path(text).exists() else text
    except (OSError, ValueError):  # not a path after all (a NUL byte, a name too long)
        return text


def files_digest(paths: list[Path], extra: str) -> str:
    """For an ONNX source: the model file and the external data files it names."""
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(sha256_file(p).encode())
    return h.hexdigest()
