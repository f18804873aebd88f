"""The Hugging Face folder a text-generation build starts from: the spec's folder as it is, or a
GGUF file dequantized to an fp32 folder in the pass cache.

GGUF: transformers reads the file (config, tokenizer with its chat template, tensors) and
dequantizes; `from_pretrained(gguf_file=...)` would also need the accelerate package, so the
tensors go through transformers' own `load_gguf_checkpoint` into a model built `from_config`.
`save_pretrained` then writes a plain folder; config.json must not keep `quantization_config`,
or onnxruntime-genai's builder stops with "The gguf quantized model is not currently supported".
"""

from __future__ import annotations

import json
from pathlib import Path

from compiler.digest import sha256_file
from compiler.frontend.genai import GenModel
from compiler.passes.base import PassContext, library_versions


def source_folder(gen: GenModel, ctx: PassContext) -> tuple[Path, str]:
    """(the Hugging Face folder, its content digest)."""
    if not gen.gguf:
        from compiler.digest import files_digest

        files = {p.relative_to(gen.path).as_posix(): p for p in sorted(gen.path.rglob("*")) if p.is_file()}
        return gen.path, files_digest(files)
    digest = sha256_file(gen.path)
    key = ctx.cache.key("gguf-dequantize", {"dtype": "float32"}, {"gguf": digest},
                        library_versions("transformers", "gguf", "torch", "tokenizers"))
    with ctx.timed("gguf-dequantize") as event:
        entry = ctx.cache.get_or_run(key, lambda folder: _dequantize(gen.path, folder / "hf"))
        event.cached = entry.hit
        event.detail = f"{gen.path.name} -> fp32 Hugging Face folder"
    return entry.file("hf"), entry.meta["digest"]


def _dequantize(gguf: Path, out: Path) -> dict:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
    from compiler.digest import files_digest

    folder, name = str(gguf.parent), gguf.name
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tensors = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model)["tensors"]
    result = model.load_state_dict(tensors, strict=False)
    missing = [k for k in result.missing_keys if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or result.unexpected_keys:
        raise ValueError(f"{name}: tensors missing {missing[:5]}, unexpected {list(result.unexpected_keys)[:5]}")
    model.save_pretrained(out)
    del model, tensors
    path = out / "config.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("quantization_config", None)
    data.pop("_model_name_or_path", None)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    files = {p.relative_to(out).as_posix(): p for p in sorted(out.rglob("*")) if p.is_file()}
    return {"digest": files_digest(files)}
