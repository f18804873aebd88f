"""`model.task: text-generation` built by deployc (onnxruntime-genai's model builder): what the
model is, read from its own files without torch: a Hugging Face folder's config.json, or a GGUF
file's metadata (the gguf package memory-maps the file and reads the header only).

The facts land in `LlmDims` (compiler/frontend/llm_config.py, shared with the vLLM planner), so
the memory plan (compiler/llm_memory.py) reads one shape whatever the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.errors import SpecError, SpecIssue
from compiler.frontend.llm_config import LlmDims, read_folder

TASK = "text-generation"
# GGUF architectures that transformers dequantizes and onnxruntime-genai's builder compiles:
# general.architecture -> the config.json model_type and architectures entry they become.
GGUF_ARCHS = {"llama": ("llama", "LlamaForCausalLM"), "mistral": ("mistral", "MistralForCausalLM"),
              "qwen2": ("qwen2", "Qwen2ForCausalLM"), "qwen3": ("qwen3", "Qwen3ForCausalLM"),
              "phi3": ("phi3", "Phi3ForCausalLM")}
# The builder's families (config.json model_type) for a Hugging Face folder.
BUILDER_TYPES = ("llama", "mistral", "qwen2", "qwen3", "phi3", "phi", "gemma", "gemma2", "gemma3_text",
                 "gpt2", "granite", "olmo", "nemotron", "chatglm", "ernie4_5", "smollm3")
WEIGHT_ONLY = ("int4", "int8")  # MatMulNBits: text-generation only


@dataclass(frozen=True)
class GenModel:
    path: Path  # the folder, or the .gguf file
    gguf: bool
    dims: LlmDims
    params: int  # from the shapes (LlmDims.params), embeddings included
    chat_template: bool


def read(path: Path, key: str = "model.path") -> GenModel:
    if path.is_file():
        return _read_gguf(path, key)
    config, dims = read_folder(path, key)
    if not (path / "tokenizer.json").is_file():
        raise SpecError(SpecIssue(key, f"the model folder {path.name} has no tokenizer.json: onnxruntime-genai "
                                       "tokenizes with it (AutoTokenizer.from_pretrained(...).save_pretrained"
                                       "(folder) writes one)"))
    if dims.model_type not in BUILDER_TYPES:
        raise SpecError(SpecIssue(key, f"{path.name} is a {dims.model_type or 'unknown'} model; onnxruntime-genai's "
                                       f"builder compiles {', '.join(BUILDER_TYPES)}"))
    return GenModel(path, False, dims, dims.params(), _folder_template(path))


def _folder_template(folder: Path) -> bool:
    import json

    if (folder / "chat_template.jinja").is_file():
        return True
    try:
        return bool(json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError, AttributeError):
        return False


def _read_gguf(path: Path, key: str) -> GenModel:
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
    except Exception as exc:  # not a GGUF file, or a truncated one
        raise SpecError(SpecIssue(key, f"{path.name} is not a readable GGUF file: {type(exc).__name__}: {exc}")) from None

    def field(name: str):
        f = reader.fields.get(name)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    if arch not in GGUF_ARCHS:
        raise SpecError(SpecIssue(key, f"{path.name} is a GGUF model of architecture {arch!r}; deployc builds GGUF "
                                       f"files of {', '.join(GGUF_ARCHS)} (or give a Hugging Face folder)"))
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    if tokens is None:
        raise SpecError(SpecIssue(key, f"{path.name} carries no tokenizer (tokenizer.ggml.tokens)"))
    config = {"model_type": GGUF_ARCHS[arch][0], "hidden_size": field(f"{arch}.embedding_length"),
              "num_hidden_layers": field(f"{arch}.block_count"),
              "num_attention_heads": field(f"{arch}.attention.head_count"),
              "num_key_value_heads": field(f"{arch}.attention.head_count_kv"),
              "intermediate_size": field(f"{arch}.feed_forward_length"),
              "vocab_size": field(f"{arch}.vocab_size") or len(tokens.data),
              "max_position_embeddings": field(f"{arch}.context_length"),
              "tie_word_embeddings": not any(t.name == "output.weight" for t in reader.tensors)}
    from compiler.frontend.llm_config import CapacityError, read_dims

    try:
        dims = read_dims({k: int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                          for k, v in config.items()})
    except CapacityError as exc:
        raise SpecError(SpecIssue(key, f"{path.name}: {exc} (GGUF metadata {arch}.*)")) from None
    return GenModel(path, True, dims, dims.params(), field("tokenizer.chat_template") is not None)


def derive(document: dict, path: Path) -> None:
    """Fill the signature of a text-generation model deployc compiles: token ids in, logits out.
    `path`: model.path resolved (compiler.frontend.huggingface.model_path), a folder or a GGUF file."""
    model = document["model"]
    key = "model.hub_id" if model.get("hub_id") else "model.path"
    issues = [SpecIssue(f"model.{k}", "derived from the model's own files for model.source huggingface; remove it")
              for k in ("inputs", "outputs", "labels") if model.get(k)]
    issues += [SpecIssue(f"model.{k}", "not for model.source huggingface (the folder holds the model)")
               for k in ("factory", "weights", "onnx") if model.get(k)]
    if not (model.get("evaluation") or {}).get("text"):
        issues.append(SpecIssue("model.evaluation", "a text-generation model is verified on prompts: give "
                                                    "model.evaluation.text (JSON lines of {\"text\": prompt})"))
    if (model.get("calibration") or {}) and not model["calibration"].get("text"):
        issues.append(SpecIssue("model.calibration", "for text-generation, model.calibration.text is the text "
                                                     "perplexity is measured on (JSON lines of {\"text\": ...})"))
    if issues:
        raise SpecError(issues)
    gen = read(path, key)
    context = (model.get("generation") or {}).get("max_context", 2048)
    if gen.dims.max_positions is not None and context > gen.dims.max_positions:
        raise SpecError(SpecIssue("model.generation.max_context",
                                  f"{context} tokens, but the model has {gen.dims.max_positions} positions "
                                  + ("(GGUF context_length)" if gen.gguf else "(config.json max_position_embeddings)")))
    ids = {"dtype": "int64", "shape": ["batch", "seq"]}
    model["inputs"] = [{"name": "input_ids", **ids, "range": [0, gen.dims.vocab - 1]},
                       {"name": "attention_mask", **ids, "range": [0, 1]}]
    model["outputs"] = [{"name": "logits", "dtype": "float32", "shape": ["batch", "seq", gen.dims.vocab]}]
    model["labels"] = []


def check(spec) -> list[SpecIssue]:
    """int4/int8 in optimize.precisions are weight-only quantization of a generative model, and
    the generation gates need generated tokens."""
    if spec.model.task == TASK:
        if spec.target.kind != "edge":
            return []
        # measured by bench/litert_generative_probe.py (docs/architecture.md, "LiteRT generative export")
        return [SpecIssue("target", f"{spec.target.name} is an edge target: litert-torch 0.10.0's generative export "
                                    "converts SmolLM2 here (prefill/decode signatures, external KV cache; greedy "
                                    "tokens match transformers) only with TensorFlow's TFLite schema module, which "
                                    "its generative layers import but the wheel does not depend on, and deployc's "
                                    "edge pipeline does not yet bundle or verify such a model; text-generation "
                                    "builds for CPU and NVIDIA targets (measured by bench/litert_generative_probe.py)")]
    issues = [SpecIssue(f"optimize.gates.{g}", f"measured on generated tokens: model.task text-generation only "
                                               f"(this model's task is {spec.model.task})")
              for g in ("min_token_agreement", "max_perplexity_increase") if getattr(spec.gates, g) is not None]
    asked = [p for p in spec.optimize.precisions if p in WEIGHT_ONLY]
    if asked:
        issues.append(SpecIssue("optimize.precisions", f"{', '.join(asked)}: weight-only precisions for model.task "
                                                 f"text-generation; a {spec.model.task} model quantizes with "
                                                 "optimize.quantize (int8-dynamic, int8-static)"))
    return issues
