"""What every emitter receives and returns.

An emitter is a pure function of the build's results: it returns files (relative path under
`<out>/<target>/` -> bytes) and never touches the disk; the writer stages and moves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from compiler.capacity import EnginePlan
from compiler.frontend.spec import Spec
from compiler.report_model import Report
from compiler.runtime.config import RuntimeConfig


@dataclass(frozen=True)
class SelectedArtifact:
    candidate: str  # e.g. "onnx-int8-dynamic"
    file: str  # file name shipped, e.g. "model.onnx"
    path: Path  # where the bytes are now (the pass cache)
    format: str  # onnx | pt2 | tflite
    precision: str  # fp32 | fp16 | int8 | ...
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class EmitContext:
    spec: Spec
    selected: SelectedArtifact | None
    runtime: RuntimeConfig | None
    # Metrics and facts from the passes, as the report shows them (None: an emitter run on its own).
    report: Report | None = None
    # Files other emitters produced before this one (e.g. the image digest tag from the lock).
    previous: dict[str, bytes] = field(default_factory=dict)
    engine: EnginePlan | None = None  # serve.engine vllm: the plan's dtype and capacity decision


Files = dict[str, bytes]


class Emitter(Protocol):
    name: str

    def emit(self, ctx: EmitContext) -> Files: ...
