"""bundle/: what an app developer takes to the device, and what the litert runtime serves.

<target>/bundle/
  model/model.tflite  the selected artifact (one copy: the runtime reads model/<artifact>,
                      and an app copies it into its assets; a second copy at the top would
                      only double the size)
  metadata.json       signature (names, dtypes, fixed shapes, int quantization), labels,
                      normalization, the verification numbers, sha256 digests
  runtime.json        so `python -m compiler.runtime --root bundle` serves it (OIP v2)
  README.md           loading it with LiteRT on Android (Kotlin) and in Python
<target>/bundle.tar.gz  the folder above as one deterministic archive (beside it, not inside:
                      an archive inside the folder it archives would be circular)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile

from compiler.emitters.base import EmitContext, Files, SelectedArtifact
from compiler.emitters.templating import render
from compiler.errors import DeploycError
from compiler.frontend.huggingface import TOKENIZER, tokenizer_file
from compiler.report_model import Report
from compiler.serialize import dumps
from compiler.tflite_signature import signature_details

MODEL = "model/model.tflite"
# How a Kotlin ByteBuffer writes/reads each dtype: (bytes, put, get, array type).
KOTLIN = {
    "float32": (4, "putFloat", "getFloat", "FloatArray"), "float16": (2, "putShort", "getShort", "ShortArray"),
    "int64": (8, "putLong", "getLong", "LongArray"), "int32": (4, "putInt", "getInt", "IntArray"),
    "int16": (2, "putShort", "getShort", "ShortArray"), "int8": (1, "put", "get", "ByteArray"),
    "uint8": (1, "put", "get", "ByteArray"), "bool": (1, "put", "get", "ByteArray"),
}
PARITY_KEYS = ("accuracy", "accuracy_drop", "cosine", "max_abs_error", "top1_agreement")


class BundleEmitter:
    name = "bundle"

    def emit(self, ctx: EmitContext) -> Files:
        sel = ctx.selected
        if sel is None:
            return {}
        if sel.format != "tflite":
            raise DeploycError(f"bundle: the selected artifact is {sel.format} ({sel.candidate}); "
                               "the bundle ships a .tflite (edge targets)")
        details = signature_details(sel.path)
        files: dict[str, bytes] = {}
        if ctx.runtime is not None:
            files["runtime.json"] = ctx.runtime.to_json().encode()
        files["README.md"] = readme(ctx, sel, details).encode()
        files["metadata.json"] = dumps(metadata(ctx, sel, details, files))
        model = {MODEL: sel.path.read_bytes()}
        tokenizer = tokenizer_file(ctx.spec)
        if tokenizer is not None:  # a text model: the app tokenizes with the model's own tokenizer
            model[f"model/{TOKENIZER}"] = tokenizer.read_bytes()
        out: Files = {f"bundle/{rel}": data for rel, data in files.items()}
        out[f"bundle/{MODEL}"] = sel.path
        if tokenizer is not None:
            out[f"bundle/model/{TOKENIZER}"] = tokenizer
        out["bundle.tar.gz"] = archive(f"{ctx.spec.name}-{ctx.spec.version}-{ctx.spec.target.name}",
                                       {**files, **model})
        return out


def _tensor(d) -> dict:
    quant = None if d.scale is None else {"scale": d.scale, "zero_point": d.zero_point}
    return {"name": d.name, "dtype": d.dtype, "shape": list(d.shape), "quantization": quant}


def metadata(ctx: EmitContext, sel: SelectedArtifact, details, files: dict[str, bytes]) -> dict:
    spec, edge = ctx.spec, ctx.spec.optimize.edge
    norm = spec.model.normalization
    digests = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    digests[MODEL] = sel.sha256
    return {
        "name": spec.name, "version": spec.version, "description": spec.description, "target": spec.target.name,
        "candidate": sel.candidate, "format": sel.format, "precision": sel.precision, "size_bytes": sel.size_bytes,
        "task": spec.model.task, "labels": list(spec.model.labels),
        "normalization": None if norm is None else {"mean": list(norm.mean), "std": list(norm.std)},
        "signature": {"key": "serving_default", "batch_size": details.batch, "fixed_dims": dict(sorted(edge.fixed_dims.items())),
                      "inputs": [_tensor(d) for d in details.inputs], "outputs": [_tensor(d) for d in details.outputs]},
        "verification": _verification(ctx.report, sel.candidate),
        "sha256": dict(sorted(digests.items())),
    }


def _verification(report: Report | None, candidate: str) -> dict | None:
    """Parity and accuracy of the shipped candidate from the build report. Latency stays out:
    it is a build-host measurement that varies per run, and the archive must not."""
    row = next((r for r in report.candidates if r.candidate == candidate), None) if report else None
    if row is None:
        return None
    return {"samples": report.verification.samples, "data": report.verification.origin,
            **{k: getattr(row, k) for k in PARITY_KEYS if getattr(row, k) is not None}}


def _ident(name: str) -> str:
    ident = re.sub(r"\W", "_", name)
    return ident if ident and not ident[0].isdigit() else f"t_{ident}"


def _readme_tensor(d) -> dict:
    size, put, get, array = KOTLIN.get(d.dtype, (1, "put", "get", "ByteArray"))
    count = 1
    for n in d.shape:
        count *= n
    return {"name": d.name, "ident": _ident(d.name), "dtype": d.dtype, "shape": list(d.shape), "count": count,
            "bytes": count * size, "putter": put, "getter": get, "array": array,
            "scale": d.scale, "zero_point": d.zero_point, "shape_py": repr(tuple(d.shape))}


def readme(ctx: EmitContext, sel: SelectedArtifact, details) -> str:
    spec = ctx.spec
    norm = spec.model.normalization
    return render(
        "bundle_README.md.j2", model_name=spec.name, version=spec.version, description=spec.description,
        target=spec.target.name, target_description=spec.target.description, candidate=sel.candidate,
        precision=sel.precision, sha256=sel.sha256, size_bytes=sel.size_bytes, batch=details.batch,
        fixed_dims=dict(sorted(spec.optimize.edge.fixed_dims.items())), labels=list(spec.model.labels),
        normalization=None if norm is None else {"mean": list(norm.mean), "std": list(norm.std)},
        inputs=[_readme_tensor(d) for d in details.inputs], outputs=[_readme_tensor(d) for d in details.outputs],
        verification=_verification(ctx.report, sel.candidate), runtime=ctx.runtime is not None,
        text=None if spec.model.source != "huggingface" else {
            "tokenizer": TOKENIZER, "max_length": spec.model.max_length, "truncation": spec.model.truncation,
            "pad_id": ctx.runtime.text.pad_id if ctx.runtime and ctx.runtime.text else 0},
        archive_root=f"{spec.name}-{spec.version}-{spec.target.name}")


def archive(root: str, files: dict[str, bytes]) -> bytes:
    """A byte-reproducible .tar.gz: sorted entries, fixed mtime (SOURCE_DATE_EPOCH or 0), uid/gid 0,
    no user names, fixed modes, and a gzip header without a name or a timestamp."""
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)
    dirs = {root} | {f"{root}/{p}" for rel in files for p in _parents(rel)}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        entries = [(d + "/", None) for d in dirs] + [(f"{root}/{rel}", data) for rel, data in files.items()]
        for name, data in sorted(entries):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[:i + 1]) for i in range(len(parts))]
