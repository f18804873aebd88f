"""The runtime.json the server reads, derived from the spec, the selected artifact and the baseline."""

from __future__ import annotations

import json
from pathlib import Path

from compiler.emitters.base import SelectedArtifact
from compiler.frontend.spec import Spec, TensorSpec
from compiler.gpu import ort_profile_options
from compiler.planner import EngineConfig, target_engine
from compiler.frontend.huggingface import TOKENIZER, spec_model
from compiler.runtime.drift import TEXT_INPUT
from compiler.runtime.config import (DATATYPES, DriftBaseline, GenerationRuntime, RuntimeConfig, TensorInfo,
                                     TextConfig)

BACKENDS = {"onnx": "onnxruntime", "pt2": "torch", "tflite": "litert", "genai": "onnxruntime-genai"}
GENAI_DIR = "genai"  # the onnxruntime-genai folder under model/ (the builder's output, as written)
TRT_CACHE = "/var/cache/deployc/trt"


def _tensor(t: TensorSpec, fixed: dict[str, int] | None = None) -> TensorInfo:
    fixed = fixed or {}
    shape = [d if isinstance(d, int) else fixed.get(d, -1) for d in t.shape]
    dim_names = [d if isinstance(d, str) else None for d in t.shape]
    return TensorInfo(t.name, DATATYPES[t.dtype], shape, dim_names, list(t.range) if t.range else None)


def runtime_config(spec: Spec, selected: SelectedArtifact, drift: dict[str, DriftBaseline],
                   engine: EngineConfig | None = None) -> RuntimeConfig:
    """`engine`: the plan's target_engine (build passes it); planner.target_engine decides it."""
    s, t = spec.serve, spec.target
    # TFLite shapes are fixed except the batch, which the litert backend runs in fixed chunks.
    fixed_dims = dict(spec.optimize.edge.fixed_dims) if t.is_edge else None
    providers = list(t.execution_providers) if selected.format == "onnx" else []
    if selected.format == "pt2" and t.is_gpu:
        providers = ["CUDAExecutionProvider"]  # the torch backend reads it as "run on the GPU"
    return RuntimeConfig(
        model_name=spec.name, model_version=spec.version, artifact=selected.file,
        backend=BACKENDS[selected.format],
        inputs=[_tensor(x, fixed_dims) for x in spec.model.inputs],
        outputs=[_tensor(x, fixed_dims) for x in spec.model.outputs],
        providers=providers or ["CPUExecutionProvider"], threads=s.threads,
        # TFLite shapes are fixed: the litert backend runs its own fixed-size chunks.
        batching=s.batching.enabled and not t.is_edge, max_batch_size=s.batching.max_batch_size,
        max_queue_delay_ms=s.batching.max_queue_delay_ms, max_request_bytes=s.max_request_bytes,
        request_timeout_s=s.request_timeout_s, max_concurrency=s.max_concurrency,
        drain_seconds=s.drain_seconds, drift=drift,
        trt_engine_cache=TRT_CACHE if "TensorrtExecutionProvider" in providers else "",
        trt_options=trt_options(engine or target_engine(spec)) if "TensorrtExecutionProvider" in providers else {},
        text=text_config(spec), generation=generation_config(spec, selected),
    )




def text_config(spec: Spec) -> TextConfig | None:
    """How the server tokenizes (huggingface sources): the model's tokenizer.json, copied next to it."""
    m = spec.model
    if m.source != "huggingface" or m.task == "text-generation":  # generation: onnxruntime-genai tokenizes
        return None
    return TextConfig(input=TEXT_INPUT, tokenizer=TOKENIZER, max_length=m.max_length, truncation=m.truncation,
                      task=m.task, labels=list(m.labels), pad_id=spec_model(spec).pad_id,
                      model_inputs=[t.name for t in m.inputs])


def generation_config(spec: Spec, selected: SelectedArtifact) -> GenerationRuntime | None:
    """A text-generation model's limits; the chat template is whatever the builder copied next to it."""
    if spec.model.task != "text-generation":
        return None
    g = spec.model.generation
    return GenerationRuntime(model_dir=GENAI_DIR, max_context=g.max_context, max_new_tokens=g.max_new_tokens,
                             chat_template=has_chat_template(selected.path))


def has_chat_template(folder: Path) -> bool:
    """Transformers 5 writes the template to chat_template.jinja; older tokenizers keep it in
    tokenizer_config.json's chat_template: either one serves chat completions."""
    if not folder.is_dir():
        return False
    if (folder / "chat_template.jinja").is_file():
        return True
    config = folder / "tokenizer_config.json"
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError, AttributeError):
        return False


def trt_options(engine: EngineConfig) -> dict[str, str]:
    options = ort_profile_options(engine.profile)
    if engine.precision == "fp16":
        options["trt_fp16_enable"] = "True"
    return options
