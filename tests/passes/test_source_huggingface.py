"""The huggingface loader: the torch module (AutoModel + sentence-transformers pooling and
Normalize, or a classifier's logits) equals the model run through its own library, on real
sentences; text data is tokenized with the model's tokenizer.json; the digest follows the files
that decide behaviour."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from compiler.errors import SpecError
from compiler.frontend import load_spec
from compiler.passes.data import load_dataset
from compiler.passes.load import load_model, reference_outputs
from tests.text_models import MINILM_EXAMPLE, minilm_folder, text_spec, tiny_bert


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _module_outputs(spec, data) -> np.ndarray:
    model = load_model(spec)
    with torch.no_grad():
        return model.module(*[torch.from_numpy(data.inputs[t.name]) for t in spec.model.inputs]).numpy()


def test_minilm_module_equals_sentence_transformers_encode_on_real_sentences():
    minilm_folder()
    spec = load_spec(MINILM_EXAMPLE / "deploy.yaml")
    data = load_dataset(spec, "evaluation").take(96)
    ours = _module_outputs(spec, data)
    theirs = reference_outputs(load_model(spec), data.inputs, spec, data.texts)[0]  # SentenceTransformer.encode
    assert ours.shape == theirs.shape == (96, 384)
    assert _cosines(ours, theirs).min() > 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)  # the Normalize module is in the graph


@pytest.mark.parametrize("pooling, normalize", [("cls", True), ("max", False), ("mean_sqrt_len_tokens", True),
                                                (["cls", "mean"], False)])
def test_each_pooling_mode_equals_sentence_transformers(tmp_path, pooling, normalize):
    folder = tiny_bert(tmp_path / "model", pooling=pooling, normalize=normalize, seed=3)
    spec = load_spec(text_spec(folder))
    data = load_dataset(spec, "evaluation")
    assert data.inputs["attention_mask"].min() == 0  # padded: the pooling must mask it
    ours = _module_outputs(spec, data)
    theirs = reference_outputs(load_model(spec), data.inputs, spec, data.texts)[0]
    assert ours.shape == theirs.shape and _cosines(ours, theirs).min() > 0.9999


def test_a_classifier_gives_the_transformers_logits(tmp_path):
    folder = tiny_bert(tmp_path / "model", classifier=True, seed=4)
    rows = [{"text": s, "label": i % 3} for i, s in enumerate(["good", "bad film", "it was fine, I suppose", "awful"])]
    spec = load_spec(text_spec(folder, "text-classification", rows=rows))
    data = load_dataset(spec, "evaluation")
    assert data.labels.tolist() == [0, 1, 2, 0]
    ours = _module_outputs(spec, data)
    theirs = reference_outputs(load_model(spec), data.inputs, spec, data.texts)[0]
    assert ours.shape == (4, 3) and np.allclose(ours, theirs, atol=1e-5)


def test_a_token_classifier_gives_the_transformers_logits_per_token(tmp_path):
    folder = tiny_bert(tmp_path / "model", tokens=True, seed=5)
    spec = load_spec(text_spec(folder, "token-classification"))
    data = load_dataset(spec, "evaluation")
    assert data.labels is None and data.inputs["attention_mask"].min() == 0
    ours = _module_outputs(spec, data)
    theirs = reference_outputs(load_model(spec), data.inputs, spec, data.texts)[0]
    assert ours.shape == theirs.shape == (5, data.inputs["input_ids"].shape[1], 6)
    assert np.allclose(ours, theirs, atol=1e-5)


def test_token_agreement_counts_real_tokens_only(tmp_path):
    from compiler.passes.verify import parity

    folder = tiny_bert(tmp_path / "model", tokens=True, seed=5)
    spec = load_spec(text_spec(folder, "token-classification"))
    data = load_dataset(spec, "evaluation")
    ref = reference_outputs(load_model(spec), data.inputs, spec, data.texts)[0]
    out = ref.copy()
    pad = data.inputs["attention_mask"] == 0
    out[pad] = -ref[pad]  # other labels at padding only: agreement stays whole
    assert parity("x", [out], [ref], data, "token-classification", None).top1_agreement == 1.0
    real = np.argwhere(~pad)[0]
    out[tuple(real)] = -ref[tuple(real)]  # one real token disagrees
    assert parity("x", [out], [ref], data, "token-classification", None).top1_agreement == \
        round(1 - 1 / int((~pad).sum()), 6)


def test_a_label_line_is_refused_for_token_classification(tmp_path):
    folder = tiny_bert(tmp_path / "model", tokens=True, seed=5)
    with pytest.raises(SpecError) as err:
        load_spec(text_spec(folder, "token-classification", rows=[{"text": "Ada", "label": "B-PER"}]))
    assert "text-classification" in str(err.value)


def test_longer_text_than_max_length_is_an_error_or_truncated(tmp_path):
    folder = tiny_bert(tmp_path / "model")
    rows = [{"text": "short"}, {"text": " ".join(["word"] * 100)}]
    spec_path = text_spec(folder, rows=rows)
    with pytest.raises(SpecError) as err:
        load_dataset(load_spec(spec_path), "evaluation")
    assert "sample 2" in str(err.value) and "102 tokens" in str(err.value) and "model.truncation" in str(err.value)
    data = load_dataset(load_spec(spec_path, ["model.truncation=truncate"]), "evaluation")
    assert data.inputs["input_ids"].shape == (2, 64) and data.inputs["attention_mask"][1].sum() == 64


def test_the_digest_follows_the_pooling_files(tmp_path):
    folder = tiny_bert(tmp_path / "model")
    spec = load_spec(text_spec(folder))
    first = load_model(spec).digest
    assert load_model(spec).digest == first
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "cls"}))
    assert load_model(load_spec(text_spec(folder))).digest != first


def test_the_same_model_in_another_folder_has_the_same_digest(tmp_path):
    folder = tiny_bert(tmp_path / "a" / "model")
    other = shutil.copytree(folder, tmp_path / "b" / "model")
    assert load_model(load_spec(text_spec(folder))).digest == load_model(load_spec(text_spec(other))).digest
