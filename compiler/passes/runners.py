"""Run an artifact on the build host: one callable per format, inputs by name -> outputs in order.

Every runner uses the same thread count as the server will (serve.threads), so latency
measured here is the latency the runtime sees per batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]
_FORMATS: dict[str, Callable[[Path, int], Runner]] = {}


def register(fmt: str):
    def wrap(factory):
        _FORMATS[fmt] = factory
        return factory
    return wrap


def runner_for(fmt: str, path: Path, threads: int) -> Runner:
    return _FORMATS[fmt](path, threads)


@register("onnx")
def _onnx(path: Path, threads: int) -> Runner:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return lambda inputs: sess.run(None, inputs)


@register("pt2")
def _pt2(path: Path, threads: int) -> Runner:
    from compiler.passes.aoti import pt2_runner  # runs on the device the package was compiled for

    return pt2_runner(path, threads)


def eager_runner(module, threads: int) -> Runner:
    import torch

    torch.set_num_threads(max(threads, 1))

    def run(inputs):
        with torch.no_grad():
            out = module(*[torch.from_numpy(np.ascontiguousarray(v)) for v in inputs.values()])
        return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]
    return run


def run_chunked(runner: Runner, inputs: dict[str, np.ndarray], batch: int = 64) -> list[np.ndarray]:
    n = len(next(iter(inputs.values())))
    chunks = [runner({k: v[i:i + batch] for k, v in inputs.items()}) for i in range(0, n, batch)]
    return [np.concatenate([c[j] for c in chunks]) for j in range(len(chunks[0]))]
