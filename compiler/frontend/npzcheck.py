"""Calibration and evaluation .npz files against the signature, from their array headers only.

numpy's .npy header holds the shape and dtype; reading it costs a few hundred bytes per array, so
a shape that can never fit (a wrong input name, a fixed dim that differs, calibration rows that
cannot match the edge target's fixed shapes) is a spec error before any pass runs, instead of a
pass failure after a conversion.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from compiler.errors import SpecIssue
from compiler.frontend.spec import Spec, TensorSpec


class NotAnNpz(ValueError):
    pass


def array_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{name: (shape, dtype)} of every array in the archive, without reading the data."""
    out = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise NotAnNpz(f"member {info.filename!r} is not a .npy array")
                with archive.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(fh)
                out[info.filename[:-4]] = (tuple(shape), dtype)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise NotAnNpz(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from None
    return out


def check(spec: Spec) -> list[SpecIssue]:
    issues = []
    for key in ("calibration", "evaluation"):
        source = getattr(spec.model, key)
        if source is None or not source.npz:
            continue
        path = f"model.{key}"
        try:
            headers = array_headers(spec.resolve_path(source.npz))
        except NotAnNpz as exc:
            issues.append(SpecIssue(f"{path}.npz", f"{source.npz} is not a readable .npz of arrays: {exc}"))
            continue
        issues += _signature_issues(spec, path, headers)
        if not issues and key == "calibration" and _edge_static(spec):
            issues += _edge_issues(spec, headers, source.samples)
    return issues


def _signature_issues(spec: Spec, path: str, headers: dict) -> list[SpecIssue]:
    names = sorted(t.name for t in spec.model.inputs)
    arrays = {k: v for k, v in headers.items() if k != "labels"}
    if sorted(arrays) != names:
        return [SpecIssue(path, f"has arrays {sorted(arrays)}, the signature's inputs are {names}")]
    issues, sizes = [], set()
    for t in spec.model.inputs:
        shape, dtype = arrays[t.name]
        if dtype.hasobject:
            issues.append(SpecIssue(path, f"input '{t.name}' holds Python objects (pickled); deployc loads plain arrays"))
        elif len(shape) != len(t.shape) or any(isinstance(d, int) and d != s for d, s in zip(t.shape, shape)):
            issues.append(SpecIssue(path, f"input '{t.name}' has shape {list(shape)}, the signature says "
                                          f"{list(t.shape)} (dim 0 is the sample axis)"))
        sizes.add(shape[0] if shape else None)
    if "labels" in headers and len(sizes) == 1:
        labels = headers["labels"][0]
        if not labels or labels[0] not in sizes:
            issues.append(SpecIssue(path, f"labels has shape {list(labels)} for {sizes.pop()} samples"))
    if len(sizes) > 1:
        issues.append(SpecIssue(path, f"the inputs have different sample counts: {sorted(map(str, sizes))}"))
    return issues


def _edge_static(spec: Spec) -> bool:
    """Calibration rows feed TFLite's static int8 quantizer, at the edge target's fixed shapes."""
    t, o = spec.target, spec.optimize
    return t.is_edge and "tflite" in t.passes and "int8" in t.precisions and "int8-static" in o.quantize


def fixed(t: TensorSpec, spec: Spec) -> tuple | None:
    """The shape TFLite converts at (dim 0 excluded), or None when a dim is not fixed (rules_early)."""
    dims = spec.optimize.edge.fixed_dims
    out = []
    for d in t.shape[1:]:
        if isinstance(d, str) and d not in dims:
            return None
        out.append(dims[d] if isinstance(d, str) else d)
    return tuple(out)


def _edge_issues(spec: Spec, headers: dict, samples: int) -> list[SpecIssue]:
    issues = []
    for t in spec.model.inputs:
        want, got = fixed(t, spec), headers[t.name][0]
        if want is not None and tuple(got[1:]) != want:
            issues.append(SpecIssue("model.calibration", f"input '{t.name}' rows have shape {list(got[1:])}; the "
                                    f"edge model is fixed at {list(want)} by optimize.edge.fixed_dims "
                                    f"{dict(spec.optimize.edge.fixed_dims)}: make the two agree"))
    batch = spec.optimize.edge.batch_size
    rows = min(samples, headers[spec.model.inputs[0].name][0][0])
    if not issues and isinstance(batch, int) and rows < batch:
        issues.append(SpecIssue("model.calibration", f"{rows} samples, fewer than one batch of {batch} "
                                                     "(optimize.edge.batch_size)"))
    return issues
