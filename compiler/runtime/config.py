"""runtime.json: what the compiler tells the server. Plain JSON so the image needs no deployc."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
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
class TextConfig:
    """How the server turns text into the model's token tensors (text models only)."""
    input: str  # name of the BYTES input clients send, e.g. "text"
    tokenizer: str  # file name in the model dir (Hugging Face fast-tokenizer JSON)
    max_length: int  # tokens per sequence, special tokens included
    truncation: str  # "error": a longer text is a 4xx naming the input | "truncate"
    task: str  # sentence-embedding | text-classification | token-classification
    labels: list[str]  # id2label order for classification; [] otherwise
    pad_id: int  # the tokenizer's pad token id
    model_inputs: list[str]  # which of input_ids / attention_mask / token_type_ids the model takes, in order


@dataclass
class GenerationRuntime:
    """A text-generation model served with onnxruntime-genai (OpenAI completions and chat)."""
    model_dir: str  # folder under the model dir that og.Model loads (genai_config.json, tokenizer)
    max_context: int  # spec model.generation.max_context: prompt + new tokens per request
    max_new_tokens: int  # spec model.generation.max_new_tokens: the cap and default of max_tokens
    chat_template: bool  # the tokenizer files define a chat template (else chat completions are refused)


@dataclass
class RuntimeConfig:
    model_name: str
    model_version: str
    artifact: str  # file name inside the model dir
    backend: str  # onnxruntime | litert | torch
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    # No field has a default: every value comes from the spec (whose schema owns the defaults),
    # so an argument the compiler forgets to pass fails loudly instead of silently serving a
    # default (serve.batching.max_batch_size once never reached the server).
    providers: list[str]  # ONNX Runtime execution providers, in priority order
    threads: int  # intra-op threads of the backend
    batching: bool  # dynamic batching across requests
    max_batch_size: int  # rows per formed batch (and per request)
    max_queue_delay_ms: float  # how long the first request of a batch waits for company
    max_request_bytes: int  # a larger body gets 413
    request_timeout_s: float  # a request waiting longer gets 504
    max_concurrency: int  # requests in flight; more get 503
    drain_seconds: int  # after SIGTERM: finish in-flight requests for at most this long
    drift: dict[str, DriftBaseline]  # input name -> build-time baseline; {} when drift is off
    trt_engine_cache: str  # a writable folder for TensorRT engines, when that EP is used; else ""
    # Extra TensorRT EP options from the build: the optimization profile of the dynamic dims
    # (so one engine covers every batch the server forms) and trt_fp16_enable; else {}.
    trt_options: dict[str, str]
    text: TextConfig | None  # tokenizer settings of a text model; None: clients send tensors only
    generation: GenerationRuntime | None  # a text-generation model's settings; None for the others

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "RuntimeConfig":
        data = json.loads(text)
        missing = sorted({f.name for f in fields(cls)} - set(data))
        if missing:  # a runtime.json from another deployc version: say so, don't guess defaults
            raise ValueError(f"runtime.json lacks {', '.join(missing)}: rebuild it with this deployc")
        data["inputs"] = [TensorInfo(**t) for t in data["inputs"]]
        data["outputs"] = [TensorInfo(**t) for t in data["outputs"]]
        data["drift"] = {k: DriftBaseline(**v) for k, v in data["drift"].items()}
        data["text"] = TextConfig(**data["text"]) if data["text"] is not None else None
        gen = data["generation"]
        data["generation"] = GenerationRuntime(**gen) if gen is not None else None
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> "RuntimeConfig":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
