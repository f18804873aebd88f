"""LiteRT backend (.tflite through ai_edge_litert). Edge models have a fixed batch (dynamic
shapes fail in TFLite), so a batch of any size runs in chunks of the model's batch, padded."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from .backend import BackendError, blames_values, check_names
from .config import RuntimeConfig
from .errors import BadValues

log = logging.getLogger("runtime")


class LiteRTBackend:
    def __init__(self, runner, names: dict[str, str], out_names: dict[str, str], batch: int) -> None:
        self.runner = runner
        self.names = names  # runtime.json input name -> signature input name
        self.out_names = out_names  # runtime.json output name -> signature output name
        self.batch = batch
        self.lock = threading.Lock()  # a signature runner holds one set of tensors

    def run(self, inputs: dict[str, np.ndarray], outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        rows = next(iter(inputs.values())).shape[0]
        parts: list[dict[str, np.ndarray]] = []
        with self.lock:
            for start in range(0, rows, self.batch):
                chunk = {self.names[n]: _pad(a[start:start + self.batch], self.batch) for n, a in inputs.items()}
                got = self._invoke(chunk)
                take = min(self.batch, rows - start)
                parts.append({n: np.asarray(got[self.out_names[n]])[:take] for n in outputs})
        return {n: np.concatenate([p[n] for p in parts]) for n in outputs}

    def _invoke(self, chunk: dict[str, np.ndarray]):
        try:
            return self.runner(**chunk)
        except RuntimeError as exc:
            # "Embedding Lookup: index out of bounds. Got 200, and bounds are [0, 99]Node number 1
            # (EMBEDDING_LOOKUP) failed to invoke." The interpreter keeps earlier failures in the
            # message, so only the last one is this request's.
            reason = str(exc).rstrip(".").split("failed to invoke.")[-1].strip()
            if blames_values(reason):
                raise BadValues(reason) from exc
            raise


def _pad(arr: np.ndarray, batch: int) -> np.ndarray:
    if arr.shape[0] == batch:
        return np.ascontiguousarray(arr)
    pad = np.zeros((batch - arr.shape[0], *arr.shape[1:]), arr.dtype)
    return np.concatenate([arr, pad])


def _mapping(kind: str, want: list[str], got: list[str]) -> dict[str, str]:
    """Converters rename tensors (args_0, output_0); fall back to position when names differ."""
    if set(want) <= set(got):
        return {n: n for n in want}
    if len(want) != len(got):
        check_names(kind, want, got)
    log.warning("tflite %s %s differ from runtime.json %s; matching by position", kind, got, want)
    return dict(zip(want, got))


def load(config: RuntimeConfig, path: Path) -> LiteRTBackend:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise BackendError("backend litert needs the ai-edge-litert package") from exc
    try:
        interp = Interpreter(model_path=str(path), num_threads=max(1, config.threads))
        signatures = interp.get_signature_list()
        key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
        runner = interp.get_signature_runner(key)
    except (ValueError, RuntimeError, StopIteration) as exc:
        raise BackendError(f"LiteRT could not load {path.name} (it needs a signature): {exc}") from exc
    details = runner.get_input_details()
    names = _mapping("inputs", [t.name for t in config.inputs], list(details))
    out_names = _mapping("outputs", [t.name for t in config.outputs], list(runner.get_output_details()))
    batch = int(next(iter(details.values()))["shape"][0]) or 1
    return LiteRTBackend(runner, names, out_names, batch)
