"""`model.source: huggingface`: find the model folder and read what it is from its own files.

Only JSON is read here (config.json, modules.json, 1_Pooling/config.json), never torch or
transformers, so `deployc validate` stays light. A folder is `model.path` (inside the spec's
folder, like every path) or `model.hub_id` + `model.revision` found in the local Hugging Face
cache only: a build never downloads, so a missing model is a spec error, not a network timeout.

The user writes no signature for these sources: `derive` fills model.inputs/outputs (and the
labels of a classifier) into the document before it is frozen, so every later stage (export,
data, runtime.json, `explain`) reads them like a written one. The passes read the same facts
through `read_model`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from compiler.errors import SpecError, SpecIssue

TASKS = ("sentence-embedding", "text-classification", "token-classification")
NOT_YET: tuple[str, ...] = ()
GENERATIVE = ("text-generation",)  # compiled by onnxruntime-genai (frontend/genai.py) or served by vLLM
# The transformers head each classification task needs (an architectures entry ends with it).
HEADS = {"text-classification": "ForSequenceClassification", "token-classification": "ForTokenClassification"}
# sentence-transformers pooling modes built here (mirrored with torch ops in passes/source_huggingface.py).
POOLING = ("cls", "max", "mean", "mean_sqrt_len_tokens")
_LEGACY_POOLING = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                   "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                   "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}
_ST_MODULES = {"Transformer", "Pooling", "Normalize"}
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER = "tokenizer.json"
DIMS = ("batch", "seq")


@dataclass(frozen=True)
class HfModel:
    """What the folder says the model is."""

    folder: Path
    model_type: str
    model_inputs: tuple[str, ...]  # input_ids, attention_mask[, token_type_ids], in forward's order
    hidden_size: int
    num_heads: int
    vocab_size: int
    type_vocab_size: int
    max_positions: int | None  # usable tokens per sequence; None when config.json does not say
    labels: tuple[str, ...]  # id2label order; () without a classifier head
    heads: tuple[str, ...]  # the classification tasks config.json's architectures can do
    pooling: tuple[str, ...]  # sentence-transformers pooling modes, in concatenation order
    normalize: bool
    pad_id: int


def model_folder(model: dict, base_dir: Path) -> Path:
    """The model's folder; a SpecError naming the key when it is not there."""
    from compiler.frontend.files import ALLOW_ENV, allowed_roots

    if model.get("hub_id"):
        return _from_cache(model["hub_id"], model.get("revision"))
    written = model.get("path")
    if not written:
        raise SpecError(SpecIssue("model.path", "source huggingface needs model.path (a folder in Hugging Face "
                                                "layout) or model.hub_id with model.revision"))
    folder = (base_dir / written).resolve()
    if not any(folder.is_relative_to(root) for root in allowed_roots(base_dir)):
        raise SpecError(SpecIssue("model.path", f"{written!r} is outside the spec's folder (resolved: {folder}); "
                                                f"run deployc with --allow-path DIR (or {ALLOW_ENV}) for that folder"))
    if not folder.is_dir():
        raise SpecError(SpecIssue("model.path", f"folder not found: {written!r} (looked in {folder.parent})"))
    return folder


def model_path(model: dict, base_dir: Path) -> Path:
    """model.path for text-generation: a folder (model_folder) or a .gguf file inside the allowed roots."""
    from compiler.frontend.files import ALLOW_ENV, allowed_roots

    written = model.get("path")
    if model.get("hub_id") or not written or not str(written).lower().endswith(".gguf"):
        return model_folder(model, base_dir)
    path = (base_dir / written).resolve()
    if not any(path.is_relative_to(root) for root in allowed_roots(base_dir)):
        raise SpecError(SpecIssue("model.path", f"{written!r} is outside the spec's folder (resolved: {path}); "
                                                f"run deployc with --allow-path DIR (or {ALLOW_ENV}) for that folder"))
    if not path.is_file():
        raise SpecError(SpecIssue("model.path", f"GGUF file not found: {written!r} (looked in {path.parent})"))
    return path


def engine_dims(path: Path, key: str):
    """The sizes (llm_config.LlmDims) of a model a GPU engine serves: a folder's config.json
    (weights and tokenizer not needed: vLLM loads them), or a GGUF file's metadata."""
    from compiler.frontend.llm_config import read_folder

    if path.is_file():
        from compiler.frontend.genai import read

        return read(path, key).dims
    return read_folder(path, key)[1]


def generation_model(spec):
    """A text-generation spec's model as compiler.frontend.genai reads it (folder or GGUF)."""
    from compiler.frontend.genai import read

    m = spec.model
    return read(model_path({"path": m.path, "hub_id": m.hub_id, "revision": m.revision}, spec.base_dir),
                "model.hub_id" if m.hub_id else "model.path")


def spec_folder(spec) -> Path:
    """The folder of a frozen spec's huggingface source (a compiler.frontend.spec.Spec)."""
    m = spec.model
    return model_folder({"path": m.path, "hub_id": m.hub_id, "revision": m.revision}, spec.base_dir)


def tokenizer_file(spec) -> Path | None:
    """The tokenizer.json that ships with a text model; None for other sources."""
    return spec_folder(spec) / TOKENIZER if spec.model.source == "huggingface" else None


def spec_model(spec) -> HfModel:
    return read_model(spec_folder(spec), "model.hub_id" if spec.model.hub_id else "model.path")


def _from_cache(hub_id: str, revision: str | None) -> Path:
    if not revision:
        raise SpecError(SpecIssue("model.revision", f"pin the revision of {hub_id} (a commit hash, tag or branch "
                                                    "in the local cache) so a build is reproducible"))
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:  # local_files_only: the cache or nothing, never the network
        return Path(snapshot_download(hub_id, revision=revision, local_files_only=True))
    except LocalEntryNotFoundError:
        raise SpecError(SpecIssue("model.hub_id", f"{hub_id} at revision {revision} is not in the local Hugging "
                                                  "Face cache (builds are offline); download it first, e.g. "
                                                  f"`hf download {hub_id} --revision {revision}`, or use "
                                                  "model.path")) from None
    except Exception as exc:  # a malformed cache: name it, no traceback
        raise SpecError(SpecIssue("model.hub_id", f"cannot read {hub_id} from the local Hugging Face cache: "
                                                  f"{type(exc).__name__}: {exc}")) from None


def _json(folder: Path, name: str, key: str) -> dict | list | None:
    path = folder / name
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(SpecIssue(key, f"{name} in the model folder is not valid JSON: {exc}")) from None


def read_model(folder: Path, key: str = "model.path") -> HfModel:
    """Read and check the folder's files: config, weights, tokenizer, sentence-transformers modules."""
    config = _json(folder, "config.json", key)
    if not isinstance(config, dict):
        raise SpecError(SpecIssue(key, f"{folder.name} has no config.json: not a Hugging Face model folder"))
    missing = []
    if not any((folder / w).is_file() for w in WEIGHTS):
        missing.append(f"weights ({' or '.join(WEIGHTS[::2])})")
    if not (folder / TOKENIZER).is_file():
        missing.append(f"a fast tokenizer ({TOKENIZER}: the server tokenizes with it; "
                       "AutoTokenizer.from_pretrained(...).save_pretrained(folder) writes one)")
    if missing:
        raise SpecError(SpecIssue(key, f"the model folder {folder.name} lacks {' and '.join(missing)}"))
    pooling, normalize = _sentence_modules(folder, config, key)
    arch = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    id2label = config.get("id2label") or {}
    labels = tuple(str(id2label[k]) for k in sorted(id2label, key=lambda k: int(k))) if isinstance(id2label, dict) else ()
    types = int(config.get("type_vocab_size") or 0)
    model_type = str(config.get("model_type", ""))
    return HfModel(folder, model_type,
                   ("input_ids", "attention_mask") + (("token_type_ids",) if types > 0 else ()),
                   int(config.get("hidden_size") or config.get("dim") or 0),
                   int(config.get("num_attention_heads") or config.get("n_heads") or 0),
                   int(config.get("vocab_size") or 0), types, _positions(config, model_type), labels,
                   tuple(t for t, head in HEADS.items() if any(a.endswith(head) for a in arch)), pooling, normalize,
                   _pad_id(folder, config))


def _positions(config: dict, model_type: str) -> int | None:
    n = config.get("max_position_embeddings")
    if not isinstance(n, int):
        return None
    # RoBERTa-style embeddings number positions from pad_token_id + 1.
    return n - int(config.get("pad_token_id") or 0) - 1 if "roberta" in model_type else n


def _pad_id(folder: Path, config: dict) -> int:
    tokenizer = _json(folder, TOKENIZER, "model.path") or {}
    padding = tokenizer.get("padding") if isinstance(tokenizer, dict) else None
    if isinstance(padding, dict) and isinstance(padding.get("pad_id"), int):
        return padding["pad_id"]
    vocab = ((tokenizer.get("model") or {}).get("vocab") or {}) if isinstance(tokenizer, dict) else {}
    for token in ("[PAD]", "<pad>"):
        if isinstance(vocab, dict) and isinstance(vocab.get(token), int):
            return vocab[token]
    return int(config.get("pad_token_id") or 0)


def unknown_id(folder: Path) -> int | None:
    """The id of the tokenizer's unknown token, read as the server reads it; None without one."""
    from compiler.runtime.text import unknown_id as from_model

    tokenizer = _json(folder, TOKENIZER, "model.path") or {}
    model = tokenizer.get("model") if isinstance(tokenizer, dict) else None
    return from_model(model) if isinstance(model, dict) else None


def _sentence_modules(folder: Path, config: dict, key: str) -> tuple[tuple[str, ...], bool]:
    """Pooling modes and normalization from modules.json; without it, what sentence-transformers
    does for a plain transformers folder (mean pooling, no normalization)."""
    modules = _json(folder, "modules.json", key)
    if modules is None:
        return ("mean",), False
    if not isinstance(modules, list):
        raise SpecError(SpecIssue(key, "modules.json in the model folder is not a list of modules"))
    kinds = [(str(m.get("type", "")).rsplit(".", 1)[-1], str(m.get("path", ""))) for m in modules if isinstance(m, dict)]
    unknown = [k for k, _ in kinds if k not in _ST_MODULES]
    if unknown:
        raise SpecError(SpecIssue(key, f"modules.json has {', '.join(unknown)}: deployc builds Transformer, "
                                       "Pooling and Normalize modules (not supported yet)"))
    pool_path = next((p for k, p in kinds if k == "Pooling"), None)
    if pool_path is None:
        raise SpecError(SpecIssue(key, "modules.json has no Pooling module: the model makes token embeddings, "
                                       "not a sentence embedding"))
    return _pooling(folder, pool_path, key), any(k == "Normalize" for k, _ in kinds)


def _pooling(folder: Path, sub: str, key: str) -> tuple[str, ...]:
    name = f"{sub}/config.json" if sub else "config.json"
    cfg = _json(folder, name, key)
    if not isinstance(cfg, dict):
        raise SpecError(SpecIssue(key, f"modules.json names a Pooling module in '{sub}', which has no config.json"))
    if "pooling_mode" in cfg:
        mode = cfg["pooling_mode"]
        modes = tuple(mode) if isinstance(mode, list) else (mode,)
    else:
        modes = tuple(m for k, m in _LEGACY_POOLING.items() if cfg.get(k)) or ("mean",)
    for mode in modes:
        if mode not in POOLING:
            known = mode in _LEGACY_POOLING.values()
            raise SpecError(SpecIssue(key, f"{name}: pooling mode {mode!r} is "
                                           + ("not supported yet" if known else "unknown")
                                           + f" (deployc builds: {', '.join(POOLING)})"))
    return modes


def signature(hf: HfModel, task: str) -> tuple[list[dict], list[dict]]:
    """The derived model.inputs and model.outputs, as the schema writes them."""
    ranges = {"input_ids": [0, max(hf.vocab_size - 1, 0)], "attention_mask": [0, 1],
              "token_type_ids": [0, max(hf.type_vocab_size - 1, 0)]}
    inputs = [{"name": n, "dtype": "int64", "shape": list(DIMS), "range": ranges[n]} for n in hf.model_inputs]
    if task == "text-classification":
        outputs = [{"name": "logits", "dtype": "float32", "shape": ["batch", len(hf.labels)]}]
    elif task == "token-classification":  # one score row per token
        outputs = [{"name": "logits", "dtype": "float32", "shape": ["batch", "seq", len(hf.labels)]}]
    else:
        outputs = [{"name": "embedding", "dtype": "float32", "shape": ["batch", hf.hidden_size * len(hf.pooling)]}]
    return inputs, outputs


def derive(document: dict, base_dir: Path) -> None:
    """Fill the derived signature into a validated document (before it is frozen). Raises the
    SpecError of every problem found."""
    model = document["model"]
    if model.get("source") != "huggingface":
        issues = [SpecIssue(f"model.{k}", f"required for model.source {model.get('source')}")
                  for k in ("inputs", "outputs") if not model.get(k)]
        issues += [SpecIssue(f"model.{k}", "only for model.source huggingface")
                   for k in ("path", "hub_id", "revision") if model.get(k)]
        if model.get("task") in TASKS + NOT_YET + GENERATIVE:
            issues.append(SpecIssue("model.task", f"{model['task']} is for model.source huggingface; "
                                                  "a pytorch or onnx model uses classification, embedding, ..."))
        if issues:
            raise SpecError(issues)
        return
    if model.get("task") == "text-generation" and (document.get("serve") or {}).get("engine") == "vllm":
        from compiler.frontend.llm_config import derive_engine_model  # vLLM: config.json or GGUF metadata only

        key = "model.hub_id" if model.get("hub_id") else "model.path"
        return derive_engine_model(document, engine_dims(model_path(model, base_dir), key))
    if model.get("task") in GENERATIVE:
        from compiler.frontend.genai import derive as derive_generation  # onnxruntime-genai's builder

        return derive_generation(document, model_path(model, base_dir))
    _check_keys(model)
    hf = read_model(model_folder(model, base_dir), "model.hub_id" if model.get("hub_id") else "model.path")
    _check_task(model, hf)
    model["inputs"], model["outputs"] = signature(hf, model["task"])
    model["labels"] = list(hf.labels) if model["task"] in HEADS else []
    _fix_edge_length(document, model["max_length"])


def _check_keys(model: dict) -> None:
    issues = [SpecIssue(f"model.{k}", "derived from the model's own files for model.source huggingface; "
                                      "remove it") for k in ("inputs", "outputs", "labels") if model.get(k)]
    issues += [SpecIssue(f"model.{k}", "not for model.source huggingface (the folder holds the model)")
               for k in ("factory", "weights", "onnx") if model.get(k)]
    if model.get("path") and model.get("hub_id"):
        issues.append(SpecIssue("model.hub_id", "give model.path or model.hub_id, not both"))
    if model.get("revision") and not model.get("hub_id"):
        issues.append(SpecIssue("model.revision", "pins a model.hub_id; a model.path folder has no revision"))
    for key in ("calibration", "evaluation"):
        src = model.get(key)
        if src and not src.get("text"):
            issues.append(SpecIssue(f"model.{key}", "a huggingface source reads text: give "
                                                    f"model.{key}.text (JSON lines of {{\"text\": ...}})"))
    if not (model.get("evaluation") or model.get("calibration")):
        issues.append(SpecIssue("model.evaluation", "a huggingface source is verified on text: give "
                                                    "model.evaluation.text (JSON lines of {\"text\": ...})"))
    if issues:
        raise SpecError(issues)


def _check_task(model: dict, hf: HfModel) -> None:
    task = model["task"]
    if task in NOT_YET:
        raise SpecError(SpecIssue("model.task", f"{task} is not supported yet (supported: {', '.join(TASKS)})"))
    if task not in TASKS:
        raise SpecError(SpecIssue("model.task", f"a huggingface source needs one of {', '.join(TASKS)} "
                                                f"(got {task!r})"))
    if task in HEADS and not (task in hf.heads and hf.labels):
        kind = HEADS[task].removeprefix("For").replace("Classification", "-classification").lower()
        raise SpecError(SpecIssue("model.task", f"{task} needs a {kind} head (config.json architectures "
                                                f"*{HEADS[task]}) and config.json id2label; {hf.folder.name} is a "
                                                f"{hf.model_type or 'transformers'} model without one"))
    if not hf.hidden_size or not hf.vocab_size:
        raise SpecError(SpecIssue("model.path", "config.json gives no hidden_size or vocab_size"))
    if hf.max_positions is not None and model["max_length"] > hf.max_positions:
        raise SpecError(SpecIssue("model.max_length", f"{model['max_length']} tokens, but the model has "
                                                      f"{hf.max_positions} positions (config.json "
                                                      "max_position_embeddings)"))


def _fix_edge_length(document: dict, max_length: int) -> None:
    """TFLite converts at a fixed sequence length: model.max_length, unless the spec fixes seq."""
    target = document.get("target") or {}
    if target.get("kind") != "edge":
        return
    fixed = document.setdefault("optimize", {}).setdefault("edge", {}).setdefault("fixed_dims", {})
    if fixed.get("seq", max_length) != max_length:
        raise SpecError(SpecIssue("optimize.edge.fixed_dims.seq", f"{fixed['seq']} differs from model.max_length "
                                                                  f"({max_length}): a text model's fixed length is "
                                                                  "model.max_length; set that instead"))
    fixed["seq"] = max_length
