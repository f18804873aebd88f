"""Token classification: per-token logits to entities with character offsets.

A token-classification model's output `logits` [batch, seq, num_labels] stays available; the
server adds the BYTES output `entities`: per text, one UTF-8 JSON list of
`{"entity_group", "score", "word", "start", "end"}`, aggregated as transformers'
TokenClassificationPipeline does with aggregation_strategy="simple" (softmax per token, special
tokens skipped, adjacent tokens of one tag joined unless a token starts with B-, the group's
score the mean of its tokens' scores, its word the tokenizer's decoding of its tokens, an
unknown token's word the text it covers, groups tagged O dropped). Offsets are the fast
tokenizer's, in characters of the text as sent.
"""

from __future__ import annotations

import json

import numpy as np

from .config import RuntimeConfig, TensorInfo
from .errors import InferError

ENTITIES = "entities"
TASK = "token-classification"
LOGITS = "logits"
IGNORED = ("O",)


def extra_outputs(config: RuntimeConfig) -> list[TensorInfo]:
    """Outputs the server adds to the model's (listed in metadata and accepted in requests)."""
    if config.text is None or config.text.task != TASK:
        return []
    return [TensorInfo(ENTITIES, "BYTES", [-1], ["batch"], None)]


def model_outputs(wanted: tuple[str, ...]) -> tuple[str, ...]:
    """What the backend must compute for the outputs a request wants."""
    if ENTITIES not in wanted:
        return wanted
    return tuple(dict.fromkeys([n for n in wanted if n != ENTITIES] + [LOGITS]))


def finish(req, wanted: tuple[str, ...], defaults: tuple[str, ...], results: dict, encoder) -> dict:
    """The request's outputs: entities added, logits of a text request cut to its own longest text
    (a batch pads to its longest row, which other requests may have set)."""
    tokens = req.tokens
    if tokens is not None and LOGITS in results:
        results[LOGITS] = results[LOGITS][:, :tokens.longest]
    if ENTITIES in wanted:
        if tokens is None or tokens.encodings is None:
            if wanted == defaults:  # a pre-tokenized request that named no outputs: its tensors only
                return {n: results[n] for n in wanted if n != ENTITIES}
            raise InferError(f"outputs: {ENTITIES!r} needs the text input (character offsets come from "
                             f"the text); a pre-tokenized request can ask for {LOGITS!r}")
        rows = [json.dumps(aggregate(text, enc, results[LOGITS][i], encoder), ensure_ascii=False).encode()
                for i, (text, enc) in enumerate(zip(req.texts, tokens.encodings))]
        arr = np.empty(len(rows), dtype=object)
        arr[:] = rows
        results[ENTITIES] = arr
    return {n: results[n] for n in wanted}


def aggregate(text: str, enc, logits: np.ndarray, encoder) -> list[dict]:
    """One text's entities (aggregation_strategy "simple")."""
    logits = logits[:len(enc.ids)].astype(np.float32)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    scores = shifted / shifted.sum(axis=-1, keepdims=True)
    labels = encoder.config.labels
    tokens: list[dict] = []
    for idx, (token, (start, end), special) in enumerate(zip(enc.tokens, enc.offsets, enc.special_tokens_mask)):
        if special:
            continue
        best = int(scores[idx].argmax())
        word = text[start:end] if enc.ids[idx] == encoder.unk_id else token
        tokens.append({"entity": labels[best], "score": float(scores[idx][best]), "word": word,
                       "start": start, "end": end})
    groups = [_group(run, encoder) for run in _runs(tokens)]
    return [g for g in groups if g["entity_group"] not in IGNORED]


def _tag(label: str) -> tuple[str, str]:
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label  # not in B-/I- form: continues a run of the same tag


def _runs(tokens: list[dict]) -> list[list[dict]]:
    runs: list[list[dict]] = []
    for token in tokens:
        bi, tag = _tag(token["entity"])
        if runs and bi != "B" and tag == _tag(runs[-1][-1]["entity"])[1]:
            runs[-1].append(token)
        else:
            runs.append([token])
    return runs


def _group(run: list[dict], encoder) -> dict:
    decoder = encoder.tokenizer.decoder
    words = [t["word"] for t in run]
    return {"entity_group": run[0]["entity"].split("-", 1)[-1],
            "score": float(np.mean([t["score"] for t in run])),
            "word": decoder.decode(words) if decoder is not None else " ".join(words),
            "start": run[0]["start"], "end": run[-1]["end"]}
