"""runtime.json: what the server is told, per target."""

from __future__ import annotations

from pathlib import Path

from compiler.emitters.base import SelectedArtifact
from compiler.emitters.runtime_config import runtime_config
from compiler.frontend import load_spec
from compiler.runtime.config import RuntimeConfig
from tests.conftest import EXAMPLES


def selected(fmt: str = "onnx") -> SelectedArtifact:
    return SelectedArtifact("onnx-fp16", f"model.{fmt}", Path("x"), fmt, "fp16", "0" * 64, 1)


def config(example: str, *overrides: str, fmt: str = "onnx") -> RuntimeConfig:
    spec = load_spec(EXAMPLES / example / "deploy.yaml", list(overrides))
    return RuntimeConfig.from_json(runtime_config(spec, selected(fmt), {}).to_json())


def test_cpu_target_runs_on_cpu_with_batching():
    rt = config("digits-cnn")
    assert rt.providers == ["CPUExecutionProvider"] and rt.batching and rt.trt_options == {}
    assert [t.shape for t in rt.inputs] == [[-1, 1, 8, 8]] and rt.inputs[0].datatype == "FP32"


def test_gpu_target_gets_one_tensorrt_profile_for_every_batch_and_fp16():
    rt = config("text-encoder", "target=nvidia-h100")
    assert rt.providers[0] == "TensorrtExecutionProvider" and rt.trt_engine_cache
    assert rt.trt_options["trt_fp16_enable"] == "True"
    assert rt.trt_options["trt_profile_min_shapes"].startswith("input_ids:1x")
    assert rt.trt_options["trt_profile_max_shapes"].startswith("input_ids:32x")


def test_cuda_pt2_runs_on_the_gpu():
    assert config("digits-cnn", "target=nvidia-h100", fmt="pt2").providers == ["CUDAExecutionProvider"]


def test_edge_bundle_has_fixed_shapes_and_no_batching():
    rt = config("text-encoder", "target=android-arm64", fmt="tflite")
    assert not rt.batching and rt.backend == "litert"
    assert rt.inputs[0].shape == [-1, 32]


def test_inputs_carry_their_declared_range_and_dim_names():
    rt = RuntimeConfig.from_json(runtime_config(load_spec(EXAMPLES / "text-encoder" / "deploy.yaml"),
                                                selected(), {}).to_json())
    ids = rt.inputs[0]
    assert ids.range == [0, 999] and ids.dim_names == ["batch", "seq"]
    assert rt.outputs[0].range is None and rt.outputs[0].dim_names == ["batch", None]
    assert config("digits-cnn").inputs[0].dim_names == ["batch", None, None, None]


def test_text_generation_gets_its_limits_and_knows_its_chat_template(tmp_path):
    from dataclasses import replace

    from compiler.emitters.runtime_config import generation_config

    spec = load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", [])
    assert config("digits-cnn").generation is None
    spec = replace(spec, model=replace(spec.model, task="text-generation"))
    folder = tmp_path / "genai"
    folder.mkdir()
    art = SelectedArtifact("genai-int4", "genai", folder, "genai", "int4", "0" * 64, 1)
    rt = RuntimeConfig.from_json(runtime_config(spec, art, {}).to_json())
    g = spec.model.generation
    assert rt.backend == "onnxruntime-genai" and rt.text is None
    assert (rt.generation.model_dir, rt.generation.max_context, rt.generation.max_new_tokens) == (
        "genai", g.max_context, g.max_new_tokens)
    assert rt.generation.chat_template is False  # no template in the folder: chat completions refused
    (folder / "tokenizer_config.json").write_text('{"chat_template": "{{ messages }}"}')
    assert generation_config(spec, art).chat_template  # older tokenizers keep it there
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / "chat_template.jinja").write_text("{{ messages }}")  # transformers 5 writes this file
    assert generation_config(spec, art).chat_template
