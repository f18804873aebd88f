"""serve.engine vllm's spec rules: where it runs, what it serves, and its keys elsewhere."""

from __future__ import annotations

import pytest

from compiler.errors import SpecError
from compiler.frontend import load_spec
from tests.conftest import EXAMPLES

LLAMA = EXAMPLES / "llama70b-plan" / "llama70b.yaml"
DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"


@pytest.mark.parametrize("spec, overrides, key, words", [
    (LLAMA, ["target=cpu-arm64"], "serve.engine", "NVIDIA GPU targets"),
    (LLAMA, ["target=android-arm64"], "serve.engine", "NVIDIA GPU targets"),
    (LLAMA, ["target.resources.gpu=2"], "target.resources.gpu", "capacity plan sets the GPUs per pod"),
    (DIGITS, ["target=nvidia-a100", "serve.engine=vllm"], "serve.engine", "text-generation"),
    (DIGITS, ["serve.throughput.tokens_per_second=100"], "serve.throughput", "serve.engine vllm"),
    (LLAMA, ["serve.vllm.image_digest=sha256:xyz"], "serve.vllm.image_digest", ""),
    (LLAMA, ["serve.vllm.gpu_memory_utilization=1.5"], "serve.vllm.gpu_memory_utilization", ""),
])
def test_refused_with_the_key(spec, overrides, key, words):
    with pytest.raises(SpecError) as info:
        load_spec(spec, overrides)
    paths = [i.path for i in info.value.issues]
    assert key in paths, paths
    assert words in str(info.value)


def test_the_example_loads_without_weights_or_tokenizer():
    spec = load_spec(LLAMA, [])
    assert spec.serve.engine == "vllm" and spec.model.generation.max_context == 8192
    assert [i.name for i in spec.model.inputs] == ["input_ids", "attention_mask"]
