"""Magnitude pruning (torch.nn.utils.prune, global L1, unstructured) then ONNX export.

Honest note carried into the report: unstructured sparsity zeroes weights but dense kernels
still multiply the zeros, so it gives no speed-up; it can help compressed size only.
"""

from __future__ import annotations

import copy
import hashlib

from compiler.candidates import Candidate
from compiler.passes.base import Artifact, PassContext
from compiler.passes.export_onnx import export
from compiler.passes.load import LoadedModel

NAME = "prune"
NOTE = ("unstructured magnitude pruning zeroes weights, but dense kernels still multiply the "
        "zeros: expect no speed-up, only a better-compressing file")


def pruned_candidate(model: LoadedModel, amount: float, ctx: PassContext) -> Artifact:
    import torch
    from torch.nn.utils import prune

    with ctx.timed(f"{NAME} ({amount:.0%})") as event:
        module = copy.deepcopy(model.module)
        params = [(m, "weight") for m in module.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.Conv1d))]
        prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
        for m, name in params:
            prune.remove(m, name)
        event.detail = NOTE
    digest = hashlib.sha256(f"{model.digest}:prune:{amount}".encode()).hexdigest()
    artifact = export(LoadedModel(digest, module=module), ctx, candidate=Candidate.ONNX_PRUNED.value, digest=digest)
    return Artifact(Candidate.ONNX_PRUNED.value, "onnx", "fp32", artifact.path, artifact.sha256, (NAME,) + artifact.produced_by)
