"""Run an artifact on the build host: one callable per format, inputs by name -> outputs in order.

Every runner uses the same thread count as the server will (serve.threads), so latency
measured here is the latency the runtime sees per batch.
"""

from __future__ import annotations

import importlib

from pathlib import Path
from typing import Callable

import numpy as np

from compiler.errors import PassError
from compiler.runtime.backend_onnx import CPU_DISABLED_OPTIMIZERS

Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]
Factory = Callable[[Path, int], Runner]
_FORMATS: dict[str, Factory] = {}


def register(fmt: str, factory: Factory) -> None:
    """Explicit, once per format (the lines at the bottom): a second one for a format is a bug."""
    if fmt in _FORMATS:
        raise ValueError(f"a runner for format {fmt!r} is already registered")
    _FORMATS[fmt] = factory


def runner_for(fmt: str, path: Path, threads: int) -> Runner:
    if fmt not in _FORMATS:
        raise PassError("verify", f"no runner for artifact format {fmt!r} (registered: {', '.join(sorted(_FORMATS))})")
    return _FORMATS[fmt](path, threads)


def _onnx(path: Path, threads: int) -> Runner:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(CPU_DISABLED_OPTIMIZERS))
    return lambda inputs: sess.run(None, inputs)


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


def package_device(package) -> str:
    """The device a loaded `.pt2` was compiled for (AOTInductor records it in the package)."""
    meta = package.get_metadata() if hasattr(package, "get_metadata") else {}
    return meta.get("AOTI_DEVICE_KEY", "cpu")


def pt2_runner(path: Path, threads: int) -> Runner:
    """Runs a `.pt2` on the device it was compiled for: numpy in, numpy out (host copies included).

    CPU tensors alone would not do: a CUDA package cannot take them, so this moves inputs to the
    package's device and outputs back. It lives here, not in aoti.py, so that loading and verifying
    (which run artifacts) need not import the compile pass (no import cycle).
    """
    import torch

    torch.set_num_threads(max(threads, 1))
    package = torch._inductor.aoti_load_package(str(path))
    device = package_device(package)

    def run(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            # np.array(order="C") gives canonical strides: AOTInductor kernels index with the strides
            # seen at export, and a numpy view such as x[:, None] is "contiguous" with odd strides.
            out = package(*[torch.from_numpy(np.array(v, order="C")).to(device) for v in inputs.values()])
        return [o.cpu().numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]
    return run


def _by_name(target: str) -> Factory:
    """A runner that lives in its pass's module, named as "module:function" and imported when an
    artifact of its format first runs (ai-edge-litert, tensorrt are heavy or absent). By name, as
    the emitter registry does: the passes import this module, not the other way round."""
    def factory(path: Path, threads: int) -> Runner:
        module, func = target.split(":")
        return getattr(importlib.import_module(module), func)(path, threads)
    return factory


register("onnx", _onnx)
register("pt2", pt2_runner)
register("tflite", _by_name("compiler.passes.tflite:tflite_runner"))
register("trt", _by_name("compiler.passes.tensorrt_engine:trt_runner"))
