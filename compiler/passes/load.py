"""Load the user's model: a PyTorch module from a factory plus weights, or an ONNX file.

Weights load with `weights_only=True` (or safetensors); a mismatch with the module names the
missing and unexpected keys. The model digest (factory source + weights bytes) keys the cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from compiler.errors import PassError, SpecError, SpecIssue
from compiler.frontend.spec import Spec


class LoadedModel:
    """The user's model, built only when a pass needs it: a warm rebuild whose every pass is
    cached never constructs the module (nor imports torch). The digest needs only file bytes."""

    def __init__(self, digest: str, onnx_path: Path | None = None, build: Callable[[], Any] | None = None,
                 module: Any = None):
        self.digest, self.onnx_path = digest, onnx_path
        self._build, self._module = build, module

    @property
    def module(self):  # torch.nn.Module in eval mode, or None for an ONNX source
        if self._module is None and self._build is not None:
            self._module = self._build()
        return self._module


def load_factory(spec: Spec, ref: str, key: str) -> Callable:
    """`path/to/file.py:function` relative to the spec folder, or `package.module:function`."""
    target, func_name = ref.rsplit(":", 1)
    module = _import_file(spec.resolve_path(target), key) if target.endswith(".py") else _import_module(target, key)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise SpecError(SpecIssue(key, f"'{func_name}' is not a function in {target}"))
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
    except Exception as exc:  # the user's code: any failure is theirs to see
        raise SpecError(SpecIssue(key, f"importing {path.name} failed: {type(exc).__name__}: {exc}")) from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def _import_module(name: str, key: str):
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise SpecError(SpecIssue(key, f"cannot import {name}: {type(exc).__name__}: {exc}")) from None


def call_factory(func: Callable, key: str, *args):
    try:
        return func(*args)
    except Exception as exc:
        raise SpecError(SpecIssue(key, f"the factory raised {type(exc).__name__}: {exc}")) from None


def _digest(paths: list[Path], extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def load_model(spec: Spec) -> LoadedModel:
    m = spec.model
    if m.source == "onnx":
        path = spec.resolve_path(m.onnx)
        if not path.is_file():
            raise SpecError(SpecIssue("model.onnx", f"ONNX file not found: {m.onnx}"))
        return LoadedModel(_digest([path], "onnx"), onnx_path=path)
    target = m.factory.rsplit(":", 1)[0]
    files = [spec.resolve_path(target)] if target.endswith(".py") else []
    if files and not files[0].is_file():
        raise SpecError(SpecIssue("model.factory", f"factory file not found: {target}"))
    if m.weights:
        files.append(spec.resolve_path(m.weights))
        if not files[-1].is_file():
            raise SpecError(SpecIssue("model.weights", f"weights file not found: {m.weights}"))
    return LoadedModel(_digest(files, m.factory), build=lambda: _build_module(spec))


def _build_module(spec: Spec):
    import torch

    m = spec.model
    module = call_factory(load_factory(spec, m.factory, "model.factory"), "model.factory")
    if not isinstance(module, torch.nn.Module):
        raise SpecError(SpecIssue("model.factory", f"returned {type(module).__name__}, not a torch.nn.Module"))
    if m.weights:
        _load_weights(module, spec.resolve_path(m.weights))
    return module.eval()


def _load_weights(module, path: Path) -> None:
    import torch

    if not path.is_file():
        raise SpecError(SpecIssue("model.weights", f"weights file not found: {path.name}"))
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SpecError(SpecIssue("model.weights", f"cannot read {path.name}: {type(exc).__name__}: {exc}")) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    result = module.load_state_dict(state, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f"missing keys: {', '.join(result.missing_keys[:8])}")
    if result.unexpected_keys:
        problems.append(f"unexpected keys: {', '.join(result.unexpected_keys[:8])}")
    if problems:
        raise SpecError(SpecIssue("model.weights", f"{path.name} does not match the module ({'; '.join(problems)})"))


def reference_outputs(loaded: LoadedModel, inputs: dict, spec: Spec) -> list:
    """Outputs of the original model: torch eager, or the source ONNX through onnxruntime."""
    if loaded.onnx_path is not None:
        from compiler.passes.runners import run_chunked, runner_for

        return run_chunked(runner_for("onnx", loaded.onnx_path, spec.serve.threads), inputs)
    import numpy as np
    import torch

    try:
        with torch.no_grad():
            out = loaded.module(*[torch.from_numpy(inputs[t.name]) for t in spec.model.inputs])
    except Exception as exc:
        raise PassError("load", f"the model failed on the signature's inputs: {type(exc).__name__}: {exc}") from None
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [np.asarray(o.detach().numpy()) for o in outs]
