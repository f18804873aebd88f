"""TFLite candidates for edge targets: litert-torch converts the PyTorch module at fixed shapes,
ai-edge-quantizer derives fp16 and int8 variants (tflite_quantize.py), ai-edge-litert runs them.

TFLite has fixed shapes (docs/architecture.md): the batch comes from optimize.edge.batch_size and every
other symbolic dim from optimize.edge.fixed_dims. The module is wrapped so the signature's
inputs and outputs carry the spec's names (litert-torch otherwise says args_0/output_0), and
64-bit inputs stay 64-bit (enable_x64), so the bundle's signature is the spec's signature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compiler.errors import DeploycError, PassError, SpecError, SpecIssue
from compiler.frontend.spec import Spec, TensorSpec
from compiler.passes.base import Artifact, PassContext, library_versions
from compiler.digest import sha256_file
from compiler.passes.load import LoadedModel
from compiler.passes.runners import Runner
from compiler.tflite_signature import SIGNATURE, SignatureDetails, TensorDetail, signature_details  # noqa: F401
from compiler.tflite_signature import quiet as _quiet

NAME = "tflite"
CONVERT_LIBS = ("torch", "litert-torch", "ai-edge-litert")


# ---- fixed shapes ---------------------------------------------------------------------------

def batch_size(spec: Spec) -> int:
    b = spec.optimize.edge.batch_size
    if not isinstance(b, int) or b < 1:  # rules.py rejects a string on edge targets already
        raise SpecError(SpecIssue("optimize.edge.batch_size", f"must be a positive integer for TFLite (got {b!r})"))
    return b


def fixed_shape(t: TensorSpec, spec: Spec, kind: str = "input") -> tuple[int, ...]:
    """The shape TFLite is converted at; a symbolic non-batch dim needs optimize.edge.fixed_dims."""
    fixed = spec.optimize.edge.fixed_dims
    out = []
    for axis, d in enumerate(t.shape):
        if isinstance(d, int):
            out.append(d)
        elif axis == 0:
            out.append(batch_size(spec))
        elif d in fixed:
            out.append(int(fixed[d]))
        else:
            raise SpecError(SpecIssue(f"optimize.edge.fixed_dims.{d}",
                                      f"{kind} '{t.name}' dim {axis} ('{d}') is symbolic and TFLite needs "
                                      f"fixed shapes: set optimize.edge.fixed_dims.{d} to its size on the device"))
    return tuple(out)


def fixed_shapes(spec: Spec) -> dict[str, tuple[int, ...]]:
    return {t.name: fixed_shape(t, spec) for t in spec.model.inputs}


def _describe(spec: Spec, shapes: dict[str, tuple[int, ...]]) -> str:
    """e.g. input_ids[1, 32] (dim 0 'batch' = optimize.edge.batch_size, dim 1 'seq' = optimize.edge.fixed_dims.seq)."""
    parts = []
    for t in spec.model.inputs:
        axes = [f"dim {a} '{d}' = " + ("optimize.edge.batch_size" if a == 0 else f"optimize.edge.fixed_dims.{d}")
                for a, d in t.dynamic_dims.items()]
        parts.append(f"{t.name}{list(shapes[t.name])}" + (f" ({', '.join(axes)})" if axes else ""))
    return "; ".join(parts)


# ---- conversion -----------------------------------------------------------------------------

def convert_step(model: LoadedModel, ctx: PassContext) -> Artifact:
    """The plan's tflite step: the fp32 .tflite every variant starts from."""
    require_edge_toolchain()
    if model.onnx_path is not None:  # not `model.module`: a warm rebuild never builds the module
        raise PassError(NAME, "litert-torch converts PyTorch modules; model.source is onnx")
    return convert(model, fixed_shapes(ctx.spec), ctx)


def convert(model: LoadedModel, shapes: dict[str, tuple[int, ...]], ctx: PassContext) -> Artifact:
    spec = ctx.spec
    config = {"shapes": {k: list(v) for k, v in sorted(shapes.items())}, "x64": True, "signature": SIGNATURE,
              "inputs": [t.__dict__ for t in spec.model.inputs], "outputs": [t.name for t in spec.model.outputs],
              "seed": spec.model.seed}
    key = ctx.cache.key(f"{NAME}-convert", config, {"model": model.digest}, library_versions(*CONVERT_LIBS))
    with ctx.timed(f"{NAME} (tflite-fp32)") as event:
        entry = ctx.cache.get_or_run(key, lambda d: _convert(model, spec, shapes, d / "model.tflite"))
        event.cached = entry.hit
        event.detail = f"fixed shapes {_describe(spec, shapes)}"
    path = entry.file("model.tflite")
    return Artifact("tflite-fp32", "tflite", "fp32", path, sha256_file(path), (f"{NAME}-convert",))


def _convert(model: LoadedModel, spec: Spec, shapes: dict[str, tuple[int, ...]], out: Path) -> dict:
    import torch

    sample = {k: torch.from_numpy(v) for k, v in sample_inputs(spec, shapes).items()}
    wrapped = _named(model.module, [t.name for t in spec.model.outputs]).eval()
    try:
        with torch.no_grad():
            wrapped(**sample)
    except Exception as exc:
        raise PassError(NAME, f"the model fails at the fixed shapes {_describe(spec, shapes)}: "
                              f"{type(exc).__name__}: {_first_line(exc)}") from None
    with _quiet() as log:
        try:
            import litert_torch

            edge = litert_torch.convert(wrapped, sample_kwargs=sample, enable_x64=True)
            edge.export(str(out))
        except Exception as exc:
            raise PassError(NAME, f"litert-torch could not convert at the fixed shapes {_describe(spec, shapes)}: "
                                  f"{type(exc).__name__}: {_first_line(exc) or log()}") from None
    check_signature(out, spec, shapes)
    return {"shapes": {k: list(v) for k, v in sorted(shapes.items())}}


def _named_class():
    import torch

    class Named(torch.nn.Module):
        """Keyword inputs and a dict of outputs: litert-torch names the signature after them."""

        def __init__(self, module, outputs: list[str]):
            super().__init__()
            self.module = module
            self.outputs = outputs

        def forward(self, **inputs):
            out = self.module(*inputs.values())
            outs = out if isinstance(out, (tuple, list)) else (out,)
            if len(outs) != len(self.outputs):
                raise ValueError(f"the model returns {len(outs)} outputs, the signature lists {len(self.outputs)}")
            return dict(zip(self.outputs, outs))
    return Named


def _named(module, outputs: list[str]):
    return _named_class()(module, outputs)


def sample_inputs(spec: Spec, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Seeded example inputs at the fixed shapes, inside each input's declared range."""
    rng = np.random.default_rng(spec.model.seed)
    out = {}
    for t in spec.model.inputs:
        low, high = t.range or ((0, 100) if "int" in t.dtype else (-1.0, 1.0))
        if "int" in t.dtype:
            out[t.name] = rng.integers(int(low), int(high) + 1, size=shapes[t.name]).astype(t.dtype)
        elif t.dtype == "bool":
            out[t.name] = rng.random(shapes[t.name]) > 0.5
        else:
            out[t.name] = rng.uniform(low, high, size=shapes[t.name]).astype(t.dtype)
    return out


def check_signature(path: Path, spec: Spec, shapes: dict[str, tuple[int, ...]]) -> None:
    """The converted signature must have the spec's names, dtypes and the fixed shapes, axis by axis."""
    details = signature_details(path)
    for kind, got, want in (("input", details.inputs, spec.model.inputs), ("output", details.outputs, spec.model.outputs)):
        by_name = {d.name: d for d in got}
        for t in want:
            d = by_name.get(t.name)
            if d is None:
                raise PassError(NAME, f"the TFLite model has no {kind} '{t.name}' (it has {sorted(by_name)})")
            if d.scale is None and d.dtype != t.dtype:
                raise PassError(NAME, f"{kind} '{t.name}' is {d.dtype} in the TFLite model, the signature says {t.dtype}")
            expect = shapes[t.name] if kind == "input" else _expected_output(t, spec)
            _check_axes(kind, t, d.shape, expect)


def _expected_output(t: TensorSpec, spec: Spec) -> tuple[int | None, ...]:
    """None where the output dim is symbolic and not fixed by the spec (the model decides)."""
    fixed = spec.optimize.edge.fixed_dims
    return tuple(d if isinstance(d, int) else batch_size(spec) if a == 0 else fixed.get(d) for a, d in enumerate(t.shape))


def _check_axes(kind: str, t: TensorSpec, got: tuple[int, ...], expect: tuple[int | None, ...]) -> None:
    if len(got) != len(expect):
        raise PassError(NAME, f"{kind} '{t.name}' has rank {len(got)} in the TFLite model, the signature says {list(t.shape)}")
    for axis, (g, e) in enumerate(zip(got, expect)):
        if e is not None and g != e:
            where = f" ('{t.shape[axis]}')" if isinstance(t.shape[axis], str) else ""
            raise PassError(NAME, f"{kind} '{t.name}' dim {axis}{where} is {g} in the TFLite model, expected {e}")


# ---- reading and running a .tflite ----------------------------------------------------------

def tflite_runner(path: Path, threads: int) -> Runner:
    """Any batch: loops fixed-batch invocations, pads the last chunk, (de)quantizes integer I/O."""
    from ai_edge_litert.interpreter import Interpreter

    details = signature_details(path)
    with _quiet():  # the first invoke logs "Created TensorFlow Lite XNNPACK delegate" from C++
        runner = Interpreter(model_path=str(path), num_threads=max(threads, 1)).get_signature_runner(SIGNATURE)
        runner(**{d.name: np.zeros(d.shape, d.dtype) for d in details.inputs})
    batch = details.batch

    def run(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        rows = len(next(iter(inputs.values())))
        for d in details.inputs:
            if d.name not in inputs:
                raise ValueError(f"missing input '{d.name}'")
            if tuple(inputs[d.name].shape[1:]) != d.shape[1:]:
                raise ValueError(f"input '{d.name}' has shape {list(inputs[d.name].shape)}; the TFLite model is "
                                 f"fixed at {list(d.shape)} (dim 0 is run in chunks of {batch})")
        chunks = []
        for start in range(0, rows, batch):
            feed = {d.name: _to_model(_pad(inputs[d.name][start:start + batch], batch), d) for d in details.inputs}
            got = runner(**feed)
            chunks.append([_from_model(np.asarray(got[d.name]), d)[:rows - start] for d in details.outputs])
        return [np.concatenate([c[i] for c in chunks]) for i in range(len(details.outputs))]
    return run


def _pad(arr: np.ndarray, batch: int) -> np.ndarray:
    if len(arr) == batch:
        return arr
    return np.concatenate([arr, np.zeros((batch - len(arr), *arr.shape[1:]), arr.dtype)])


def _to_model(arr: np.ndarray, d: TensorDetail) -> np.ndarray:
    if d.scale is not None:  # integer-only input: quantize as a device app would
        info = np.iinfo(d.dtype)
        arr = np.clip(np.round(arr / d.scale) + d.zero_point, info.min, info.max)
    return np.ascontiguousarray(arr.astype(d.dtype, copy=False))


def _from_model(arr: np.ndarray, d: TensorDetail) -> np.ndarray:
    if d.scale is not None:
        return ((arr.astype(np.float32) - d.zero_point) * d.scale).astype(np.float32)
    return arr


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def require_edge_toolchain() -> None:
    """A clear error (not an ImportError traceback) when the edge extras are not installed."""
    missing = [m for m in ("litert_torch", "ai_edge_quantizer", "ai_edge_litert") if not _importable(m)]
    if missing:
        raise DeploycError(f"edge targets need {', '.join(missing)}: pip install 'deployc[edge]'")


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
