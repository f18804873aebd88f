"""AOTInductor: torch.export then compile into a self-contained `.pt2` package for the torch backend.

CPU here; CUDA when the build host has a GPU of the target's kind (see the GPU targets issue).
"""

from __future__ import annotations

import io
import logging
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from compiler.errors import PassError
from compiler.passes.base import Artifact, PassContext, library_versions
from compiler.passes.cache import sha256_file
from compiler.passes.data import synthesize
from compiler.passes.export_onnx import _dynamic_shapes
from compiler.passes.load import LoadedModel

NAME = "aoti"


def compile_aoti(model: LoadedModel, ctx: PassContext, device: str = "cpu") -> Artifact:
    spec = ctx.spec
    config = {"device": device, "batch": spec.model.example_batch, "inputs": [t.__dict__ for t in spec.model.inputs]}
    key = ctx.cache.key(NAME, config, {"model": model.digest}, library_versions("torch"))
    with ctx.timed(f"{NAME} ({device})") as event:
        entry = ctx.cache.get_or_run(key, lambda d: _compile(model, spec, d / "model.pt2", device))
        event.cached = entry.hit
    path = entry.file("model.pt2")
    return Artifact(f"aoti-{device}", "pt2", "fp32", path, sha256_file(path), (NAME,))


def _compile(model: LoadedModel, spec, out: Path, device: str) -> dict:
    import torch

    logging.getLogger("torch._inductor").setLevel(logging.ERROR)
    example = synthesize(spec, spec.model.example_batch)
    args = tuple(torch.from_numpy(example.inputs[t.name]).to(device) for t in spec.model.inputs)
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            program = torch.export.export(model.module.to(device), args, dynamic_shapes=_dynamic_shapes(spec.model.inputs))
            torch._inductor.aoti_compile_and_package(program, package_path=str(out))
    except Exception as exc:
        raise PassError(NAME, f"AOTInductor compile failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    finally:
        model.module.to("cpu")
    return {"device": device}
