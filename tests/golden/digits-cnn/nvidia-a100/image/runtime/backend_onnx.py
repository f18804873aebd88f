"""onnxruntime backend: CPU, CUDA or TensorRT execution providers as runtime.json lists them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .backend import BackendError, check_names
from .config import RuntimeConfig

log = logging.getLogger("runtime")


class OnnxBackend:
    def __init__(self, session) -> None:
        self.session = session

    def run(self, inputs: dict[str, np.ndarray], outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        return dict(zip(outputs, self.session.run(list(outputs), inputs)))


def _options(ort, config: RuntimeConfig):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, config.threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning intra-op threads burn the cores the HTTP event loop needs (DESIGN.md: on 2 cores
    # turning it off took a minimal endpoint from 1.6k to 2.7k req/s).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def _providers(config: RuntimeConfig) -> list:
    providers: list = []
    for name in config.providers:
        if name == "TensorrtExecutionProvider" and config.trt_engine_cache:
            # Engines are specific to the GPU they were built on: build once on the node, then reuse.
            providers.append((name, {
                "trt_engine_cache_enable": True, "trt_engine_cache_path": config.trt_engine_cache,
                "trt_timing_cache_enable": True, "trt_timing_cache_path": config.trt_engine_cache,
                **config.trt_options,
            }))
        else:
            providers.append(name)
    return providers


def load(config: RuntimeConfig, path: Path) -> OnnxBackend:
    import onnxruntime as ort

    if config.trt_engine_cache:
        Path(config.trt_engine_cache).mkdir(parents=True, exist_ok=True)
    try:
        session = ort.InferenceSession(str(path), _options(ort, config), providers=_providers(config))
    except Exception as exc:  # onnxruntime raises its own exception types per failure
        raise BackendError(f"onnxruntime could not load {path.name}: {exc}") from exc
    missing = [p for p in config.providers if p not in session.get_providers()]
    if missing:
        log.warning("execution providers %s are not available; running on %s", missing, session.get_providers())
    check_names("inputs", [t.name for t in config.inputs], [i.name for i in session.get_inputs()])
    check_names("outputs", [t.name for t in config.outputs], [o.name for o in session.get_outputs()],
                exact=False)
    return OnnxBackend(session)
