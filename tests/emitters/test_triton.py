"""The Triton emitter (serve.engine: triton): config.pbtxt parsed back through Triton's own
ModelConfig schema, a golden repository for digits-cnn on nvidia-a100, the planner and the spec rule.

No Triton server runs here (no GPU, no registry for its image): the schema check is protobuf's
strict text parser against tritonclient's generated model_config_pb2, which rejects any field
Triton does not have. After an intended change to the output:
    make golden   (tests/golden/triton/, through tests/golden_harness.py)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytest.importorskip("tritonclient.grpc", reason="needs tritonclient[grpc] (Triton's model config schema)")

from google.protobuf import text_format  # noqa: E402
from tritonclient.grpc import model_config_pb2 as pb  # noqa: E402

from tests.golden_harness import check_golden, golden
from compiler.emitters.base import EmitContext, SelectedArtifact  # noqa: E402
from compiler.emitters.registry import emitter  # noqa: E402
from compiler.emitters.triton import TritonEmitter  # noqa: E402
from compiler.errors import DeploycError, SpecError  # noqa: E402
from compiler.frontend import load_spec  # noqa: E402
from compiler.planner import plan  # noqa: E402
from tests.conftest import EXAMPLES  # noqa: E402

TRITON = ["target=nvidia-a100", "serve.engine=triton"]


def _spec(example: str = "digits-cnn", overrides=()):
    return load_spec(EXAMPLES / example / "deploy.yaml", [*TRITON, *overrides])


def _selected(tmp_path: Path, fmt: str = "onnx", precision: str = "fp16") -> SelectedArtifact:
    model = tmp_path / f"model.{fmt}"
    model.write_bytes(b"bytes the emitter copies but never parses")
    file = {"onnx": "model.onnx", "trt": "model.plan", "pt2": "model.pt2"}[fmt]
    return SelectedArtifact(f"{fmt}-{precision}", file, model, fmt, precision,
                            hashlib.sha256(model.read_bytes()).hexdigest(), model.stat().st_size)


def _emit(tmp_path: Path, example: str = "digits-cnn", overrides=(), **selected) -> dict:
    return TritonEmitter().emit(EmitContext(_spec(example, overrides), _selected(tmp_path, **selected), None))


def _parse(files: dict, name: str = "digits-cnn"):
    return text_format.Parse(files[f"triton/{name}/config.pbtxt"].decode(), pb.ModelConfig())


def test_registered_and_layout(tmp_path):
    files = emitter("triton").emit(EmitContext(_spec(), _selected(tmp_path), None))
    assert sorted(files) == ["triton/Dockerfile", "triton/digits-cnn/1/model.onnx", "triton/digits-cnn/config.pbtxt"]
    assert files["triton/digits-cnn/1/model.onnx"] == tmp_path / "model.onnx"  # the selected artifact itself


def test_config_parses_back_with_the_fields(tmp_path):
    config = _parse(_emit(tmp_path))
    assert (config.name, config.platform, config.max_batch_size) == ("digits-cnn", "onnxruntime_onnx", 32)
    assert [(i.name, pb.DataType.Name(i.data_type), list(i.dims)) for i in config.input] == [
        ("pixels", "TYPE_FP32", [1, 8, 8])]
    assert [(o.name, pb.DataType.Name(o.data_type), list(o.dims)) for o in config.output] == [
        ("logits", "TYPE_FP32", [10])]
    assert [(g.count, pb.ModelInstanceGroup.Kind.Name(g.kind)) for g in config.instance_group] == [(1, "KIND_GPU")]
    assert list(config.dynamic_batching.preferred_batch_size) == [16, 32]
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000  # 2 ms in the spec
    (accel,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accel.name == "tensorrt"
    assert accel.parameters["precision_mode"] == "FP16"
    assert accel.parameters["max_workspace_size_bytes"] == str(1 << 30)
    assert accel.parameters["trt_engine_cache_enable"] == "1"
    assert accel.parameters["trt_engine_cache_path"] == "/var/cache/deployc/trt"
    # One engine profile over every batch the dynamic batcher can form.
    assert accel.parameters["trt_profile_min_shapes"] == "pixels:1x1x8x8"
    assert accel.parameters["trt_profile_max_shapes"] == "pixels:32x1x8x8"


def test_dynamic_non_batch_dims_and_int64(tmp_path):
    config = _parse(_emit(tmp_path, "text-encoder", ("serve.batching.max_batch_size=64",)), "text-encoder")
    assert config.max_batch_size == 64
    assert [(i.name, pb.DataType.Name(i.data_type), list(i.dims)) for i in config.input] == [
        ("input_ids", "TYPE_INT64", [-1])]
    assert list(config.output[0].dims) == [128]
    assert config.dynamic_batching.max_queue_delay_microseconds == 4000
    params = config.optimization.execution_accelerators.gpu_execution_accelerator[0].parameters
    assert params["trt_profile_max_shapes"] == "input_ids:64x128"


def test_batching_off_keeps_the_batch_dim_and_no_batcher(tmp_path):
    config = _parse(_emit(tmp_path, overrides=("serve.batching.enabled=false",)))
    assert config.max_batch_size == 0
    assert list(config.input[0].dims) == [-1, 1, 8, 8]
    assert not config.HasField("dynamic_batching")


def test_fp32_only_spec_builds_fp32_engines(tmp_path):
    config = _parse(_emit(tmp_path, overrides=("optimize.precisions=[fp32]",), precision="fp32"))
    params = config.optimization.execution_accelerators.gpu_execution_accelerator[0].parameters
    assert params["precision_mode"] == "FP32"


def test_tensorrt_engine_is_served_as_a_plan(tmp_path):
    files = _emit(tmp_path, fmt="trt")
    config = _parse(files)
    assert config.platform == "tensorrt_plan" and "triton/digits-cnn/1/model.plan" in files
    assert not config.HasField("optimization")  # already an engine: no accelerator on top
    assert "VOLUME" not in files["triton/Dockerfile"].decode()


def test_a_torch_package_is_a_clear_error(tmp_path):
    with pytest.raises(DeploycError, match="serves ONNX or a TensorRT engine.*pt2"):
        _emit(tmp_path, fmt="pt2")


def test_dockerfile(tmp_path):
    text = _emit(tmp_path)["triton/Dockerfile"].decode()
    assert "FROM nvcr.io/nvidia/tritonserver:25.12-py3\n" in text
    assert "COPY --chown=1000:1000 digits-cnn/ /models/digits-cnn/" in text
    assert "USER 1000:1000" in text and "EXPOSE 8000 8001 8002" in text
    assert 'CMD ["tritonserver", "--model-repository=/models", "--disable-auto-complete-config"' in text
    assert "RUN mkdir -p /var/cache/deployc/trt && chown 1000:1000" in text


def test_jetson_gets_the_igpu_image(tmp_path):
    spec = load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", ["target=jetson-orin", "serve.engine=triton"])
    text = TritonEmitter().emit(EmitContext(spec, _selected(tmp_path), None))["triton/Dockerfile"].decode()
    assert "FROM nvcr.io/nvidia/tritonserver:25.12-py3-igpu\n" in text and "--platform linux/arm64" in text


def test_deterministic_and_no_absolute_paths(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    first, second = _emit(tmp_path / "a"), _emit(tmp_path / "b")
    for name in ("triton/Dockerfile", "triton/digits-cnn/config.pbtxt"):
        assert first[name] == second[name]
        assert str(tmp_path) not in first[name].decode()


@golden
def test_matches_golden(tmp_path):
    files = _emit(tmp_path)
    check_golden("triton", "digits-cnn-nvidia-a100",
                 {"config.pbtxt": files["triton/digits-cnn/config.pbtxt"], "Dockerfile": files["triton/Dockerfile"]})


def test_planner_swaps_image_for_triton_and_says_why_monitoring_is_skipped():
    steps = {s.name: s for s in plan(_spec()).emitters}
    assert steps["triton"].run and "image" not in steps
    assert not steps["monitoring"].run and "nv_inference_" in steps["monitoring"].reason
    assert not steps["kubernetes"].run and "8000" in steps["kubernetes"].reason
    default = {s.name: s for s in plan(load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", ["target=nvidia-a100"])).emitters}
    assert default["image"].run and default["monitoring"].run and "triton" not in default


def test_triton_on_a_cpu_target_is_a_located_spec_error():
    with pytest.raises(SpecError) as info:
        load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", ["serve.engine=triton"])
    assert "serve.engine" in str(info.value) and "NVIDIA GPU targets; target cpu-x86 is a cpu target" in str(info.value)


@pytest.mark.slow
def test_build_writes_the_triton_repository(cli, tmp_path):
    r = cli("build", str(EXAMPLES / "digits-cnn" / "deploy.yaml"), *TRITON, "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    tree = tmp_path / "nvidia-a100"
    model = (tree / "triton" / "digits-cnn" / "1" / "model.onnx").read_bytes()
    assert model == (tree / "model" / "model.onnx").read_bytes()
    assert not (tree / "image").exists() and not (tree / "k8s").exists() and not (tree / "monitoring").exists()
    config = text_format.Parse((tree / "triton" / "digits-cnn" / "config.pbtxt").read_text(), pb.ModelConfig())
    assert config.platform == "onnxruntime_onnx" and config.input[0].name == "pixels"
