"""The TorchScript ONNX exporter: the fallback for models the dynamo exporter fixes a dim of.

The dynamo exporter turns `nn.GRU`/`nn.LSTM` into an ONNX recurrent op whose output it declares
with the traced sequence length, although torch.export kept that dim symbolic. The TorchScript
exporter (`dynamo=False`, `dynamic_axes`) keeps a dynamic ONNX GRU that matches torch to 2e-7.
A trace can bake a size into the graph, so the export is then run at other sizes than the
traced ones and compared with torch: a model that only works at the traced shape fails here.
"""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from compiler.errors import PassError
from compiler.frontend.spec import Spec

NAME = "onnx-export"
PROBE_RTOL, PROBE_ATOL = 1e-3, 1e-4


def export_torchscript(module, spec: Spec, args: tuple, out: Path) -> None:
    import torch

    inputs, outputs = spec.model.inputs, spec.model.outputs
    axes = {t.name: dict(t.dynamic_dims) for t in inputs + outputs if t.dynamic_dims}
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's deprecation notice; its errors still raise
            torch.onnx.export(module, args, str(out), dynamo=False, opset_version=spec.optimize.opset,
                              input_names=[t.name for t in inputs], output_names=[t.name for t in outputs],
                              dynamic_axes=axes, do_constant_folding=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PassError(NAME, f"torch.onnx.export (torchscript) failed: {type(exc).__name__}: {first}") from None


def probe_dynamic(module, spec: Spec, path: Path, example_batch: int, example_dim: int) -> None:
    """Run the export at a batch and dims other than the traced ones; it must match torch."""
    import onnxruntime as ort
    import torch

    batch, dim = example_batch + 1, max(2, example_dim // 2 + 1)
    rng = np.random.default_rng(spec.model.seed)
    feeds = {t.name: _random(t, t.concrete(batch, {d: dim for d in t.dynamic_dims.values()}), rng)
             for t in spec.model.inputs}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    try:
        got = session.run(None, feeds)
    except Exception as exc:
        raise PassError(NAME, f"the torchscript export fails at batch {batch}, other dims {dim} "
                              f"(traced at {example_batch}, {example_dim}): {type(exc).__name__}: {exc}") from None
    with torch.no_grad():
        want = module(*[torch.from_numpy(feeds[t.name]) for t in spec.model.inputs])
    want = want if isinstance(want, (tuple, list)) else [want]
    for t, g, w in zip(spec.model.outputs, got, want):
        w = w.detach().numpy()
        if g.shape != w.shape or not np.allclose(g, w, rtol=PROBE_RTOL, atol=PROBE_ATOL):
            err = float(np.abs(g - w).max()) if g.shape == w.shape else f"shape {list(g.shape)} vs {list(w.shape)}"
            raise PassError(NAME, f"the torchscript export differs from torch at batch {batch}, other dims {dim} "
                                  f"(output '{t.name}': {err}): the trace baked a size into the graph")


def _random(t, shape, rng) -> np.ndarray:
    low, high = t.range or ((0, 100) if "int" in t.dtype else (-1.0, 1.0))
    if "int" in t.dtype:
        return rng.integers(int(low), int(high) + 1, size=shape).astype(t.dtype)
    if t.dtype == "bool":
        return rng.random(shape) > 0.5
    return rng.uniform(low, high, size=shape).astype(t.dtype)
