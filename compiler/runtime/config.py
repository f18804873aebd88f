"""runtime.json: what the compiler tells the server. Plain JSON so the image needs no deployc."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Open Inference Protocol datatype names, by numpy dtype name.
DATATYPES = {
    "float32": "FP32", "float16": "FP16", "bfloat16": "BF16", "float64": "FP64",
    "int64": "INT64", "int32": "INT32", "int16": "INT16", "int8": "INT8",
    "uint8": "UINT8", "bool": "BOOL",
}


@dataclass
class TensorInfo:
    name: str
    datatype: str  # protocol name: FP32, INT64, ...
    shape: list[int]  # -1 for a dynamic dim; dim 0 is the batch dim when batching
    # The spec's name of each dim (None for a numeric one): inputs that share a name must
    # agree on its size in a request.
    dim_names: list[str | None]
    range: list[float] | None  # declared [lo, hi] of the values (inputs); None: undeclared


@dataclass
class DriftBaseline:
    edges: list[float]  # inner bucket edges; len(edges) + 1 buckets
    ratios: list[float]  # baseline share per bucket


@dataclass
class RuntimeConfig:
    model_name: str
    model_version: str
    artifact: str  # file name inside the model dir
    backend: str  # onnxruntime | litert | torch
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    providers: list[str] = field(default_factory=lambda: ["CPUExecutionProvider"])
    threads: int = 1
    batching: bool = True
    max_batch_size: int = 32
    max_queue_delay_ms: float = 2.0
    max_request_bytes: int = 4 * 1024 * 1024
    request_timeout_s: float = 10.0
    max_concurrency: int = 64
    drain_seconds: int = 20
    drift: dict[str, DriftBaseline] = field(default_factory=dict)
    trt_engine_cache: str = ""  # a writable folder for TensorRT engines, when that EP is used
    # Extra TensorRT EP options from the build: the optimization profile of the dynamic dims
    # (so one engine covers every batch the server forms) and trt_fp16_enable.
    trt_options: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "RuntimeConfig":
        data = json.loads(text)
        data["inputs"] = [TensorInfo(**t) for t in data["inputs"]]
        data["outputs"] = [TensorInfo(**t) for t in data["outputs"]]
        data["drift"] = {k: DriftBaseline(**v) for k, v in data.get("drift", {}).items()}
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> "RuntimeConfig":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
