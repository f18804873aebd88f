"""Reading a .tflite's serving signature (names, dtypes, fixed shapes, quantization), and keeping
the edge toolchain's native logging off the console.

Shared by the tflite passes (which check and run what they convert) and the bundle emitter
(which documents the selected model's signature), so the emitter needs no pass
(docs/architecture.md, "Layering")."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIGNATURE = "serving_default"


@dataclass(frozen=True)
class TensorDetail:
    """One signature tensor as the interpreter reports it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    scale: float | None = None  # set for quantized (integer) inputs/outputs
    zero_point: int | None = None


@dataclass(frozen=True)
class SignatureDetails:
    inputs: tuple[TensorDetail, ...]
    outputs: tuple[TensorDetail, ...]  # in the order the model returns them

    @property
    def batch(self) -> int:
        return self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else 1


def signature_details(path: Path) -> SignatureDetails:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    runner = interp.get_signature_runner(SIGNATURE)
    ins, outs = runner.get_input_details(), runner.get_output_details()
    # Subgraph output order is the order the model returned them; the signature map is by name.
    position = {d["index"]: i for i, d in enumerate(interp.get_output_details())}
    ordered = sorted(outs, key=lambda n: position.get(outs[n]["index"], len(position)))
    return SignatureDetails(tuple(_detail(n, ins[n]) for n in ins), tuple(_detail(n, outs[n]) for n in ordered))


def _detail(name: str, d: dict) -> TensorDetail:
    scale, zero = d["quantization"]
    quantized = scale != 0.0 and np.dtype(d["dtype"]).kind in "iu"
    return TensorDetail(name, np.dtype(d["dtype"]).name, tuple(int(x) for x in d["shape"]),
                        float(scale) if quantized else None, int(zero) if quantized else None)


@contextmanager
def quiet():
    """The converter logs from C++ and a progress console straight to fds 1 and 2; keep the CLI's
    output clean, and hand the captured text to the error message when conversion fails."""
    with tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)

            def text() -> str:
                sink.seek(0)
                lines = [l for l in sink.read().decode(errors="replace").splitlines() if l.strip()]
                return lines[-1] if lines else ""
            yield text
        finally:
            sys.stdout.flush()  # what Python buffered inside belongs to the sink too
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
