"""The backend contract and the loader that picks one module per backend by name.

Backend libraries are imported lazily, inside the chosen module, so an ONNX image needs
neither torch nor ai_edge_litert.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import RuntimeConfig

MODULES = {"onnxruntime": ".backend_onnx", "litert": ".backend_litert", "torch": ".backend_torch"}
# The model metadata's `platform`, in Triton's vocabulary where it has a word for it.
PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "litert": "tensorflow_lite", "torch": "pytorch_aotinductor",
             "onnxruntime-genai": "onnxruntime_genai"}


class Backend(Protocol):
    def run(self, inputs: dict[str, np.ndarray], outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Run once on whole arrays (dim 0 is the batch when batching); thread-safe for one caller."""
        ...


# A run-time failure blames the request when a value points outside what the model holds (an
# id past an embedding table, a position past a position table). Shape failures do not: the
# request's shapes were checked against the declared ones (dims, shared dim names) before the
# model ran, so a kernel refusing an admitted shape means the model and its spec disagree.
_VALUE_WORDS = re.compile(r"\bindex|\bindices|\bindice\b|out of (data )?bounds|out of range", re.I)
# Words that point at the machine: those stay server errors even when they mention an index.
MACHINE_WORDS = re.compile(r"memory|alloc|cuda|cudnn|cublas|device|delegate|driver", re.I)


def blames_values(message: str) -> bool:
    return bool(_VALUE_WORDS.search(message)) and not MACHINE_WORDS.search(message)


class BackendError(Exception):
    """The model cannot be loaded as configured (message says why)."""


def load_backend(config: RuntimeConfig, model_dir: Path) -> Backend:
    if config.backend not in MODULES:
        raise BackendError(f"backend {config.backend!r} is not one of {sorted(MODULES)}")
    path = model_dir / config.artifact
    if not path.is_file():
        raise BackendError(f"model file {path} does not exist")
    module = importlib.import_module(MODULES[config.backend], __package__)
    return module.load(config, path)


def check_names(kind: str, want: list[str], got: list[str], exact: bool = True) -> None:
    """runtime.json and the artifact must agree on tensor names, or every request would fail.

    Inputs must match exactly (the backend needs them all); outputs may be a subset.
    """
    ok = sorted(want) == sorted(got) if exact else set(want) <= set(got)
    if not ok:
        raise BackendError(f"runtime.json {kind} {sorted(want)} do not match the model's {sorted(got)}")
