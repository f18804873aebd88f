"""GPU targets: what runs on any host, and what needs an NVIDIA GPU (`-m gpu`).

On a CPU build host a GPU target still gets its verified fp16 ONNX, image, manifests and the
deploy-time engine path, and says "not measured on this host". The AOTInductor fp16 cast path
is compiled here for the CPU (the same wrapper the CUDA build uses). The CUDA compile, the
TensorRT engine build and their parity need a GPU (and tensorrt) and skip here with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compiler.frontend import load_spec
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.data import load_dataset, synthesize
from compiler.passes.load import load_model
from compiler.passes.tensorrt_engine import calibration_batches, ort_profile_options, profile_for
from compiler.gpu import host_compute_capability, tensorrt_status
from compiler.planner import engine_precision, plan
from tests.conftest import EXAMPLES

DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"
TEXT = EXAMPLES / "text-encoder" / "deploy.yaml"


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _tensorrt_error() -> str | None:
    try:
        import tensorrt  # noqa: F401
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


needs_gpu = pytest.mark.skipif(not _cuda(), reason="needs an NVIDIA GPU (torch.cuda.is_available() is False on this host)")
needs_tensorrt = pytest.mark.skipif(_tensorrt_error() is not None,
                                    reason=f"tensorrt does not import on this host ({_tensorrt_error()})")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def _reference(module, inputs: dict) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module(*[torch.from_numpy(v) for v in inputs.values()]).numpy()


# --- any host --------------------------------------------------------------------------------

@pytest.mark.slow
def test_h100_build_on_this_host_through_the_cli(cli, tmp_path):
    r = cli("build", str(DIGITS), "target=nvidia-h100", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    tree = tmp_path / "nvidia-h100"
    report = json.loads((tree / "report.json").read_text())
    assert report["measured"] is False
    assert report["latency_note"] == ("not measured on this host (the target runs on an NVIDIA H100 GPU; "
                                      "this host is x86_64 without it)")
    assert report["selected"]["candidate"] == "onnx-fp16"
    rows = {row["candidate"]: row for row in report["candidates"]}
    fp16 = rows["onnx-fp16"]
    assert fp16["passed"] and fp16["precision"] == "fp16" and fp16["gate_failures"] == []
    assert fp16["cosine"] >= 0.99 and fp16["top1_agreement"] >= 0.98  # the spec's gates, measured
    steps = {s["name"]: s for s in report["plan"]["passes"]}
    if not _cuda():
        assert steps["aoti"] == {"name": "aoti", "run": False,
                                 "reason": "AOTInductor for CUDA compiles on a GPU build host; this host has none"}
    if _tensorrt_error() is not None:
        assert not steps["tensorrt"]["run"]
        assert "tensorrt does not import on this host" in steps["tensorrt"]["reason"]
        assert "engines are built on the target GPU at first load" in steps["tensorrt"]["reason"]
    # The deploy-time engine path: the runtime gets the cache folder, the image and pod a volume.
    runtime = json.loads((tree / "image" / "runtime.json").read_text())
    assert runtime["providers"][0] == "TensorrtExecutionProvider"
    assert runtime["trt_engine_cache"] == "/var/cache/deployc/trt"
    assert "/var/cache/deployc/trt" in (tree / "k8s" / "rollout.yaml").read_text()
    assert (tree / "monitoring").is_dir()


def test_aoti_step_reasons_on_a_cpu_host():
    steps = {s.name: s for s in plan(load_spec(DIGITS, ["target=nvidia-h100"]), gpu_on_host=False).passes}
    assert not steps["aoti"].run and "GPU build host" in steps["aoti"].reason


def test_engine_precision_follows_spec_and_target():
    """The planner decides it (a spec rule makes int8-static give calibration data)."""
    assert engine_precision(load_spec(DIGITS, ["target=nvidia-h100"])) == "int8"  # int8-static asked for
    assert engine_precision(load_spec(DIGITS, ["target=nvidia-h100", "optimize.quantize=none"])) == "fp16"
    assert engine_precision(load_spec(DIGITS, ["target=nvidia-h100", "optimize.precisions=[fp32, bf16]",
                                               "optimize.quantize=none"])) == "bf16"
    assert engine_precision(load_spec(DIGITS, ["target=nvidia-t4", "optimize.precisions=[fp32, bf16]",
                                               "optimize.quantize=none"])) == "fp32"


def test_profile_from_the_signature_and_serve_batching():
    digits = profile_for(load_spec(DIGITS, ["target=nvidia-h100", "serve.batching.max_batch_size=64"]))
    assert (digits.min, digits.opt, digits.max) == ({"pixels": (1, 1, 8, 8)}, {"pixels": (64, 1, 8, 8)},
                                                    {"pixels": (64, 1, 8, 8)})
    text_spec = load_spec(TEXT, ["target=nvidia-h100"])
    text = profile_for(text_spec)
    assert (text.min["input_ids"], text.opt["input_ids"], text.max["input_ids"]) == ((1, 1), (32, 16), (32, 128))
    # int8 calibrates at the opt shape, so opt follows the calibration data's sequence length.
    calibrated = profile_for(text_spec, load_dataset(text_spec, "calibration"))
    assert calibrated.opt["input_ids"] == (32, 32)
    assert ort_profile_options(text) == {"trt_profile_min_shapes": "input_ids:1x1",
                                         "trt_profile_opt_shapes": "input_ids:32x16",
                                         "trt_profile_max_shapes": "input_ids:32x128"}


def test_calibration_batches_have_the_opt_shape_and_cover_every_sample():
    spec = load_spec(DIGITS, ["target=nvidia-h100", "serve.batching.max_batch_size=100"])
    data = load_dataset(spec, "calibration")  # 256 samples
    batches = calibration_batches(data, profile_for(spec, data), ["pixels"])
    assert [b["pixels"].shape for b in batches] == [(100, 1, 8, 8)] * 3
    stacked = np.concatenate([b["pixels"] for b in batches])
    np.testing.assert_array_equal(stacked[:256], data.inputs["pixels"])  # then it wraps around


@pytest.mark.slow
def test_half_precision_aoti_wrapper_compiles_and_keeps_fp32_io(tmp_path):
    """The fp16 cast wrapper of the CUDA build, compiled for this CPU: same export and package."""
    from compiler.passes.aoti import _compile
    from compiler.passes.runners import pt2_runner

    spec = load_spec(DIGITS, ["target=nvidia-h100"])
    model = load_model(spec)
    meta = _compile(model, spec, tmp_path / "model.pt2", "cpu", "fp16")
    assert meta == {"device": "cpu", "precision": "fp16"}
    inputs = synthesize(spec, 5).inputs  # batch 5: not the example batch, the batch dim is dynamic
    (out,) = pt2_runner(tmp_path / "model.pt2", 1)(inputs)
    ref = _reference(model.module, inputs)
    assert out.dtype == np.float32 and out.shape == (5, 10)
    assert _cosine(out, ref) > 0.999 and 0 < np.abs(out - ref).max() < 0.05  # fp16, not fp32
    import torch

    assert next(model.module.parameters()).dtype == torch.float32  # the user's module was not cast


# --- needs a GPU -----------------------------------------------------------------------------

def _matching_target() -> str:
    cc = host_compute_capability()
    for name, want in (("nvidia-h100", "9.0"), ("nvidia-a100", "8.0"), ("nvidia-t4", "7.5")):
        if cc == want:
            return name
    pytest.skip(f"the host GPU (sm {cc}) is none of the target profiles' (9.0, 8.0, 7.5)")


@pytest.mark.gpu
@needs_gpu
def test_aoti_cuda_fp16_compiles_and_matches(tmp_path):
    from compiler.passes.aoti import compile_aoti
    from compiler.passes.runners import pt2_runner

    spec = load_spec(DIGITS, [f"target={_matching_target()}"])
    model = load_model(spec)
    artifact = compile_aoti(model, PassContext(spec, Cache(tmp_path / "cache")), "cuda", "fp16")
    assert (artifact.candidate, artifact.precision) == ("aoti-cuda-fp16", "fp16")
    assert f"sm {host_compute_capability()}" in artifact.produced_by[-1]
    inputs = load_dataset(spec, "evaluation").inputs
    (out,) = pt2_runner(artifact.path, 1)(inputs)
    ref = _reference(model.module, inputs)
    assert _cosine(out, ref) > 0.99 and np.mean(out.argmax(-1) == ref.argmax(-1)) >= 0.98


@pytest.mark.gpu
@needs_gpu
def test_gpu_build_has_a_passing_aoti_cuda_fp16_candidate(tmp_path):
    """Needs runners.py's "pt2" runner to run CUDA packages on their device (runners.pt2_runner)."""
    from compiler.build import build

    spec = load_spec(DIGITS, [f"target={_matching_target()}"])
    result = build(spec, tmp_path / "out", Cache(tmp_path / "cache"))
    rows = {row["candidate"]: row for row in result.report["candidates"]}
    assert rows["aoti-cuda-fp16"]["passed"], rows["aoti-cuda-fp16"]["gate_failures"]
    assert rows["aoti-cuda-fp16"]["precision"] == "fp16"
    assert rows["onnx-fp16"]["passed"]


@pytest.mark.gpu
@needs_tensorrt
@needs_gpu  # the nearest mark is checked first: no GPU is the reason to give here
@pytest.mark.parametrize("example, precision", [("digits-cnn", "int8"), ("digits-cnn", "fp16"), ("text-encoder", "fp16")])
def test_tensorrt_engine_build_and_parity(tmp_path, example, precision):
    import tensorrt as trt

    from compiler.passes import tensorrt_engine
    from compiler.passes.export_onnx import export
    from compiler.passes.runners import run_chunked, runner_for

    overrides = [f"target={_matching_target()}"] + (["optimize.quantize=none"] if precision != "int8" else [])
    spec = load_spec(EXAMPLES / example / "deploy.yaml", overrides)
    ctx = PassContext(spec, Cache(tmp_path / "cache"))
    model = load_model(spec)
    calibration = load_dataset(spec, "calibration")
    engine = tensorrt_engine.build_engine(export(model, ctx), calibration, ctx, plan(spec, True).step("tensorrt").config)
    assert (engine.format, engine.candidate) == ("trt", f"tensorrt-{precision}")
    assert engine.produced_by[-1] == f"tensorrt {trt.__version__} (sm {host_compute_capability()})"
    data = load_dataset(spec, "evaluation") or calibration
    out = run_chunked(runner_for("trt", engine.path, 1), data.inputs)[0]  # chunks of 64 > max batch 32
    ref = _reference(model.module, data.inputs)
    assert _cosine(out, ref) > (0.98 if precision == "int8" else 0.99)
    timing = list((tmp_path / "cache" / "tensorrt").glob("timing-*.cache"))
    assert len(timing) == 1 and timing[0].stat().st_size > 0
