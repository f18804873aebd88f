"""ONNX Runtime graph optimization, saved offline at the portable EXTENDED level.

Level ALL adds layout transforms specific to the build host's CPU (ORT warns about it), so the
artifact would not be portable to the target; EXTENDED fuses ops and stays portable.
"""

from __future__ import annotations

from pathlib import Path

from compiler.candidates import Candidate
from compiler.passes.base import Artifact, PassContext, onnx_transform
from compiler.runtime.backend_onnx import CPU_DISABLED_OPTIMIZERS

NAME = "ort-optimize"


def optimize(source: Artifact, ctx: PassContext, candidate: str = Candidate.ONNX_OPT.value) -> Artifact:
    config = {"level": "extended", "disabled": list(CPU_DISABLED_OPTIMIZERS)}
    return onnx_transform(ctx, NAME, candidate, source.precision, source, config, _optimize, ("onnxruntime",))


def _optimize(src: Path, dst: Path) -> dict:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(dst)
    opts.log_severity_level = 3
    # The file is optimized as the CPU runtime would at load: without the fusions it leaves out.
    ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"],
                         disabled_optimizers=list(CPU_DISABLED_OPTIMIZERS))
    return {"level": "ORT_ENABLE_EXTENDED"}
