"""The TFLite pass with the real toolchain: litert-torch converts, ai-edge-quantizer quantizes,
ai-edge-litert runs. Shape rules need no toolchain; everything else is marked `edge`."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pytest

from compiler.errors import PassError, SpecError
from compiler.frontend import load_spec
from compiler.frontend.spec import EdgeConfig
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.data import load_dataset
from compiler.passes.pipeline import edge_candidates
from compiler.passes.load import load_model, reference_outputs
from compiler.passes.tflite import fixed_shapes

from tests.conftest import EXAMPLES

MISSING = [m for m in ("litert_torch", "ai_edge_quantizer", "ai_edge_litert") if importlib.util.find_spec(m) is None]
needs_edge = pytest.mark.skipif(
    bool(MISSING), reason=f"edge toolchain not installed ({', '.join(MISSING)}): pip install -e '.[edge]'")

DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"
TEXT = EXAMPLES / "text-encoder" / "deploy.yaml"


def spec_for(path, *overrides):
    return load_spec(str(path), ["target=android-arm64", *overrides])


# ---- fixed shapes (no toolchain needed) ------------------------------------------------------

def test_fixed_shapes_from_batch_size_and_fixed_dims():
    assert fixed_shapes(spec_for(DIGITS)) == {"pixels": (1, 1, 8, 8)}
    assert fixed_shapes(spec_for(DIGITS, "optimize.edge.batch_size=4")) == {"pixels": (4, 1, 8, 8)}
    assert fixed_shapes(spec_for(TEXT)) == {"input_ids": (1, 32)}
    assert fixed_shapes(spec_for(TEXT, "optimize.edge.fixed_dims.seq=64")) == {"input_ids": (1, 64)}


def test_symbolic_dim_without_fixed_value_names_the_spec_key():
    spec = spec_for(TEXT)
    spec = replace(spec, optimize=replace(spec.optimize, edge=EdgeConfig(batch_size=1, fixed_dims={})))
    with pytest.raises(SpecError) as err:
        fixed_shapes(spec)
    assert err.value.issues[0].path == "optimize.edge.fixed_dims.seq"
    assert "input 'input_ids' dim 1 ('seq')" in str(err.value)


# ---- conversion and variants -----------------------------------------------------------------

@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    if MISSING:
        pytest.skip(f"edge toolchain not installed ({', '.join(MISSING)}): pip install -e '.[edge]'")

    spec = spec_for(DIGITS)
    ctx = PassContext(spec, Cache(tmp_path_factory.mktemp("tflite-cache")))
    model = load_model(spec)
    arts = edge_candidates(model, load_dataset(spec, "calibration"), ctx)
    return spec, ctx, model, arts


def _run(art, inputs, threads=1):
    from compiler.passes.runners import runner_for

    return runner_for(art.format, art.path, threads)(inputs)


@pytest.mark.edge
@needs_edge
def test_digits_candidates_all_variants(digits):
    spec, ctx, model, arts = digits
    assert [a.candidate for a in arts] == ["tflite-fp32", "tflite-fp16", "tflite-int8-dynamic", "tflite-int8-static"]
    assert {a.format for a in arts} == {"tflite"}
    sizes = {a.candidate: a.path.stat().st_size for a in arts}
    assert sizes["tflite-int8-dynamic"] < sizes["tflite-fp16"] < sizes["tflite-fp32"]


@pytest.mark.edge
@needs_edge
def test_int8_static_keeps_holdout_accuracy_within_the_android_gate(digits):
    spec, ctx, model, arts = digits
    evaluation = load_dataset(spec, "evaluation")
    reference = reference_outputs(model, evaluation.inputs, spec)[0]
    ref_acc = float((reference.argmax(-1) == evaluation.labels).mean())
    gate = spec.gates.max_accuracy_drop
    assert gate == 0.02  # target_gates.android-arm64 in the example
    for art in arts:
        out = _run(art, evaluation.inputs)[0]
        acc = float((out.argmax(-1) == evaluation.labels).mean())
        assert ref_acc - acc <= gate, (art.candidate, ref_acc, acc)
        if art.precision == "fp32":
            np.testing.assert_allclose(out, reference, atol=1e-4)


@pytest.mark.edge
@needs_edge
def test_runner_handles_any_batch_by_looping_the_fixed_batch(tmp_path):
    from compiler.passes import tflite

    spec = spec_for(DIGITS, "optimize.edge.batch_size=4", "optimize.precisions=[fp32]", "optimize.quantize=[]")
    ctx = PassContext(spec, Cache(tmp_path))
    model = load_model(spec)
    [art] = edge_candidates(model, None, ctx)
    assert tflite.signature_details(art.path).inputs[0].shape == (4, 1, 8, 8)
    x = load_dataset(spec, "evaluation").inputs["pixels"][:7]  # one full chunk, one padded
    out = _run(art, {"pixels": x})[0]
    assert out.shape == (7, 10)
    np.testing.assert_allclose(out, reference_outputs(model, {"pixels": x}, spec)[0], atol=1e-4)


@pytest.mark.edge
@needs_edge
def test_cache_reuses_every_variant(digits):

    spec, ctx, model, arts = digits
    again = PassContext(spec, ctx.cache)
    second = edge_candidates(model, load_dataset(spec, "calibration"), again)
    assert [a.sha256 for a in second] == [a.sha256 for a in arts]
    assert all(e.cached for e in again.events)


@pytest.mark.edge
@needs_edge
def test_integer_io_model_reports_scale_and_zero_point_and_runs(digits, tmp_path):
    """The quantizer's plain static recipe makes inputs/outputs int8: metadata and the runner
    must read (scale, zero point) from the interpreter and (de)quantize."""
    from ai_edge_quantizer import quantizer, recipe

    from compiler.passes import tflite
    from compiler.passes.base import Artifact

    spec, ctx, model, arts = digits
    q = quantizer.Quantizer(str(arts[0].path), recipe.static_wi8_ai8())
    x = load_dataset(spec, "calibration").inputs["pixels"]
    result = q.calibrate({"serving_default": [{"pixels": x[i:i + 1]} for i in range(64)]}, num_threads=1)
    path = tmp_path / "int_io.tflite"
    path.write_bytes(bytes(q.quantize(result, enable_progress_report=False).quantized_model))
    details = tflite.signature_details(path)
    assert details.inputs[0].dtype == "int8" and details.inputs[0].scale > 0
    assert details.outputs[0].dtype == "int8" and details.outputs[0].zero_point is not None
    evaluation = load_dataset(spec, "evaluation")
    out = _run(Artifact("int-io", "tflite", "int8", path, ""), evaluation.inputs)[0]
    assert out.dtype == np.float32
    reference = reference_outputs(model, evaluation.inputs, spec)[0]
    assert float((out.argmax(-1) == reference.argmax(-1)).mean()) >= 0.95


@pytest.mark.edge
@needs_edge
def test_text_encoder_converts_at_fixed_seq_with_int64_ids(tmp_path):
    from compiler.passes import tflite

    spec = spec_for(TEXT, "optimize.precisions=[fp32]", "optimize.quantize=[]")
    model = load_model(spec)
    [art] = edge_candidates(model, None, PassContext(spec, Cache(tmp_path)))
    details = tflite.signature_details(art.path)
    assert [(d.name, d.dtype, d.shape) for d in details.inputs] == [("input_ids", "int64", (1, 32))]
    assert [(d.name, d.shape) for d in details.outputs] == [("embedding", (1, 128))]
    ids = load_dataset(spec, "calibration").inputs["input_ids"][:3]
    np.testing.assert_allclose(_run(art, {"input_ids": ids})[0],
                               reference_outputs(model, {"input_ids": ids}, spec)[0], atol=1e-4)
    with pytest.raises(ValueError, match=r"fixed at \[1, 32\]"):
        _run(art, {"input_ids": ids[:, :16]})


@pytest.mark.edge
@needs_edge
def test_a_size_the_model_cannot_take_fails_naming_the_axis(tmp_path):

    spec = spec_for(TEXT, "optimize.edge.fixed_dims.seq=200")  # the model's positions stop at 128
    with pytest.raises(PassError) as err:
        edge_candidates(load_model(spec), None, PassContext(spec, Cache(tmp_path)))
    assert "input_ids[1, 200]" in str(err.value)
    assert "dim 1 'seq' = optimize.edge.fixed_dims.seq" in str(err.value)


@pytest.mark.edge
@needs_edge
def test_calibration_at_another_length_is_a_spec_error(tmp_path):
    from compiler.passes.tflite_quantize import calibration_samples

    spec = spec_for(TEXT)
    data = load_dataset(spec, "calibration")
    with pytest.raises(SpecError) as err:
        calibration_samples(data, {"input_ids": (1, 16)})
    assert err.value.issues[0].path == "model.calibration"
    assert len(calibration_samples(data, {"input_ids": (4, 32)})) == data.size // 4


@pytest.mark.edge
@needs_edge
def test_outputs_keep_the_signature_order_not_the_alphabet(tmp_path):
    """Two outputs named so that sorting would swap them: verify compares by position."""
    import torch

    from compiler.frontend.spec import TensorSpec
    from compiler.passes import tflite
    from compiler.passes.load import LoadedModel

    class TwoOut(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1) * 2.0, x.sum(dim=(1, 2, 3)).unsqueeze(-1)

    spec = spec_for(DIGITS, "optimize.precisions=[fp32]", "optimize.quantize=[]")
    outputs = (TensorSpec("zeta", "float32", ("batch", 64)), TensorSpec("alpha", "float32", ("batch", 1)))
    spec = replace(spec, model=replace(spec.model, outputs=outputs, labels=(), task="generic"))
    [art] = edge_candidates(LoadedModel(module=TwoOut().eval(), onnx_path=None, digest="two-out"), None, PassContext(spec, Cache(tmp_path)))
    assert [d.name for d in tflite.signature_details(art.path).outputs] == ["zeta", "alpha"]
    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    zeta, alpha = _run(art, {"pixels": x})
    np.testing.assert_allclose(zeta, x.reshape(3, -1) * 2.0, rtol=1e-6)
    np.testing.assert_allclose(alpha[:, 0], x.sum(axis=(1, 2, 3)), rtol=1e-5)
