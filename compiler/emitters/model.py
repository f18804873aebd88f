"""model/: the selected artifact and a small JSON that says what it is."""

from __future__ import annotations

from compiler.emitters.base import EmitContext, Files
from compiler.frontend.huggingface import TOKENIZER, tokenizer_file
from compiler.serialize import dumps


class ModelEmitter:
    name = "model"

    def emit(self, ctx: EmitContext) -> Files:
        sel = ctx.selected
        if sel is None:
            return {}
        m = ctx.spec.model
        info = {
            "name": ctx.spec.name, "version": ctx.spec.version, "candidate": sel.candidate,
            "file": sel.file, "format": sel.format, "precision": sel.precision,
            "sha256": sel.sha256, "size_bytes": sel.size_bytes, "task": m.task, "labels": list(m.labels),
            "inputs": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in m.inputs],
            "outputs": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in m.outputs],
        }
        files = {"model/model.json": dumps(info), **model_files(sel, "model")}
        tokenizer = tokenizer_file(ctx.spec) if sel.format != "genai" else None
        if tokenizer is not None:  # a text model: the server tokenizes with the model's own tokenizer
            files[f"model/{TOKENIZER}"] = tokenizer
        return files


def model_files(sel, under: str) -> Files:
    """The selected artifact under `under`/: one file, or an onnxruntime-genai folder's files
    (the builder's output as it wrote it: model, genai_config.json, tokenizer, chat template)."""
    if sel.format != "genai":
        return {f"{under}/{sel.file}": sel.path}
    return {f"{under}/{sel.file}/{p.name}": p for p in sorted(sel.path.iterdir()) if p.is_file()}
