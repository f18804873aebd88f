"""The huggingface export and onnxruntime's transformer optimizer on a tiny BERT built in the test:
the exported graph keeps batch and seq dynamic (run at lengths other than the traced one), and
the optimizer fuses attention and still computes the same embeddings."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import torch

from compiler.frontend import load_spec
from compiler.passes import export_onnx, transformer_opt
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.load import load_model
from compiler.planner import plan
from tests.text_models import text_spec, tiny_bert


def _feeds(batch: int, seq: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), np.int64)
    mask[0, seq // 2:] = 0  # one padded row
    return {"input_ids": rng.integers(1000, 30000, (batch, seq)), "attention_mask": mask,
            "token_type_ids": np.zeros((batch, seq), np.int64)}


def test_export_keeps_seq_dynamic_and_the_fusions_match_torch(tmp_path):
    spec = load_spec(text_spec(tiny_bert(tmp_path / "model", seed=5)))
    step = plan(spec).step("onnx-export")
    assert step.config.variant == "torchscript"
    ctx = PassContext(spec, Cache(tmp_path / "cache"))
    model = load_model(spec)
    base = export_onnx.export(model, ctx, exporter=step.config.variant)
    graph = onnx.load(str(base.path)).graph
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph.input}
    assert dims == {n: ["batch", "seq"] for n in ("input_ids", "attention_mask", "token_type_ids")}
    fused = transformer_opt.optimize(base, ctx)
    ops = Counter(n.op_type for n in onnx.load(str(fused.path)).graph.node)
    assert ops["Attention"] == 2 and ops["EmbedLayerNormalization"] == 1  # 2 layers, one embedding
    for batch, seq in ((1, 7), (3, 23), (2, 64)):  # the export traced batch 4, seq 16
        feeds = _feeds(batch, seq, seq)
        with torch.no_grad():
            want = model.module(*[torch.from_numpy(feeds[n]) for n in feeds]).numpy()
        for artifact in (base, fused):
            got = ort.InferenceSession(str(artifact.path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
            assert got.shape == want.shape and np.abs(got - want).max() < 1e-4, (artifact.candidate, batch, seq)


def test_the_fusion_step_is_planned_for_huggingface_sources_only(tmp_path):
    from tests.conftest import EXAMPLES

    spec = load_spec(text_spec(tiny_bert(tmp_path / "model")))
    assert plan(spec).step("onnx-transformer-opt").run
    digits = plan(load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml")).step("onnx-transformer-opt")
    assert not digits.run and "huggingface" in digits.reason
    no_graph = plan(load_spec(text_spec(tiny_bert(tmp_path / "m2")), ["optimize.graph=false"]))
    assert not no_graph.step("onnx-transformer-opt").run
