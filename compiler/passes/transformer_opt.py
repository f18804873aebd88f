"""onnxruntime's transformer optimizer (`onnxruntime.transformers.optimizer.optimize_model`) on the
exported graph of a huggingface source: attention, embedding + LayerNorm, skip-LayerNorm and
GELU fusions into onnxruntime's contrib ops, with the head count and width from config.json.

opt_level 1 (onnxruntime's portable basic optimizations, constant folding) runs first: without it
the attention-mask arithmetic transformers exports hides the attention pattern and nothing fuses
(measured on all-MiniLM-L6-v2: 0 Attention nodes at level 0, 6 of 6 at level 1; docs/architecture.md).
The fused op counts are kept in the pass's cache entry and shown in the build's events.
"""

from __future__ import annotations

import io
import logging
from contextlib import redirect_stdout
from pathlib import Path

from compiler.candidates import Candidate
from compiler.errors import PassError
from compiler.passes.base import Artifact, PassContext, onnx_transform

NAME = "onnx-transformer-opt"
OPT_LEVEL = 1
# onnxruntime's optimizer has one fusion recipe for BERT-style encoders; these use it.
MODEL_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "camembert": "bert", "distilbert": "bert",
               "electra": "bert", "mpnet": "bert", "deberta-v2": "bert", "albert": "bert"}


def optimize(source: Artifact, ctx: PassContext) -> Artifact:
    from compiler.passes.source_huggingface import facts

    hf = facts(ctx.spec)
    if not hf.num_heads or not hf.hidden_size:
        raise PassError(NAME, "config.json gives no num_attention_heads or hidden_size for the fusions")
    config = {"model_type": MODEL_TYPES.get(hf.model_type, "bert"), "num_heads": hf.num_heads,
              "hidden_size": hf.hidden_size, "opt_level": OPT_LEVEL}
    return onnx_transform(ctx, NAME, Candidate.ONNX_TRANSFORMER_OPT.value, source.precision, source, config,
                          lambda src, dst: _optimize(src, dst, config), ("onnxruntime", "onnx"))


def _optimize(src: Path, dst: Path, config: dict) -> dict:
    from onnxruntime.transformers.optimizer import optimize_model

    # "symbolic shape inference failed" notices (print and warnings from modules imported under
    # several names): the fusions still run, and their counts below say what they did.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with redirect_stdout(io.StringIO()):
            model = optimize_model(str(src), model_type=config["model_type"], num_heads=config["num_heads"],
                                   hidden_size=config["hidden_size"], opt_level=config["opt_level"], use_gpu=False)
            model.save_model_to_file(str(dst))
    finally:
        logging.disable(previous)
    fused = {k: int(v) for k, v in sorted(model.get_fused_operator_statistics().items()) if v}
    return {"fused": fused}
