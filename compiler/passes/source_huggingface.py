"""`model.source: huggingface`: the model folder as one torch module, and its own library's outputs.

The module is transformers' AutoModel plus what the sentence-transformers files define after it
(the pooling of 1_Pooling/config.json, masked by attention_mask, and Normalize when modules.json
lists it), written with the same torch ops as sentence-transformers' Pooling module, so export,
graph optimization, quantization and TFLite treat it like any PyTorch model. A classifier is
AutoModelForSequenceClassification (AutoModelForTokenClassification: one score row per token)
returning its logits.

Attention is loaded as transformers' "eager" implementation: its graph is the one onnxruntime's
transformer optimizer fuses into Attention nodes (docs/architecture.md, "Transformers").

The reference every candidate is judged against is the model run through its own library:
sentence-transformers' `encode` for embeddings, the transformers model for classifiers.
"""

from __future__ import annotations

import inspect
import io
import logging
import warnings
from contextlib import contextmanager, redirect_stderr

import numpy as np
import torch

from compiler.errors import PassError, SpecError, SpecIssue
from compiler.frontend.huggingface import HfModel, spec_model
from compiler.frontend.spec import Spec
from compiler.passes.model_digest import module_digest, recording_reads

NAME = "load"
REFERENCE_BATCH = 32


def facts(spec: Spec) -> HfModel:
    return spec_model(spec)


@contextmanager
def _quiet():
    """transformers' progress bars and notices go to stderr; the build prints its own events."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings(), redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)
        hf_logging.enable_progress_bar()


def _auto_class(task: str):
    import transformers

    heads = {"text-classification": "AutoModelForSequenceClassification",
             "token-classification": "AutoModelForTokenClassification"}
    return getattr(transformers, heads.get(task, "AutoModel"))


def build_module(spec: Spec, hf: HfModel) -> torch.nn.Module:
    cls = _auto_class(spec.model.task)
    try:
        with _quiet():
            inner = cls.from_pretrained(str(hf.folder), attn_implementation="eager", local_files_only=True)
    except Exception as exc:  # the folder's content is the user's input
        raise SpecError(SpecIssue("model.hub_id" if spec.model.hub_id else "model.path",
                                  f"transformers cannot load the folder: {type(exc).__name__}: "
                                  f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")) from None
    takes = set(inspect.signature(inner.forward).parameters)
    missing = [n for n in hf.model_inputs if n not in takes]
    if missing:
        raise PassError(NAME, f"{type(inner).__name__}.forward takes no {missing}, which config.json implies")
    if spec.model.task in ("text-classification", "token-classification"):
        module = TextClassifier(inner, hf.model_inputs)
    else:
        module = SentenceEncoder(inner, hf.model_inputs, hf.pooling, hf.normalize)
    return module.eval()


def load(spec: Spec) -> tuple[torch.nn.Module, str]:
    """The module and its digest, which covers the module (tensors, code) and the folder's small
    files (tokenizer, pooling, modules), which decide behaviour without being a tensor."""
    hf = facts(spec)
    files = [hf.folder / n for n in ("config.json", "tokenizer.json", "modules.json", "tokenizer_config.json",
                                     "special_tokens_map.json", "sentence_bert_config.json")]
    files += sorted(hf.folder.glob("*_Pooling/config.json"))
    with recording_reads() as seen:
        module = build_module(spec, hf)
    tag = f"huggingface:{spec.model.task}:{','.join(hf.pooling)}:{hf.normalize}"
    return module, module_digest(module, tag, [f for f in files if f.is_file()], seen)


class SentenceEncoder(torch.nn.Module):
    """AutoModel -> pooling over the attention mask -> L2 normalization (sentence-transformers)."""

    def __init__(self, transformer, names, pooling, normalize):
        super().__init__()
        self.transformer, self.names, self.pooling, self.normalize = transformer, tuple(names), tuple(pooling), normalize

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        tokens = self.transformer(**_feeds(self.names, input_ids, attention_mask, token_type_ids)).last_hidden_state
        pooled = torch.cat([pool(mode, tokens, attention_mask) for mode in self.pooling], dim=-1)
        return torch.nn.functional.normalize(pooled, p=2, dim=-1) if self.normalize else pooled


class TextClassifier(torch.nn.Module):
    """AutoModelFor{Sequence,Token}Classification -> logits."""

    def __init__(self, model, names):
        super().__init__()
        self.model, self.names = model, tuple(names)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        return self.model(**_feeds(self.names, input_ids, attention_mask, token_type_ids)).logits


def _feeds(names, input_ids, attention_mask, token_type_ids) -> dict:
    feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
    if "token_type_ids" in names:
        feeds["token_type_ids"] = token_type_ids
    return feeds


def pool(mode: str, tokens, attention_mask):
    """sentence-transformers' Pooling._forward_padded, mode by mode (no prompt, no token weights)."""
    if mode == "cls":
        index = attention_mask.to(torch.int).argmax(dim=1)
        gather = index.unsqueeze(-1).unsqueeze(1).expand(-1, 1, tokens.shape[-1])
        return torch.gather(tokens, 1, gather).squeeze(1)
    mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
    if mode == "max":
        return tokens.masked_fill(mask.expand_as(tokens) == 0, float("-inf")).max(dim=1).values
    total = (tokens * mask).sum(dim=1)
    count = torch.clamp(mask.sum(dim=1), min=1e-9)
    return total / (count if mode == "mean" else torch.sqrt(count))


# ---- the reference: the model through its own library ----------------------------------------

def reference_outputs(spec: Spec, texts: list[str], inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    hf = facts(spec)
    try:
        if spec.model.task in ("text-classification", "token-classification"):
            return [_classifier_reference(hf, spec.model.task, inputs)]
        return [_encode(spec, hf, texts)]
    except SpecError:
        raise
    except Exception as exc:
        raise PassError(NAME, f"the original model failed on the evaluation text: {type(exc).__name__}: {exc}") from None


def _encode(spec: Spec, hf: HfModel, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    with _quiet():
        st = SentenceTransformer(str(hf.folder), device="cpu", local_files_only=True)
        st.max_seq_length = spec.model.max_length  # the same truncation as the candidates' tokenization
        out = st.encode(texts, batch_size=REFERENCE_BATCH, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(out, dtype=np.float32)


def _classifier_reference(hf: HfModel, task: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """transformers' own classifier (its default attention), batch by batch on the evaluation ids."""
    with _quiet():
        model = _auto_class(task).from_pretrained(str(hf.folder), local_files_only=True).eval()
    rows = len(inputs["input_ids"])
    out = []
    with torch.no_grad():
        for start in range(0, rows, REFERENCE_BATCH):
            feeds = {n: torch.from_numpy(inputs[n][start:start + REFERENCE_BATCH]) for n in hf.model_inputs}
            out.append(model(**feeds).logits.float().numpy())
    return np.concatenate(out)
