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
        files = {f"model/{sel.file}": sel.path, "model/model.json": dumps(info)}
        tokenizer = tokenizer_file(ctx.spec)
        if tokenizer is not None:  # a text model: the server tokenizes with the model's own tokenizer
            files[f"model/{TOKENIZER}"] = tokenizer
        return files
