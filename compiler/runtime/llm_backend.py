"""A text-generation model loaded with onnxruntime-genai: tokenizer, chat template, generators.

onnxruntime_genai is imported here only, when a generation model loads, so the images of other
models need not install it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backend import BackendError
from .config import GenerationRuntime


@dataclass(frozen=True)
class Sampling:
    """One request's decoding settings, validated (openai_generate.py)."""
    max_tokens: int
    temperature: float  # 0: greedy
    top_p: float
    seed: int | None
    stop: tuple[str, ...]


class LLM:
    def __init__(self, gen: GenerationRuntime, model_dir: Path, threads: int) -> None:
        folder = model_dir / gen.model_dir
        if not (folder / "genai_config.json").is_file():
            raise BackendError(f"{folder / 'genai_config.json'} does not exist (the onnxruntime-genai model folder)")
        try:
            import onnxruntime_genai as og
        except ImportError as exc:  # the image was built without the generation lock
            raise BackendError(f"onnxruntime-genai is not installed: {exc}") from None
        context = json.loads((folder / "genai_config.json").read_text(encoding="utf-8"))["model"]["context_length"]
        if gen.max_context > context:  # the KV cache would overflow mid-request: refuse to start
            raise BackendError(f"max_context {gen.max_context} is over the model's context_length {context} "
                               f"({folder / 'genai_config.json'})")
        self.og = og
        self.gen = gen
        config = og.Config(str(folder))
        # serve.threads, as for the other backends: the decode thread's onnxruntime session.
        config.overlay(json.dumps({"model": {"decoder": {"session_options": {"intra_op_num_threads": threads}}}}))
        self.model = og.Model(config)
        self.tokenizer = og.Tokenizer(self.model)
        self.eos = frozenset(int(t) for t in self.tokenizer.eos_token_ids)

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(text), dtype=np.int32)

    def chat_prompt(self, messages: list[dict]) -> str:
        """The tokenizer's own chat template (Jinja, as transformers renders it), ready for the
        assistant's turn."""
        return self.tokenizer.apply_chat_template(json.dumps(messages), add_generation_prompt=True)

    def generator(self, prompt: np.ndarray, sampling: Sampling):
        """A generator with the prompt appended (the prefill runs here)."""
        params = self.og.GeneratorParams(self.model)
        # top_k stays the model's own (genai_config.json search.top_k, from its generation_config):
        # OpenAI has no top_k, and onnxruntime-genai 0.18 samples a full vocabulary ~15x slower
        # (measured: 32 ms against 2 ms a token with SmolLM2's 49k vocabulary).
        options = {"max_length": int(prompt.size) + sampling.max_tokens, "do_sample": sampling.temperature > 0,
                   "top_p": sampling.top_p}
        if sampling.temperature > 0:
            options["temperature"] = sampling.temperature
        if sampling.seed is not None:
            options["random_seed"] = sampling.seed
        params.set_search_options(**options)
        generator = self.og.Generator(self.model, params)
        generator.append_tokens(prompt)
        return generator

    def stream(self):
        """Incremental detokenizer: text pieces as tokens come (multi-byte characters held back)."""
        return self.tokenizer.create_stream()
