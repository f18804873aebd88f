"""Text models: the tokenizer that travels with the artifact, and padding at batch time.

Requests carry unpadded token ids; the engine pads a formed batch to its own longest row
(not to max_length), and batches only requests of the same length bucket (`bucket`), so
one long sentence does not make a batch of short ones pay for its padding.
The `tokenizers` package is imported only when a model has a tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import RuntimeConfig, TextConfig
from .errors import InferError

# Length buckets (tokens per sequence): requests batch together only within one bucket, so a
# batch pads at most to twice its shortest row's bucket floor (the scheme of
# bucket_by_sequence_length); below 16 tokens padding costs little and batching matters more.
SMALLEST_BUCKET = 16


def bucket(length: int) -> int:
    """The length bucket of a sequence: the next power of two at or above it (at least 16)."""
    return max(SMALLEST_BUCKET, 1 << (max(length, 1) - 1).bit_length())


@dataclass
class Tokens:
    """A request's tokenized texts: one id array per text, unpadded."""

    ids: list[np.ndarray]
    unknown: int  # tokens the tokenizer mapped to its unknown token
    encodings: list | None = None  # the tokenizer's encodings (offsets, tokens): token classification only

    @property
    def count(self) -> int:
        return sum(len(row) for row in self.ids)

    @property
    def longest(self) -> int:
        return max(len(row) for row in self.ids)


class TextEncoder:
    """The model's own tokenizer (tokenizer.json), set up from runtime.json's `text`."""

    def __init__(self, config: TextConfig, model_dir: Path) -> None:
        from tokenizers import Tokenizer  # only text models need it

        self.config = config
        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / config.tokenizer))
        # A tokenizer.json often carries its own padding (all-MiniLM-L6-v2: fixed to 128) and
        # truncation; the server pads per batch and truncates as the spec says, so drop both.
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        if config.truncation == "truncate":
            self.tokenizer.enable_truncation(config.max_length)
        self.unk_id = unknown_id(json.loads(self.tokenizer.to_str()).get("model") or {})

    def encode(self, texts: list[str], where: str) -> Tokens:
        """Token ids per text; a 400 names `where[i]` for a text the model cannot take."""
        for i, text in enumerate(texts):
            _check_text(text, f"{where}[{i}]")
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        ids: list[np.ndarray] = []
        unknown = 0
        for i, enc in enumerate(encodings):
            if all(enc.special_tokens_mask):
                raise InferError(f"{where}[{i}]: the text has no tokens (only whitespace or characters the "
                                 "tokenizer drops)")
            if len(enc.ids) > self.config.max_length:
                raise InferError(f"{where}[{i}]: {len(enc.ids)} tokens, over the model's max_length of "
                                 f"{self.config.max_length} (special tokens included); shorten the text "
                                 "(this model's text.truncation is \"error\")")
            row = np.asarray(enc.ids, dtype=np.int64)
            if self.unk_id is not None:
                unknown += int(np.count_nonzero(row == self.unk_id))
            ids.append(row)
        keep = self.config.task == "token-classification"  # entities need offsets and tokens
        return Tokens(ids, unknown, encodings if keep else None)


def _check_text(text: str, where: str) -> None:
    if not text:
        raise InferError(f"{where}: empty string; every text needs at least one token")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Bytes that are not UTF-8 in a JSON body reach here as lone surrogates
        # (strictjson), and so does a "\ud800" escape, which JSON allows.
        raise InferError(f"{where}: not valid UTF-8 text (character {exc.start}); send UTF-8") from None


def unknown_id(model: dict) -> int | None:
    """The unknown token's id from tokenizer.json's "model" (the compiler's drift baseline reads
    it the same way): Unigram models give unk_id; WordPiece and BPE name unk_token in their vocab.
    None when the tokenizer has none (byte-level BPE maps every byte)."""
    if isinstance(model.get("unk_id"), int):
        return model["unk_id"]
    unk, vocab = model.get("unk_token"), model.get("vocab")
    found = vocab.get(unk) if isinstance(unk, str) and isinstance(vocab, dict) else None
    return found if isinstance(found, int) else None


def fixed_seq(config: RuntimeConfig) -> int:
    """The sequence length a text model is fixed at (an edge model converted at model.max_length:
    runtime.json gives its token inputs a numeric dim 1); 0 when the sequence axis is dynamic."""
    if config.text is None:
        return 0
    shapes = [t.shape for t in config.inputs if t.name in config.text.model_inputs and len(t.shape) == 2]
    return max((s[1] for s in shapes), default=0) if all(s[1] > 0 for s in shapes) else 0


def pad(rows: list[np.ndarray], config: TextConfig, width: int = 0) -> dict[str, np.ndarray]:
    """The model's inputs for these rows, padded with pad_id to the longest row (to `width`, a
    fixed sequence length, when the model has one)."""
    longest = max(max(len(r) for r in rows), width)
    ids = np.full((len(rows), longest), config.pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), longest), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    tensors = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {name: tensors[name] for name in config.model_inputs}
