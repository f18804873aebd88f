"""Token classification served: a tiny random BertForTokenClassification (BIO labels and one plain
tag) with the real MiniLM tokenizer, exported to ONNX, served by the real runtime; its `entities`
must equal what transformers' TokenClassificationPipeline (aggregation_strategy "simple") gives
for the same model, offsets included. It exercises the mechanics, not accuracy."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from compiler.runtime.config import TensorInfo, TextConfig
from tests.text_models import TOKEN_LABELS, tiny_bert

from .helpers import MODEL, Server, runtime

TEXTS = ["Ada Lovelace wrote the first program in London.", "Hi.",
         "Zürich and São Paulo are far apart; emojis 🙂 become unknown tokens.",
         "The committee met in Geneva on Tuesday to discuss the treaty with Ms. Okonkwo."]
NAMES = ["input_ids", "attention_mask", "token_type_ids"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("ner") / "model", tokens=True, seed=3)


@pytest.fixture(scope="module")
def server(folder, tmp_path_factory):
    import torch
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(str(folder), attn_implementation="eager").eval()

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    tmp = tmp_path_factory.mktemp("ner-server")
    onnx_path = tmp / "model.onnx"
    ids = torch.randint(1000, 2000, (2, 8))
    dynamic = {n: {0: "batch", 1: "seq"} for n in NAMES} | {"logits": {0: "batch", 1: "seq"}}
    with torch.no_grad():
        torch.onnx.export(Logits().eval(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(onnx_path),
                          input_names=NAMES, output_names=["logits"], dynamic_axes=dynamic, opset_version=17,
                          dynamo=False)
    seq = ["batch", "seq"]
    config = runtime(
        model_name=MODEL, model_version="1", artifact="model.onnx", backend="onnxruntime",
        inputs=[TensorInfo(n, "INT64", [-1, -1], seq, None) for n in NAMES],
        outputs=[TensorInfo("logits", "FP32", [-1, -1, len(TOKEN_LABELS)], ["batch", "seq", None], None)],
        max_batch_size=8, max_queue_delay_ms=5.0, drain_seconds=5, drift={},
        text=TextConfig(input="text", tokenizer="tokenizer.json", max_length=64, truncation="error",
                        task="token-classification", labels=list(TOKEN_LABELS), pad_id=0, model_inputs=NAMES))
    (tmp / "root" / "model").mkdir(parents=True)
    (tmp / "root" / "model" / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes())
    srv = Server(tmp, config, onnx_path.read_bytes(), grpc_port=True)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def expected(folder):
    from transformers import AutoModelForTokenClassification, BertTokenizerFast, pipeline

    tokenizer = BertTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    model = AutoModelForTokenClassification.from_pretrained(str(folder)).eval()
    ner = pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="simple",
                   device="cpu")
    return [ner(t) for t in TEXTS]


def _same(got: list[dict], want: list[dict]) -> None:
    assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in got] == \
        [(e["entity_group"], e["word"], e["start"], e["end"]) for e in want]
    assert np.allclose([e["score"] for e in got], [float(e["score"]) for e in want], atol=1e-4)


def test_entities_match_the_transformers_pipeline(server, expected):
    doc = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(TEXTS)], "data": TEXTS}]}
    r = requests.post(f"http://{server.url}/v2/models/{MODEL}/infer", json=doc, timeout=30)
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o for o in r.json()["outputs"]}
    assert outputs["entities"]["datatype"] == "BYTES" and outputs["entities"]["shape"] == [len(TEXTS)]
    groups = set()
    for text, element, want in zip(TEXTS, outputs["entities"]["data"], expected):
        got = json.loads(element)
        _same(got, want)
        groups |= {e["entity_group"] for e in got}
        for e in got:  # offsets index the text as sent
            word = e["word"].replace("##", "").replace(" ", "").lower()
            span = "".join(c for c in unicodedata.normalize("NFD", text[e["start"]:e["end"]])
                           if not unicodedata.combining(c))  # the tokenizer strips accents
            assert span.lower().replace(" ", "") == word or "[unk]" in word, (text, e)
    assert len(groups) >= 2, groups  # the random head predicts several tags: grouping is exercised
    logits = outputs["logits"]
    assert logits["shape"][0] == len(TEXTS) and logits["shape"][2] == len(TOKEN_LABELS)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_reads_entities_over_http_and_grpc(server, expected, binary):
    item = httpclient.InferInput("text", [2], "BYTES")
    item.set_data_from_numpy(np.array(TEXTS[:2], dtype=object), binary_data=binary)
    with httpclient.InferenceServerClient(url=server.url) as client:
        out = client.infer(MODEL, [item], outputs=[httpclient.InferRequestedOutput("entities", binary_data=binary)])
    for element, want in zip(out.as_numpy("entities"), expected[:2]):
        _same(json.loads(element), want)
    g = grpcclient.InferInput("text", [1], "BYTES")
    g.set_data_from_numpy(np.array(TEXTS[:1], dtype=object))
    with grpcclient.InferenceServerClient(url=f"127.0.0.1:{server.grpc_port}") as client:
        out = client.infer(MODEL, [g], outputs=[grpcclient.InferRequestedOutput("entities")])
    _same(json.loads(out.as_numpy("entities")[0]), expected[0])


def test_metadata_lists_entities_and_pretokenized_requests_cannot_ask_for_them(server):
    meta = requests.get(f"http://{server.url}/v2/models/{MODEL}", timeout=10).json()
    assert {"name": "entities", "datatype": "BYTES", "shape": [-1]} in meta["outputs"]
    ids = [[101, 7592, 102]]
    tensors = [{"name": n, "datatype": "INT64", "shape": [1, 3], "data": v}
               for n, v in zip(NAMES, (ids, [[1, 1, 1]], [[0, 0, 0]]))]
    r = requests.post(f"http://{server.url}/v2/models/{MODEL}/infer", json={"inputs": tensors}, timeout=10)
    assert r.status_code == 200 and [o["name"] for o in r.json()["outputs"]] == ["logits"], r.text
    r = requests.post(f"http://{server.url}/v2/models/{MODEL}/infer",
                      json={"inputs": tensors, "outputs": [{"name": "entities"}]}, timeout=10)
    assert r.status_code == 400 and "outputs" in r.json()["error"] and "text input" in r.json()["error"]
