"""A token classifier deployed from its Hugging Face folder end to end: a tiny random
BertForTokenClassification with MiniLM's tokenizer (mechanics, not accuracy) built for cpu-x86
through the CLI, verified per token against the transformers model, and the built image's
runtime serving entities for text."""

from __future__ import annotations

import json

import onnx
import pytest
import requests

from compiler.runtime.config import RuntimeConfig
from tests.conftest import run_cli
from tests.runtime.helpers import Server
from tests.text_models import TOKEN_LABELS, text_spec, tiny_bert

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tree(cache_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("ner-build")
    spec = text_spec(tiny_bert(base / "model", tokens=True, seed=7), "token-classification",
                     extra="optimize: {quantize: none}\n")
    r = run_cli("build", str(spec), "-o", str(base / "out"), timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:] + r.stdout[-4000:]
    return base / "out" / "cpu-x86"


def test_every_candidate_is_verified_per_token(tree):
    report = json.loads((tree / "report.json").read_text())
    rows = {c["candidate"]: c for c in report["candidates"]}
    assert rows["onnx-fp32"]["top1_agreement"] == 1.0 and rows[report["selected"]["candidate"]]["passed"]
    graph = onnx.load(str(tree / "image" / "model" / "model.onnx"), load_external_data=False).graph
    out = graph.output[0]
    assert out.name == "logits" and [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == \
        ["batch", "seq", len(TOKEN_LABELS)]
    text = json.loads((tree / "image" / "runtime.json").read_text())["text"]
    assert text["task"] == "token-classification" and text["labels"] == list(TOKEN_LABELS)


def test_the_built_image_serves_entities(tree, tmp_path):
    root = tree / "image"
    srv = Server(tmp_path, RuntimeConfig.load(root / "runtime.json"), root=root)
    try:
        srv.wait_ready()
        doc = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["Ada Lovelace lived in London."]}]}
        r = requests.post(f"http://{srv.url}/v2/models/{srv.config.model_name}/infer", json=doc, timeout=30)
    finally:
        srv.stop()
    assert r.status_code == 200, r.text
    entities = json.loads(next(o for o in r.json()["outputs"] if o["name"] == "entities")["data"][0])
    assert all({"entity_group", "score", "word", "start", "end"} == set(e) for e in entities)
