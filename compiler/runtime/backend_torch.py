"""torch backend: an AOTInductor package (.pt2) loaded with torch._inductor.aoti_load_package."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .backend import BackendError, blames_values
from .config import RuntimeConfig
from .errors import BadValues


class TorchBackend:
    def __init__(self, torch, model, device: str, output_names: list[str]) -> None:
        self.torch = torch
        self.model = model
        self.device = device
        self.output_names = output_names  # positional outputs, in runtime.json order
        self.lock = threading.Lock()

    def run(self, inputs: dict[str, np.ndarray], outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        torch = self.torch
        args = [torch.from_numpy(np.array(a, copy=True)).to(self.device) for a in inputs.values()]
        with self.lock, torch.inference_mode():
            try:
                got = self.model(*args)
            except RuntimeError as exc:
                # Inductor's bounds checks raise "index out of bounds: 0 <= tmp7 < 100"; the
                # rest of the message is a C++ stack. A CUDA device assert stays a server error:
                # it leaves the CUDA context unusable.
                reason = str(exc).strip().split("\n", 1)[0]
                if blames_values(reason):
                    raise BadValues(reason) from exc
                raise
        if isinstance(got, torch.Tensor):
            got = [got]
        by_name = dict(zip(self.output_names, got))
        return {n: by_name[n].detach().cpu().numpy() for n in outputs}


def _device(torch, config: RuntimeConfig) -> str:
    # The package was compiled for one device; runtime.json's providers say which (GPU targets list CUDA).
    wants_gpu = any("CUDA" in p or "Tensorrt" in p for p in config.providers)
    if wants_gpu and not torch.cuda.is_available():
        raise BackendError("runtime.json asks for a GPU, but torch sees no CUDA device")
    return "cuda" if wants_gpu else "cpu"


def load(config: RuntimeConfig, path: Path) -> TorchBackend:
    try:
        import torch
        from torch._inductor import aoti_load_package
    except ImportError as exc:
        raise BackendError("backend torch needs the torch package") from exc
    torch.set_num_threads(max(1, config.threads))
    device = _device(torch, config)
    try:
        model = aoti_load_package(str(path))
    except Exception as exc:  # torch raises RuntimeError, ValueError or zipfile errors here
        raise BackendError(f"torch could not load the AOTInductor package {path.name}: {exc}") from exc
    return TorchBackend(torch, model, device, [t.name for t in config.outputs])
