"""A generative model served by a GPU engine (serve.engine: vllm): the engine loads the Hugging
Face folder itself, so only its config.json is read here, never weights or a tokenizer (a
config-only folder plans; the image or volume brings the rest). The capacity plan
(compiler/capacity.py) reads the sizes from `LlmDims`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from compiler.errors import SpecError, SpecIssue

# Families whose MLP has no gate projection (two matrices instead of three).
UNGATED = ("gpt2", "gpt_neox", "gptj", "opt", "bloom", "falcon", "phi")


class CapacityError(ValueError):
    """The model does not fit the target, or its config.json lacks a dimension: the message
    names the numbers, `key` the spec key the user changes."""

    def __init__(self, message: str, key: str = "target.gpu"):
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class LlmDims:
    """A decoder-only model's sizes, as its config.json gives them."""

    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    experts: int  # 1 for a dense model
    max_positions: int | None

    def params(self) -> int:
        q_out = self.heads * self.head_dim
        attention = self.hidden * q_out * 2 + 2 * self.hidden * self.kv_heads * self.head_dim
        mats = 2 if self.model_type in UNGATED else 3
        mlp = mats * self.hidden * self.intermediate * self.experts + (self.hidden * self.experts if self.experts > 1 else 0)
        per_layer = attention + mlp + 2 * self.hidden
        embeddings = self.vocab * self.hidden * (1 if self.tied else 2)
        return self.layers * per_layer + embeddings + self.hidden

    def kv_bytes_per_token(self, dtype_bytes: float) -> float:
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes


def _int(config: dict, *names: str, default: int | None = None) -> int:
    for name in names:
        value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    if default is not None:
        return default
    raise CapacityError(f"config.json gives no {' / '.join(names)} (a positive integer)")


def read_dims(config: dict) -> LlmDims:
    """The sizes of a decoder-only model from its config.json (multimodal configs nest it in text_config)."""
    config = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    hidden = _int(config, "hidden_size", "n_embd", "d_model")
    heads = _int(config, "num_attention_heads", "n_head")
    return LlmDims(str(config.get("model_type", "")), hidden, _int(config, "num_hidden_layers", "n_layer"),
                   heads, _int(config, "num_key_value_heads", default=heads),
                   _int(config, "head_dim", default=hidden // heads),
                   _int(config, "intermediate_size", "n_inner", default=4 * hidden), _int(config, "vocab_size"),
                   bool(config.get("tie_word_embeddings", False)),
                   _int(config, "num_local_experts", "num_experts", default=1),
                   config.get("max_position_embeddings") if isinstance(config.get("max_position_embeddings"), int) else None)




def read_folder(folder: Path, key: str) -> tuple[dict, LlmDims]:
    """config.json of a decoder-only model and its sizes; a SpecError naming `key` otherwise."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(SpecIssue(key, f"{folder.name} has no config.json: not a Hugging Face model folder")) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(SpecIssue(key, f"config.json in the model folder is not valid JSON: {exc}")) from None
    if not isinstance(config, dict):
        raise SpecError(SpecIssue(key, "config.json in the model folder is not a JSON object"))
    arch = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    if not any(a.endswith(("ForCausalLM", "ForConditionalGeneration", "LMHeadModel")) for a in arch):
        raise SpecError(SpecIssue("model.task", f"text-generation needs a causal language model (config.json "
                                                f"architectures *ForCausalLM); {folder.name} has {arch or 'none'}"))
    try:
        return config, read_dims(config)
    except CapacityError as exc:
        raise SpecError(SpecIssue(key, str(exc))) from None


def derive_engine_model(document: dict, dims: LlmDims) -> None:
    """Fill the signature of a text-generation model served by an engine: token ids in, logits out."""
    model = document["model"]
    issues = [SpecIssue(f"model.{k}", "derived from the model's own files for model.source huggingface; remove it")
              for k in ("inputs", "outputs", "labels") if model.get(k)]
    issues += [SpecIssue(f"model.{k}", "not for model.source huggingface (the folder holds the model)")
               for k in ("factory", "weights", "onnx") if model.get(k)]
    if issues:
        raise SpecError(issues)
    context = (model.get("generation") or {}).get("max_context")
    if dims.max_positions is not None and isinstance(context, int) and context > dims.max_positions:
        raise SpecError(SpecIssue("model.generation.max_context", f"{context} tokens, but the model has "
                                                                  f"{dims.max_positions} positions (config.json "
                                                                  "max_position_embeddings, GGUF context_length)"))
    ids = {"dtype": "int64", "shape": ["batch", "seq"]}
    model["inputs"] = [{"name": "input_ids", **ids, "range": [0, dims.vocab - 1]},
                       {"name": "attention_mask", **ids, "range": [0, 1]}]
    model["outputs"] = [{"name": "logits", "dtype": "float32", "shape": ["batch", "seq", dims.vocab]}]
    model["labels"] = []
