"""A tiny model built in the test (as Olive tests each pass on its own): the digits spec's
signature (pixels [batch, 1, 8, 8] -> logits [batch, 10]), random seeded weights, exported once."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from compiler.frontend import load_spec
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.data import Dataset
from compiler.passes.load import LoadedModel
from tests.conftest import EXAMPLES

DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"


def tiny_module():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6 * 6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()


def tiny(tmp_path, overrides=()):
    spec = load_spec(DIGITS, list(overrides))
    return spec, LoadedModel("tiny-cnn-seed0", module=tiny_module()), PassContext(spec, Cache(tmp_path / "cache"))


def pixels(n: int = 32, seed: int = 1) -> Dataset:
    return Dataset({"pixels": np.random.default_rng(seed).random((n, 1, 8, 8), dtype=np.float32)}, None, "random")


def run_onnx(path, data: Dataset) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, data.inputs)[0]


def eager(data: Dataset) -> np.ndarray:
    import torch

    with torch.no_grad():
        return tiny_module()(torch.from_numpy(data.inputs["pixels"])).numpy()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
