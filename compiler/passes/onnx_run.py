"""Run an ONNX file with onnxruntime on the CPU (verification and latency on the build host)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np


@lru_cache(maxsize=16)
def session(path: str, threads: int = 0):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    # The artifact was optimized offline already; don't let ORT re-optimize it differently.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, inputs: dict[str, np.ndarray], batch: int = 64) -> list[np.ndarray]:
    """Runs in chunks so a large verification set never needs one huge batch."""
    sess = session(str(path))
    n = len(next(iter(inputs.values())))
    chunks = [sess.run(None, {k: v[i:i + batch] for k, v in inputs.items()}) for i in range(0, n, batch)]
    return [np.concatenate([c[j] for c in chunks]) for j in range(len(chunks[0]))]
