"""Load the user's model: a PyTorch module from a factory plus weights, an ONNX file, or a Hugging
Face folder (passes/source_huggingface.py).

The module is built on every build, cached or not: its digest (compiler/passes/model_digest.py)
keys every pass result, and only the built module says what the model really is (a factory may
read weights the spec does not name). Factory and weights problems are the user's input: a
SpecError naming `model.factory` or `model.weights` (exit 2), never a pass failure.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from compiler.errors import PassError, SpecError, SpecIssue
from compiler.frontend.spec import Spec
from compiler.passes.model_digest import files_digest, module_digest, recording_reads
from compiler.passes.weights import load_weights


class LoadedModel:
    """The user's model: a torch module (eval mode) or an ONNX file, and the digest of what it is.

    `build` (a callable) is kept for callers that construct a module late; load_model builds now."""

    def __init__(self, digest: str | None = None, onnx_path: Path | None = None,
                 build: Callable[[], Any] | None = None, module: Any = None):
        self.onnx_path, self._build, self._module, self._digest = onnx_path, build, module, digest

    @property
    def module(self):  # torch.nn.Module in eval mode, or None for an ONNX source
        if self._module is None and self._build is not None:
            self._module = self._build()
        return self._module

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = module_digest(self.module, "", [], {"files": set(), "modules": set()})
        return self._digest


def load_factory(spec: Spec, ref: str, key: str) -> Callable:
    """`path/to/file.py:function` relative to the spec folder, or `package.module:function`."""
    target, func_name = ref.rsplit(":", 1)
    module = _import_file(spec.resolve_path(target), key) if target.endswith(".py") else _import_module(target, key)
    if not hasattr(module, func_name):
        raise SpecError(SpecIssue(key, f"{target} has no '{func_name}'"))
    func = getattr(module, func_name)
    if not callable(func):
        raise SpecError(SpecIssue(key, f"'{func_name}' in {target} is a {type(func).__name__}, not a function"))
    return func


def _import_file(path: Path, key: str):
    if not path.is_file():
        raise SpecError(SpecIssue(key, f"factory file not found: {path.name}"))
    # Named by content, not location: the name ends up inside converted models (TFLite op
    # names), and the same model must give the same bytes in any folder.
    name = f"deployc_user_{path.stem}_{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # so the factory can import its siblings
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the user's code: any failure is theirs to see
        raise SpecError(SpecIssue(key, f"importing {path.name} failed: {_describe(exc)}")) from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def _import_module(name: str, key: str):
    try:
        return importlib.import_module(name)
    except (Exception, SystemExit) as exc:
        raise SpecError(SpecIssue(key, f"cannot import {name}: {_describe(exc)}")) from None


def call_factory(func: Callable, key: str, *args):
    try:
        return func(*args)
    except (Exception, SystemExit) as exc:  # SystemExit too: a factory must not end the build silently
        name = getattr(func, "__name__", "the factory")
        raise SpecError(SpecIssue(key, f"the factory {name}() raised {_describe(exc)}")) from None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def load_model(spec: Spec) -> LoadedModel:
    m = spec.model
    if m.source == "huggingface":
        from compiler.passes import source_huggingface

        module, digest = source_huggingface.load(spec)
        return LoadedModel(digest, module=module)
    if m.source == "onnx":
        path = spec.resolve_path(m.onnx)
        if not path.is_file():
            raise SpecError(SpecIssue("model.onnx", f"ONNX file not found: {m.onnx}"))
        return LoadedModel(files_digest([path, *_external_data(path)], "onnx"), onnx_path=path)
    target = m.factory.rsplit(":", 1)[0]
    factory_files = [spec.resolve_path(target)] if target.endswith(".py") else []
    if factory_files and not factory_files[0].is_file():
        raise SpecError(SpecIssue("model.factory", f"factory file not found: {target}"))
    if m.weights and not spec.resolve_path(m.weights).is_file():
        raise SpecError(SpecIssue("model.weights", f"weights file not found: {m.weights}"))
    with recording_reads() as seen:
        module = _build_module(spec)
    return LoadedModel(module_digest(module, m.factory, factory_files, seen), module=module)


def _build_module(spec: Spec):
    import torch

    m = spec.model
    module = call_factory(load_factory(spec, m.factory, "model.factory"), "model.factory")
    if not isinstance(module, torch.nn.Module):
        raise SpecError(SpecIssue("model.factory", f"returned {type(module).__name__}, not a torch.nn.Module"))
    if m.weights:
        load_weights(module, spec.resolve_path(m.weights), m.weights)
    return module.eval()


def _external_data(path: Path) -> list[Path]:
    """Files an ONNX model keeps its tensors in (`.onnx.data`): part of what the model is."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise SpecError(SpecIssue("model.onnx", f"cannot read {path.name} as ONNX: {_describe(exc)}")) from None
    names = set()
    for init in proto.graph.initializer:
        names |= {e.value for e in init.external_data if e.key == "location"}
    missing = sorted(n for n in names if not (path.parent / n).is_file())
    if missing:
        raise SpecError(SpecIssue("model.onnx", f"{path.name} keeps tensors in files that are missing: {missing}"))
    return [path.parent / n for n in sorted(names)]


def reference_outputs(loaded: LoadedModel, inputs: dict, spec: Spec, texts: list[str] | None = None) -> list:
    """Outputs of the original model: torch eager, the source ONNX through onnxruntime, or a
    huggingface source through its own library on the texts the inputs were tokenized from."""
    if spec.model.source == "huggingface" and texts is not None:
        from compiler.passes import source_huggingface

        return source_huggingface.reference_outputs(spec, texts, inputs)
    if loaded.onnx_path is not None:
        from compiler.passes.runners import run_chunked, runner_for

        return run_chunked(runner_for("onnx", loaded.onnx_path, spec.serve.threads), inputs)
    import numpy as np
    import torch

    module = loaded.module  # built outside the try: a factory or weights problem is a SpecError
    try:
        with torch.no_grad():
            out = module(*[torch.from_numpy(inputs[t.name]) for t in spec.model.inputs])
    except Exception as exc:
        raise PassError("load", f"the model failed on the signature's inputs: {type(exc).__name__}: {exc}") from None
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [np.asarray(o.detach().numpy()) for o in outs]
