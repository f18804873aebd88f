"""onnxruntime backend: CPU, CUDA or TensorRT execution providers as runtime.json lists them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .backend import MACHINE_WORDS as _MACHINE, BackendError, blames_values, check_names
from .config import RuntimeConfig
from .errors import BadValues

log = logging.getLogger("runtime")


class OnnxBackend:
    def __init__(self, session, ort_errors) -> None:
        self.session = session
        self.errors = ort_errors  # onnxruntime's exception types (onnxruntime_pybind11_state)

    def run(self, inputs: dict[str, np.ndarray], outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        try:
            return dict(zip(outputs, self.session.run(list(outputs), inputs)))
        except (self.errors.InvalidArgument, self.errors.Fail, self.errors.RuntimeException) as exc:
            message = str(exc)
            # Only a kernel's own refusal ("... while running Gather node ... Status Message: ...")
            # can blame the values: onnxruntime's check of the inputs' ranks, types and fixed dims
            # fails only where runtime.json and the model disagree (the edge checked the rest).
            in_kernel = "Status Message: " in message
            kind_blames = isinstance(exc, self.errors.InvalidArgument) and not _MACHINE.search(message)
            if in_kernel and (kind_blames or blames_values(_status(message))):
                raise BadValues(_status(message)) from exc
            raise


def _status(message: str) -> str:
    """The kernel's own words from "... running Gather node. Name:'' Status Message: ..."."""
    head, _, status = message.partition("Status Message: ")
    op = head.rsplit("running ", 1)[-1].split(" node.")[0]
    return f"{op}: {status}"


# onnxruntime 1.32's fp32 SkipLayerNormalization CPU kernel is slower than the Add and
# LayerNormalization it fuses (docs/architecture.md, "Layer norm fusion on the CPU": the text
# encoder's int8 graph 0.134 -> 0.100 ms at batch 1, 3.57 -> 2.23 ms at batch 32; MiniLM 3.39 ->
# 3.15 ms). CPU sessions leave it out; other execution providers keep onnxruntime's defaults.
CPU_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def disabled_optimizers(providers: list[str]) -> list[str]:
    """The graph optimizers a session on these execution providers leaves out."""
    return list(CPU_DISABLED_OPTIMIZERS) if set(providers) == {"CPUExecutionProvider"} else []


def _options(ort, config: RuntimeConfig):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, config.threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning intra-op threads burn the cores the HTTP event loop needs (docs/architecture.md: on 2 cores
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
        session = ort.InferenceSession(str(path), _options(ort, config), providers=_providers(config),
                                       disabled_optimizers=disabled_optimizers(config.providers))
    except Exception as exc:  # onnxruntime raises its own exception types per failure
        raise BackendError(f"onnxruntime could not load {path.name}: {exc}") from exc
    missing = [p for p in config.providers if p not in session.get_providers()]
    if missing:
        log.warning("execution providers %s are not available; running on %s", missing, session.get_providers())
    check_names("inputs", [t.name for t in config.inputs], [i.name for i in session.get_inputs()])
    check_names("outputs", [t.name for t in config.outputs], [o.name for o in session.get_outputs()],
                exact=False)
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    return OnnxBackend(session, ort_errors)
