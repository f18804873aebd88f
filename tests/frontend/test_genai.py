"""text-generation front end: what the model is, read from config.json or a GGUF file's metadata,
and the spec errors of this task (exit 2, naming the key): an unsupported GGUF architecture, a
folder without tokenizer, max_context beyond the model's positions, int4/int8 and the generation
gates on other tasks, a memory plan that does not fit the target."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from compiler.frontend.genai import read
from compiler.llm_memory import quantity
from tests.conftest import EXAMPLES, run_cli
from tests.llm_models import smollm2_gguf, tiny_llama, write_spec


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny")


def _err(r) -> str:
    """stderr with the console's line wrapping undone."""
    return " ".join(r.stderr.split())


def _spec(tmp_path: Path, tiny: Path, **kw) -> Path:
    shutil.copytree(tiny, tmp_path / "tiny")  # inside the spec's folder, as model.path must be
    return write_spec(tmp_path, "tiny", **kw)


def test_the_gguf_metadata_gives_smollm2s_shape():
    gen = read(smollm2_gguf())
    d = gen.dims
    assert gen.gguf and gen.chat_template
    assert (d.model_type, d.layers, d.heads, d.kv_heads, d.head_dim, d.hidden, d.vocab, d.max_positions, d.tied) == (
        "llama", 30, 9, 3, 64, 576, 49152, 8192, True)
    assert 134e6 < gen.params < 136e6  # SmolLM2-135M


def test_a_folder_derives_token_ids_in_and_logits_out(tmp_path, tiny):
    from compiler.frontend import load_spec

    spec = load_spec(_spec(tmp_path, tiny))
    assert [(t.name, t.shape, t.range) for t in spec.model.inputs] == [
        ("input_ids", ("batch", "seq"), (0, 49151)), ("attention_mask", ("batch", "seq"), (0, 1))]
    assert [(t.name, t.shape) for t in spec.model.outputs] == [("logits", ("batch", "seq", 49152))]
    gen = read(tiny)
    assert (gen.dims.layers, gen.dims.kv_heads, gen.dims.head_dim, gen.dims.vocab) == (2, 2, 16, 49152)
    assert gen.chat_template and not gen.gguf


def test_max_context_beyond_the_models_positions_is_a_spec_error(tmp_path, tiny):
    r = run_cli("validate", str(_spec(tmp_path, tiny)), "model.generation.max_context=1024")
    assert r.returncode == 2
    assert "model.generation.max_context" in _err(r) and "1024 tokens" in _err(r) and "512 positions" in _err(r)
    assert "Traceback" not in _err(r)


def test_a_folder_without_tokenizer_is_a_spec_error(tmp_path):
    tiny_llama(tmp_path / "tiny", tokenizer=False)
    r = run_cli("validate", str(write_spec(tmp_path, "tiny")))
    assert r.returncode == 2 and "model.path" in _err(r) and "no tokenizer.json" in _err(r), r.stderr


def test_a_gguf_of_an_unsupported_architecture_is_a_spec_error(tmp_path):
    import gguf

    writer = gguf.GGUFWriter(str(tmp_path / "model.gguf"), "bert")
    writer.add_block_count(2)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    r = run_cli("validate", str(write_spec(tmp_path, "model.gguf")))
    assert r.returncode == 2 and "model.path" in _err(r) and "architecture 'bert'" in _err(r), r.stderr


def test_a_file_that_is_not_gguf_is_a_spec_error(tmp_path):
    (tmp_path / "model.gguf").write_bytes(b"not a gguf file at all")
    r = run_cli("validate", str(write_spec(tmp_path, "model.gguf")))
    assert r.returncode == 2 and "not a readable GGUF file" in _err(r), r.stderr


@pytest.mark.parametrize("override,key", [
    ("optimize.precisions=[fp32,int4]", "optimize.precisions"),
    ("optimize.precisions=[int8]", "optimize.precisions"),
    ("+optimize.gates.min_token_agreement=0.9", "optimize.gates.min_token_agreement"),
    ("+optimize.gates.max_perplexity_increase=0.1", "optimize.gates.max_perplexity_increase"),
])
def test_generation_only_settings_on_another_task_are_spec_errors(override, key):
    r = run_cli("validate", str(EXAMPLES / "digits-cnn" / "deploy.yaml"), override)
    assert r.returncode == 2 and key in _err(r) and "text-generation" in _err(r), r.stderr


def test_explain_shows_the_memory_arithmetic_and_a_rough_cost(tmp_path, tiny):
    r = run_cli("explain", str(_spec(tmp_path, tiny)))
    assert r.returncode == 0, r.stderr
    flat = " ".join(r.stdout.split())
    assert "2 x 2 layers x 2 kv heads x 16 head dim x 256 tokens x 4 B" in flat.replace("│", "").replace("  ", " ") \
        or "kv heads" in flat
    assert "M parameters (llama, 2 layers" in flat and "roughly" in flat and "of memory at peak" in flat


def test_a_plan_that_does_not_fit_the_target_names_the_numbers():
    r = run_cli("explain", str(EXAMPLES / "smollm2-chat" / "deploy.yaml"), "serve.max_concurrency=64")
    assert r.returncode == 2, r.stdout
    err = " ".join(r.stderr.split())
    assert "model.generation.max_context" in err and "no precision fits target cpu-x86" in err
    assert "x 64 streams" in err and "resources.memory 2Gi" in err and "Traceback" not in err


def test_an_edge_target_says_why_it_has_no_generation_build():
    r = run_cli("explain", str(EXAMPLES / "smollm2-chat" / "deploy.yaml"), "target=android-arm64")
    said = " ".join(r.stdout.split()) + " ".join(r.stderr.split())
    assert "litert-torch 0.10.0's generative export" in said and "TensorFlow's TFLite schema" in said
    assert "bench/litert_generative_probe.py" in said and "Traceback" not in said


@pytest.mark.parametrize("text,value", [("2Gi", 2 * 2**30), ("512Mi", 512 * 2**20), ("1G", 10**9), ("1e9", 10**9),
                                        ("3", 3), ("lots", None)])
def test_memory_quantities(text, value):
    assert quantity(text) == value


def test_an_nvidia_target_plans_int4_and_fp16_for_cuda_against_gpu_memory():
    from compiler.frontend import load_spec
    from compiler.planner import plan

    spec = load_spec(EXAMPLES / "smollm2-chat" / "deploy.yaml", ["target=nvidia-a100",
                                                                 "optimize.precisions=[int4,fp16,fp32]"])
    steps = {s.config.candidate: s for s in plan(spec).passes}
    assert steps["genai-int4"].run and steps["genai-fp16"].run and not steps["genai-fp32"].run
    assert steps["genai-fp16"].config.device == "cuda" and "x 2 B" in steps["genai-fp16"].reason
    assert "gpu.memory_gib 80" in steps["genai-int4"].reason
    assert "CUDA targets builds int4, fp16" in steps["genai-fp32"].reason
