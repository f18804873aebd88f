"""Encoder families other than BERT, deployed from their Hugging Face folders the same way: tiny
random DistilBERT, RoBERTa, XLM-RoBERTa, MPNet, ELECTRA, ALBERT and DeBERTa-v2 models (mechanics,
not accuracy), built for cpu-x86, and the built image's tokenizer and session giving the vectors
sentence-transformers gives (or the transformers classifier's labels) on text."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compiler.build import build
from compiler.frontend import load_spec
from compiler.passes.cache import Cache
from tests.text_models import ENCODER_FAMILIES, SENTENCES, text_spec, tiny_encoder

pytestmark = pytest.mark.slow


def _runtime(tree):
    """texts -> the selected artifact's outputs, as the runtime serves them (its tokenizer, padding, session)."""
    from compiler.runtime import backend_onnx
    from compiler.runtime.config import RuntimeConfig
    from compiler.runtime.text import TextEncoder, pad

    image = tree / "image"
    config = RuntimeConfig.load(image / "runtime.json")
    backend = backend_onnx.load(config, image / "model" / config.artifact)
    text = TextEncoder(config.text, image / "model")
    output = config.outputs[0].name
    return lambda texts: backend.run(pad(text.encode(texts, "input").ids, config.text), (output,))[output]


def _build(tmp_path, cache_dir, model_type: str, task: str):
    folder = tiny_encoder(tmp_path / "model", model_type, classifier=task == "text-classification")
    build(load_spec(text_spec(folder, task)), tmp_path / "out", Cache(cache_dir))
    tree = tmp_path / "out" / "cpu-x86"
    report = json.loads((tree / "report.json").read_text())
    selected = next(c for c in report["candidates"] if c["candidate"] == report["selected"]["candidate"])
    assert selected["passed"], selected
    return folder, tree


@pytest.mark.parametrize("model_type", sorted(ENCODER_FAMILIES))
def test_sentence_embedding_serves_what_sentence_transformers_encodes(tmp_path, cache_dir, model_type):
    from sentence_transformers import SentenceTransformer

    folder, tree = _build(tmp_path, cache_dir, model_type, "sentence-embedding")
    want = SentenceTransformer(str(folder), device="cpu").encode(SENTENCES, convert_to_numpy=True)
    got = _runtime(tree)(SENTENCES)
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    assert got.shape == want.shape and cos.min() >= 0.99, cos


@pytest.mark.parametrize("model_type", ["distilbert", "mpnet", "deberta-v2"])  # no token_type_ids input
def test_text_classification_serves_the_transformers_labels(tmp_path, cache_dir, model_type):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder, tree = _build(tmp_path, cache_dir, model_type, "text-classification")
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        batch = AutoTokenizer.from_pretrained(str(folder))(SENTENCES, padding=True, return_tensors="pt")
        want = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.numpy()
    got = _runtime(tree)(SENTENCES)
    assert got.shape == want.shape and (got.argmax(1) == want.argmax(1)).all()
    np.testing.assert_allclose(got, want, atol=2e-2)
