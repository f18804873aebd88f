"""A served text model exports the unknown-token share against its build-time baseline: known and
unknown tokens counted in the two buckets of `text:unknown_tokens` (compiler/runtime/drift.py),
the baseline shares as gauges, next to tokens per text; a real server on the tiny BERT."""

from __future__ import annotations

from compiler.runtime.config import DriftBaseline
from compiler.runtime.drift import TEXT_INPUT, UNKNOWN_EDGES, unknown_input

from .helpers import MODEL, metric_value
from .text_model import Reference, start


def test_unknown_token_share_is_counted_against_its_baseline(tmp_path, artifact):
    folder, _ = artifact
    reference = Reference(folder / "model.onnx", folder / "tokenizer.json")
    unknown = unknown_input(TEXT_INPUT)
    drift = {TEXT_INPUT: DriftBaseline(edges=[8.0], ratios=[0.6, 0.4]),
             unknown: DriftBaseline(edges=list(UNKNOWN_EDGES), ratios=[0.99, 0.01])}
    srv = start(tmp_path, artifact, drift=drift)
    try:
        texts = ["🦜 and 🦜", "plain words"]  # each parrot is [UNK] to MiniLM's WordPiece
        status, _ = srv.post_json("/v1/embeddings", {"model": MODEL, "input": texts})
        assert status == 200
        doc = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["🦜"]}]}
        status, _ = srv.post_json(f"/v2/models/{MODEL}/infer", doc)
        assert status == 200
        metrics = srv.metrics_text()
    finally:
        srv.stop()
    tokens = sum(len(reference.ids(t)) for t in texts + ["🦜"])
    counted = {b: metric_value(metrics, "deployc_input_bucket_total", {"input": unknown, "bucket": b}) for b in "01"}
    assert counted == {"0": tokens - 3, "1": 3}
    assert metric_value(metrics, "deployc_tokens_total") == tokens
    assert metric_value(metrics, "deployc_unknown_tokens_total") == 3
    assert metric_value(metrics, "deployc_input_baseline_ratio", {"input": unknown, "bucket": "1"}) == 0.01
    assert metric_value(metrics, "deployc_request_tokens_count") == 2  # tokens per request: two requests


def test_unknown_tokens_are_found_in_unigram_and_wordpiece_tokenizers(tmp_path, artifact):
    """The server and the build-time baseline read the unknown token alike (text.unknown_id):
    Unigram (sentencepiece models) names it by id, WordPiece by token."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    from compiler.frontend.huggingface import unknown_id as folder_unknown_id
    from compiler.runtime.config import TextConfig
    from compiler.runtime.text import TextEncoder

    folder, _ = artifact
    assert folder_unknown_id(folder) == 100  # MiniLM's [UNK]
    unigram = Tokenizer(models.Unigram([("<unk>", 0.0), ("▁a", -1.0), ("▁b", -1.5), ("a", -2.0), ("b", -2.0)],
                                       unk_id=0))
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    model_dir = tmp_path / "unigram"
    model_dir.mkdir()
    unigram.save(str(model_dir / "tokenizer.json"))
    assert folder_unknown_id(model_dir) == 0
    config = TextConfig(input="text", tokenizer="tokenizer.json", max_length=16, truncation="error",
                        task="sentence-embedding", labels=[], pad_id=0, model_inputs=["input_ids", "attention_mask"])
    tokens = TextEncoder(config, model_dir).encode(["a b z"], "input")
    assert tokens.unknown == 1 and tokens.count == len(tokens.ids[0])


def test_text_pads_to_a_fixed_sequence_length(artifact):
    """An edge model converted at model.max_length takes exactly that many tokens per row."""
    import numpy as np

    from compiler.runtime.config import TensorInfo
    from compiler.runtime.text import fixed_seq, pad

    from .text_model import text_config

    _, vocab = artifact
    dynamic = text_config(vocab)
    assert fixed_seq(dynamic) == 0
    fixed = replace_inputs(dynamic, [TensorInfo(t.name, t.datatype, [-1, 64], t.dim_names, t.range)
                                     for t in dynamic.inputs])
    assert fixed_seq(fixed) == 64
    tensors = pad([np.array([101, 7, 102]), np.array([101, 102])], fixed.text, fixed_seq(fixed))
    assert tensors["input_ids"].shape == (2, 64) and tensors["attention_mask"].sum() == 5
    assert pad([np.array([101, 102])], dynamic.text, fixed_seq(dynamic))["input_ids"].shape == (1, 2)


def replace_inputs(config, inputs):
    from dataclasses import replace

    return replace(config, inputs=inputs)
