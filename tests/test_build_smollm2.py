"""examples/smollm2-chat end to end: the real SmolLM2-135M-Instruct GGUF built for cpu-x86 through
the CLI (one shared build, cached under DEPLOYC_TEST_CACHE; minutes on two cores), judged against
transformers, and the shipped onnxruntime-genai folder asked the capital of France through the
model's own chat template with greedy decoding."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.llm_models import SMOLLM2_EXAMPLE, smollm2_gguf

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tree(cache_dir, tmp_path_factory):
    smollm2_gguf()
    dest = tmp_path_factory.mktemp("smollm2")
    r = run_cli("build", str(SMOLLM2_EXAMPLE / "deploy.yaml"), "-o", str(dest), timeout=3000)
    assert r.returncode == 0, r.stderr + r.stdout
    return dest / "cpu-x86"


def test_the_report_shows_agreement_and_perplexity_for_each_candidate(tree):
    report = json.loads((tree / "report.json").read_text())
    rows = {c["candidate"]: c for c in report["candidates"]}
    assert set(rows) == {"genai-int4", "genai-int8", "genai-fp32"}
    for row in rows.values():
        assert 0 <= row["token_agreement"] <= 1 and row["perplexity"] > 1 and "perplexity_increase" in row
        assert row["tokens_per_s"] > 0 and row["ttft_ms"] > 0 and row["peak_memory_mb"] > 0 and row["load_seconds"] > 0
        assert row["passed"] == (row["token_agreement"] >= 0.9 and row["perplexity_increase"] <= 0.1)
    selected = rows[report["selected"]["candidate"]]
    assert selected["passed"] and report["gates"]["min_token_agreement"] == 0.9
    assert rows["genai-fp32"]["token_agreement"] == 1.0  # the same weights, the same greedy tokens
    md = (tree / "report.md").read_text()
    assert "token agreement" in md and "perplexity increase" in md


def test_the_built_artifact_answers_the_capital_of_france(tree):
    import onnxruntime_genai as og

    folder = tree / "image" / "model" / "genai"
    model = og.Model(str(folder))
    tokenizer = og.Tokenizer(model)
    prompt = tokenizer.apply_chat_template(json.dumps([{"role": "user", "content": "What is the capital of France?"}]),
                                           template_str=(folder / "chat_template.jinja").read_text(),
                                           add_generation_prompt=True)
    ids = tokenizer.encode(prompt)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + 24, do_sample=False)
    generator = og.Generator(model, params)
    generator.append_tokens(ids)
    out = []
    while not generator.is_done():
        generator.generate_next_token()
        out.append(int(generator.get_next_tokens()[0]))
    assert tokenizer.decode(out).strip() == "The capital of France is Paris."


def test_model_and_image_carry_the_same_folder(tree):
    for path in sorted((tree / "model" / "genai").iterdir()):
        assert (tree / "image" / "model" / "genai" / path.name).read_bytes() == path.read_bytes()
    runtime = json.loads((tree / "image" / "runtime.json").read_text())
    assert runtime["generation"] == {"model_dir": "genai", "max_context": 2048, "max_new_tokens": 256,
                                     "chat_template": True}
