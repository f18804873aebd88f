"""Text data of a huggingface source as the model's tensors: the model's own fast tokenizer
(tokenizer.json, the `tokenizers` library, as the server uses it) turns each line of
`model.evaluation.text` / `model.calibration.text` into input_ids, attention_mask and
token_type_ids, padded with the tokenizer's pad id to the longest text (to model.max_length on
edge targets, whose shapes are fixed). A text longer than model.max_length is truncated when
model.truncation says so, else it is a spec error naming its line, as the server would refuse it.
"""

from __future__ import annotations

import numpy as np

from compiler.errors import SpecError, SpecIssue
from compiler.frontend.spec import Spec
from compiler.frontend.textdata import read_rows, sentence_labels


def tokenizer(folder, max_length: int, truncate: bool):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()  # padded below, to one length for the whole set
    if truncate:
        tok.enable_truncation(max_length)
    else:
        tok.no_truncation()
    return tok


def encode(spec: Spec, texts: list[str], where: str, names: tuple[str, ...], pad_id: int, folder) -> dict[str, np.ndarray]:
    m = spec.model
    encodings = tokenizer(folder, m.max_length, m.truncation == "truncate").encode_batch(texts)
    too_long = [(i, len(e.ids)) for i, e in enumerate(encodings) if len(e.ids) > m.max_length]
    if too_long:
        i, n = too_long[0]
        raise SpecError([SpecIssue(where, f"sample {i + 1} ({texts[i][:40]!r}...) is {n} tokens, more than "
                                          f"model.max_length ({m.max_length}); {len(too_long)} such samples"),
                         SpecIssue("model.truncation", "is error: raise model.max_length, shorten the text, or "
                                                       "set truncation: truncate")])
    length = m.max_length if spec.target.is_edge else max(len(e.ids) for e in encodings)
    arrays = {"input_ids": np.full((len(texts), length), pad_id, np.int64),
              "attention_mask": np.zeros((len(texts), length), np.int64),
              "token_type_ids": np.zeros((len(texts), length), np.int64)}
    for row, e in enumerate(encodings):
        n = len(e.ids)
        arrays["input_ids"][row, :n] = e.ids
        arrays["attention_mask"][row, :n] = e.attention_mask
        arrays["token_type_ids"][row, :n] = e.type_ids
    return {n: arrays[n] for n in names}


def load_text(spec: Spec, key: str) -> tuple[dict[str, np.ndarray], np.ndarray | None, list[str]]:
    """(inputs, labels, texts) of `model.<key>.text`; the texts are kept for the reference
    (sentence-transformers encodes them itself)."""
    from compiler.passes.source_huggingface import facts

    source = getattr(spec.model, key)
    where = f"model.{key}.text"
    texts, labels = read_rows(spec.resolve_path(source.text), where, sentence_labels(spec))
    if key == "calibration":
        texts, labels = texts[:source.samples], None if labels is None else labels[:source.samples]
    hf = facts(spec)
    inputs = encode(spec, texts, where, hf.model_inputs, hf.pad_id, hf.folder)
    return inputs, None if labels is None else np.asarray(labels, np.int64), texts
