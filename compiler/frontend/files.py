"""The files a spec names (factory, weights, onnx, calibration, evaluation): where and what they are.

Rule: a path in a spec resolves, after following symlinks, inside the spec's own folder. A spec
is reviewed and built like code, and a path such as `../../home/ci/.ssh/id_rsa` or `/etc/shadow`
given as data must not be read (its bytes would be hashed into the lock and, as calibration
data, shape the model). A folder outside is allowed only when the person running deployc says
so: `--allow-path DIR` on the command line (repeatable), which sets DEPLOYC_ALLOW_PATHS (folders
separated by os.pathsep) so that sweep jobs in other processes see the same permission. A spec
cannot grant itself that permission.

Each file is then checked for its kind from its first bytes only (no torch, no model load), so
a folder, a text file given as weights or a .npz that is not one is a spec error naming the key.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Iterator

from compiler.errors import DeploycError, SpecIssue
from compiler.frontend.spec import Spec
from compiler.resources import registry_downloads
from compiler.report_model import read_report

ALLOW_ENV = "DEPLOYC_ALLOW_PATHS"
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
_PICKLE_PROTOCOL = 0x80  # first byte of torch.save's legacy (non-zip) format


def allowed_roots(base_dir: Path) -> list[Path]:
    extra = [Path(p).expanduser().resolve() for p in os.environ.get(ALLOW_ENV, "").split(os.pathsep) if p]
    # Model versions deployc downloaded from a registry (model.source mlflow) sit in its cache.
    return [base_dir.resolve(), *extra, registry_downloads().resolve()]


def named_files(spec: Spec) -> Iterator[tuple[str, str, str]]:
    """(key path, path as written, kind) of every file the spec names."""
    m = spec.model
    if m.factory and m.factory.rsplit(":", 1)[0].endswith(".py"):  # else `package.module:func`
        yield "model.factory", m.factory.rsplit(":", 1)[0], "python"
    if m.weights:
        yield "model.weights", m.weights, "weights"
    if m.onnx:
        yield "model.onnx", m.onnx, "onnx"
    for key in ("calibration", "evaluation"):
        source = getattr(m, key)
        if source is not None and source.npz:
            yield f"model.{key}.npz", source.npz, "npz"
        if source is not None and source.factory and source.factory.rsplit(":", 1)[0].endswith(".py"):
            yield f"model.{key}.factory", source.factory.rsplit(":", 1)[0], "python"
    if spec.rollout.strategy == "experiment" and spec.rollout.experiment.control.report:
        yield "rollout.experiment.control.report", spec.rollout.experiment.control.report, "report"
    yield from _distill_files(spec)


def _distill_files(spec: Spec) -> Iterator[tuple[str, str, str]]:
    d = spec.optimize.distill
    if d is None:
        return
    if d.student and d.student.rsplit(":", 1)[0].endswith(".py"):
        yield "optimize.distill.student", d.student.rsplit(":", 1)[0], "python"
    if d.data is not None and d.data.npz:
        yield "optimize.distill.data.npz", d.data.npz, "npz"
    if d.data is not None and d.data.factory and d.data.factory.rsplit(":", 1)[0].endswith(".py"):
        yield "optimize.distill.data.factory", d.data.factory.rsplit(":", 1)[0], "python"


def check(spec: Spec) -> list[SpecIssue]:
    roots = allowed_roots(spec.base_dir)
    issues = []
    for key, written, kind in named_files(spec):
        problem = _where(spec.resolve_path(written), written, roots) or _kind(spec.resolve_path(written), kind)
        if problem:
            issues.append(SpecIssue(key, problem))
    return issues


def _where(path: Path, written: str, roots: list[Path]) -> str | None:
    if not any(path.is_relative_to(root) for root in roots):
        return (f"{written!r} is outside the spec's folder (resolved: {path}); a spec may only name files in "
                f"its own folder, unless deployc is run with --allow-path DIR (or {ALLOW_ENV}) for that folder")
    if not path.exists():
        return f"file not found: {written!r} (looked in {path.parent})"
    if not path.is_file():
        return f"{written!r} is not a regular file"
    return None


def _kind(path: Path, kind: str) -> str | None:
    if kind == "python" and path.suffix != ".py":
        return f"{path.name} is not a Python file (.py)"
    if kind == "onnx" and path.suffix != ".onnx":
        return f"{path.name} is not an ONNX model (.onnx)"
    if kind == "weights":
        return _weights_kind(path)
    if kind == "report":
        return _report_kind(path)
    if kind == "npz" and (path.suffix != ".npz" or not zipfile.is_zipfile(path)):
        return f"{path.name} is not a .npz archive (numpy.savez writes one)"
    return None


def _weights_kind(path: Path) -> str | None:
    if path.suffix not in WEIGHT_SUFFIXES:
        return (f"{path.name}: weights are a safetensors file (.safetensors) or a torch state dict "
                f"({', '.join(WEIGHT_SUFFIXES[1:])})")
    with open(path, "rb") as fh:
        head = fh.read(9)
    if path.suffix == ".safetensors":
        # 8 bytes little-endian header length, then the JSON header.
        size = int.from_bytes(head[:8], "little") if len(head) == 9 else 0
        ok = 2 <= size <= path.stat().st_size - 8 and head[8:9] == b"{"
    else:
        ok = zipfile.is_zipfile(path) or head[:1] == bytes([_PICKLE_PROTOCOL])
    return None if ok else f"{path.name} is not a {'safetensors' if path.suffix == '.safetensors' else 'torch.save'} file"


def _report_kind(path: Path) -> str | None:
    """Variant A's report.json, which the report shows beside this build's model."""
    try:
        read_report(path)
    except (OSError, ValueError, DeploycError) as exc:
        return f"{path.name} is not a deployc report.json: {exc}"
    return None
