"""text-generation passes on a tiny random Llama (SmolLM2's tokenizer and chat template): the
builder's folders, verification against transformers, the gates (NaN never passes), the
builder's byte stability, and the shipped folder under model/genai/ and image/model/genai/."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from compiler.frontend.spec import Gates
from compiler.passes.verify import check_gates
from compiler.verification import Verification
from tests.conftest import run_cli
from tests.llm_models import tiny_llama, write_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tree(cache_dir, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("tiny-llm")
    tiny_llama(dest / "tiny")
    spec = write_spec(dest, "tiny", precisions=("int4", "fp32"),
                      gates={"min_token_agreement": 0.5, "max_perplexity_increase": 0.5})
    r = run_cli("build", str(spec), "-o", str(dest / "out"), timeout=1800)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "reference prompt 3/3" in r.stdout and "genai-build (genai-int4)" in r.stdout  # progress per pass
    return dest / "out" / "cpu-x86"


def test_every_candidate_is_verified_against_transformers(tree):
    report = json.loads((tree / "report.json").read_text())
    rows = {c["candidate"]: c for c in report["candidates"]}
    assert set(rows) == {"genai-int4", "genai-fp32"}
    for row in rows.values():
        assert row["passed"] and row["format"] == "genai" and row["passes"] == ["genai-build"]
        assert 0 <= row["token_agreement"] <= 1 and row["perplexity"] > 0 and row["peak_memory_mb"] > 0
        assert row["tokens_per_s"] > 0 and row["ttft_ms"] > 0 and row["latency"][0]["batch"] == 1
        assert row["load_seconds"] > 0  # sizes the startup probe
    fp32 = rows["genai-fp32"]  # the same weights: the builder's graph computes what transformers does
    assert fp32["token_agreement"] == 1.0 and fp32["cosine"] > 0.9999 and abs(fp32["perplexity_increase"]) < 1e-3
    assert rows["genai-int4"]["size_mb"] < fp32["size_mb"]
    assert report["verification"] == {"origin": "evaluation", "samples": 3, "reference_accuracy": None}
    assert "token agreement" in (tree / "report.md").read_text()


def test_the_selected_folder_ships_in_model_and_image(tree):
    report = json.loads((tree / "report.json").read_text())
    names = sorted(p.name for p in (tree / "model" / "genai").iterdir())
    assert names == ["chat_template.jinja", "genai_config.json", "model.onnx", "model.onnx.data", "tokenizer.json",
                     "tokenizer_config.json"]
    for name in names:
        assert (tree / "image" / "model" / "genai" / name).read_bytes() == (tree / "model" / "genai" / name).read_bytes()
    config = json.loads((tree / "model" / "genai" / "genai_config.json").read_text())
    assert config["search"]["max_length"] == 256  # model.generation.max_context: the KV cache per stream
    runtime = json.loads((tree / "image" / "runtime.json").read_text())
    assert runtime["backend"] == "onnxruntime-genai" and runtime["artifact"] == "genai"
    assert runtime["generation"] == {"model_dir": "genai", "max_context": 256, "max_new_tokens": 32,
                                     "chat_template": True}
    model = json.loads((tree / "model" / "model.json").read_text())
    assert model["candidate"] == report["selected"]["candidate"] and model["format"] == "genai"


def test_the_builder_writes_the_same_bytes_twice(tmp_path):
    from compiler.passes.genai_build import _run_builder, folder_digest

    source = tiny_llama(tmp_path / "tiny", layers=1)
    for entry in ("a", "b"):
        (tmp_path / entry).mkdir()
        _run_builder(source, tmp_path / entry, "int4", "cpu", 128)
    assert folder_digest(tmp_path / "a" / "genai") == folder_digest(tmp_path / "b" / "genai")
    shutil.rmtree(tmp_path / "a")


@pytest.mark.parametrize("field,gate", [("token_agreement", "min_token_agreement"),
                                        ("perplexity_increase", "max_perplexity_increase")])
def test_nan_and_missing_generation_metrics_fail_their_gates(field, gate):
    gates = Gates(**{gate: 0.5})
    for value in (math.nan, None):
        v = Verification("genai-int4", 0.0, 1.0, **{field: value})
        (failure,) = check_gates(v, gates)
        assert failure.metric == field
    v = Verification("genai-int4", 0.0, 1.0, **{field: 0.75 if gate.startswith("min") else 0.25})
    assert check_gates(v, gates) == []
