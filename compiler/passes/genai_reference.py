"""The original model's answers for text-generation verification, computed once and cached.

Prompts (model.evaluation.text, each asked through the tokenizer's chat template when it has one)
get the first N greedy tokens from transformers' `generate`. The perplexity text
(model.calibration.text, else the prompts) is cut into windows of WINDOW tokens; each window's
teacher-forced logits are written to the cache as one fp16 .npy file, and only the negative
log-likelihood sums stay in memory: no [tokens, vocab] tensor for the whole text is ever kept, so
memory is one window's logits whatever the text's length.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.digest import sha256_json
from compiler.frontend.textdata import read_rows
from compiler.passes.base import PassContext, library_versions

WINDOW = 128  # tokens per teacher-forced window
MAX_WINDOWS = 32  # at most 4,096 scored tokens: perplexity settles well before that
NEW_TOKENS = 16  # greedy tokens compared per prompt (or max_new_tokens when smaller)


@dataclass(frozen=True)
class GenData:
    prompts: list[list[int]]  # token ids of each prompt, chat template applied
    windows: list[list[int]]  # token ids of each perplexity window
    new_tokens: int
    eos: list[int]
    chat_template: bool

    def digest(self) -> str:
        return sha256_json({"prompts": self.prompts, "windows": self.windows, "n": self.new_tokens})


@dataclass(frozen=True)
class Reference:
    folder: Path  # w<i>.npy: one window's logits (fp16)
    tokens: list[list[int]]  # greedy tokens per prompt
    nll: float  # summed negative log-likelihood over every scored token
    scored: int  # tokens scored

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll / self.scored) if self.scored else math.nan


def load_data(spec, folder: Path) -> GenData:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    prompts_path = spec.resolve_path(spec.model.evaluation.text)
    texts, _ = read_rows(prompts_path, "model.evaluation.text", ())
    template = bool(getattr(tok, "chat_template", None))
    prompts = []
    for text in texts:
        if template:
            text = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                           tokenize=False)
        prompts.append(list(tok(text, add_special_tokens=not template)["input_ids"]))
    source = spec.model.calibration.text if spec.model.calibration is not None else spec.model.evaluation.text
    key = "model.calibration.text" if spec.model.calibration is not None else "model.evaluation.text"
    ppl_texts, _ = read_rows(spec.resolve_path(source), key, ())
    windows = []
    for text in ppl_texts:
        ids = list(tok(text)["input_ids"])
        windows += [ids[i:i + WINDOW] for i in range(0, len(ids), WINDOW) if len(ids[i:i + WINDOW]) >= 2]
    eos = tok.eos_token_id
    n = min(NEW_TOKENS, spec.model.generation.max_new_tokens)
    return GenData(prompts, windows[:MAX_WINDOWS], n, [eos] if isinstance(eos, int) else list(eos or []), template)


def reference(folder: Path, folder_digest: str, data: GenData, ctx: PassContext) -> Reference:
    key = ctx.cache.key("genai-reference", {"window": WINDOW}, {"model": folder_digest, "data": data.digest()},
                        library_versions("transformers", "torch"))
    with ctx.timed("reference (transformers)") as event:
        entry = ctx.cache.get_or_run(key, lambda out: _compute(folder, data, out, ctx))
        event.cached = entry.hit
        event.detail = f"{len(data.prompts)} prompts x {data.new_tokens} greedy tokens, {len(data.windows)} windows"
    m = entry.meta
    return Reference(entry.dir, m["tokens"], m["nll"], m["scored"])


def _compute(folder: Path, data: GenData, out: Path, ctx: PassContext) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    import time

    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    tokens, nll, scored = [], 0.0, 0
    total = len(data.prompts) + len(data.windows)
    with torch.inference_mode():
        for i, ids in enumerate(data.prompts):
            x = torch.tensor([ids])
            y = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=data.new_tokens,
                               do_sample=False, pad_token_id=data.eos[0] if data.eos else None)
            tokens.append([int(t) for t in y[0, len(ids):]])
            _progress(ctx, f"prompt {i + 1}/{len(data.prompts)}", i + 1, total, start)
        for i, ids in enumerate(data.windows):
            logits = model(torch.tensor([ids])).logits[0].float()
            nll += float(torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(ids[1:]), reduction="sum"))
            scored += len(ids) - 1
            np.save(out / f"w{i}.npy", logits.numpy().astype(np.float16))
            del logits
            _progress(ctx, f"window {i + 1}/{len(data.windows)}", len(data.prompts) + i + 1, total, start)
    del model
    gc.collect()
    return {"tokens": tokens, "nll": nll, "scored": scored}


def _progress(ctx: PassContext, what: str, done: int, total: int, start: float) -> None:
    """One line per prompt and window as it ends (also off a terminal), and the live bar."""
    import time

    from compiler.passes.base import PassEvent

    ctx.on_event(PassEvent(f"  reference {what}", time.perf_counter() - start, False, "progress"))
    ctx.progress("reference (transformers)", done, total)
