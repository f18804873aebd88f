"""Text in, embeddings out: a real tiny BERT with the real MiniLM tokenizer, served by the real
runtime, answering tritonclient BYTES requests (JSON and binary) and the OpenAI client's
/v1/embeddings, compared with onnxruntime on ids from the same tokenizer."""

from __future__ import annotations

import base64
import json

import numpy as np
import openai
import pytest
import tritonclient.http as httpclient

from .helpers import MODEL, metric_value
from .text_model import DIM, Reference, start, text_config

SENTENCES = [
    "The cat sat on the mat.",
    "Deploying a transformer should not need a hand-written tokenizer.",
    "Short.",
    "A considerably longer sentence, with several clauses, that makes the batch pad its shorter neighbours "
    "unless requests of similar length are grouped together before the model runs.",
]


@pytest.fixture(scope="module")
def text_server(tmp_path_factory, artifact):
    srv = start(tmp_path_factory.mktemp("text-server"), artifact)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def reference(artifact):
    folder, _ = artifact
    return Reference(folder / "model.onnx", folder / "tokenizer.json")


@pytest.fixture(scope="module")
def triton(text_server):
    c = httpclient.InferenceServerClient(url=text_server.url, connection_timeout=30, network_timeout=30)
    yield c
    c.close()


def _bytes_input(texts: list, binary: bool, name: str = "text") -> httpclient.InferInput:
    item = httpclient.InferInput(name, [len(texts)], "BYTES")
    item.set_data_from_numpy(np.array(texts, dtype=object), binary_data=binary)
    return item


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_bytes_match_onnxruntime(triton, reference, binary):
    out = httpclient.InferRequestedOutput("embedding", binary_data=binary)
    result = triton.infer(MODEL, [_bytes_input(SENTENCES, binary)], outputs=[out])
    got = result.as_numpy("embedding")
    assert got.shape == (len(SENTENCES), DIM)
    np.testing.assert_allclose(got, reference.embed(SENTENCES), atol=2e-6)


def test_bytes_shape_n_by_1_and_pretokenized_ids_agree(text_server, reference):
    status, doc = text_server.post_json(f"/v2/models/{MODEL}/infer", {"inputs": [
        {"name": "text", "datatype": "BYTES", "shape": [2, 1], "data": [[SENTENCES[0]], [SENTENCES[2]]]}]})
    assert status == 200, doc
    by_text = np.asarray(doc["outputs"][0]["data"], np.float32).reshape(2, DIM)
    ids = reference.ids(SENTENCES[0])
    status, doc = text_server.post_json(f"/v2/models/{MODEL}/infer", {"inputs": [
        {"name": "input_ids", "datatype": "INT64", "shape": [1, len(ids)], "data": ids},
        {"name": "attention_mask", "datatype": "INT64", "shape": [1, len(ids)], "data": [1] * len(ids)},
        {"name": "token_type_ids", "datatype": "INT64", "shape": [1, len(ids)], "data": [0] * len(ids)}]})
    assert status == 200, doc
    np.testing.assert_allclose(np.asarray(doc["outputs"][0]["data"], np.float32), by_text[0], atol=2e-6)
    np.testing.assert_allclose(by_text, reference.embed([SENTENCES[0], SENTENCES[2]]), atol=2e-6)


def test_metadata_lists_the_text_input_as_bytes(triton):
    meta = triton.get_model_metadata(MODEL)
    inputs = {t["name"]: t for t in meta["inputs"]}
    assert inputs["text"] == {"name": "text", "datatype": "BYTES", "shape": [-1]}
    assert {"input_ids", "attention_mask", "token_type_ids"} <= set(inputs)


@pytest.fixture(scope="module")
def oai(text_server):
    return openai.OpenAI(base_url=f"http://{text_server.url}/v1", api_key="unused", max_retries=0, timeout=30)


@pytest.mark.parametrize("encoding_format", [None, "float", "base64"])
def test_openai_client_embeddings_match_onnxruntime(oai, reference, encoding_format):
    kwargs = {} if encoding_format is None else {"encoding_format": encoding_format}
    resp = oai.embeddings.create(model=MODEL, input=SENTENCES, **kwargs)
    assert resp.model == MODEL and [d.index for d in resp.data] == list(range(len(SENTENCES)))
    if encoding_format == "base64":  # asked for explicitly, the client hands the strings over as they came
        got = np.stack([np.frombuffer(base64.b64decode(d.embedding), "<f4") for d in resp.data])
    else:  # by default the client asks for base64 and decodes it itself
        got = np.array([d.embedding for d in resp.data], np.float32)
    np.testing.assert_allclose(got, reference.embed(SENTENCES), atol=2e-6)
    tokens = sum(len(reference.ids(s)) for s in SENTENCES)
    assert resp.usage.prompt_tokens == resp.usage.total_tokens == tokens


def test_openai_single_string_input(oai, reference):
    resp = oai.embeddings.create(model=MODEL, input=SENTENCES[1], encoding_format="float")
    assert len(resp.data) == 1 and resp.usage.prompt_tokens == len(reference.ids(SENTENCES[1]))
    np.testing.assert_allclose(resp.data[0].embedding, reference.embed([SENTENCES[1]])[0], atol=2e-6)


def test_openai_wrong_model_is_a_404_in_openai_shape(oai):
    with pytest.raises(openai.NotFoundError) as info:
        oai.embeddings.create(model="other-model", input="hi")
    error = info.value.body
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert error["type"] == "invalid_request_error" and "'other-model'" in error["message"]


@pytest.mark.parametrize("body, param, words", [
    ({"model": MODEL, "input": [1, 2, 3]}, "input", "input[0]: must be a string"),
    ({"model": MODEL, "input": []}, "input", "non-empty list"),
    ({"model": MODEL}, "input", "input: a string"),
    ({"input": "hi"}, "model", "model: required"),
    ({"model": MODEL, "input": "hi", "temperature": 1}, "temperature", "unknown field"),
    ({"model": MODEL, "input": "hi", "encoding_format": "int8"}, "encoding_format", "'int8'"),
    ({"model": MODEL, "input": "hi", "dimensions": 7}, "dimensions", "gives 32 dimensions"),
    ({"model": MODEL, "input": ["fine", ""]}, "input", "input[1]: empty string"),
])
def test_openai_bad_input_is_a_400_in_openai_shape(text_server, body, param, words):
    status, doc = text_server.post_json("/v1/embeddings", body)
    assert status == 400, doc
    assert set(doc["error"]) == {"message", "type", "param", "code"}
    assert doc["error"]["param"] == param and words in doc["error"]["message"], doc


def test_openai_models_lists_the_served_model(oai):
    assert [m.id for m in oai.models.list()] == [MODEL]


def test_unknown_tokens_and_tokens_per_request_are_counted(text_server, reference):
    before = text_server.metrics_text()
    status, _ = text_server.post_json("/v1/embeddings", {"model": MODEL, "input": ["🦜 and 🦜", "plain words"]})
    assert status == 200
    after = text_server.metrics_text()
    tokens = len(reference.ids("🦜 and 🦜")) + len(reference.ids("plain words"))

    def grew(name):
        return metric_value(after, name) - metric_value(before, name)

    assert grew("deployc_tokens_total") == tokens
    assert grew("deployc_unknown_tokens_total") == 2  # each parrot is [UNK] to MiniLM's WordPiece
    assert grew("deployc_request_tokens_count") == 1 and grew("deployc_request_tokens_sum") == tokens


def test_batches_pad_only_within_a_length_bucket(artifact, reference):
    """Mixed lengths queued together: each batch holds one length bucket and pads to its own
    longest row, so the short texts never pay for the long ones; results match one by one."""
    import asyncio

    from compiler.runtime.backend import load_backend
    from compiler.runtime.engine import BatchingEngine
    from compiler.runtime.metrics import Metrics
    from compiler.runtime.protocol import InferRequest
    from compiler.runtime.text import TextEncoder, bucket

    folder, vocab = artifact
    config = text_config(vocab, max_length=256, max_batch_size=8, max_queue_delay_ms=300.0)
    real = load_backend(config, folder)
    batches: list[tuple[int, list[int]]] = []  # (padded width, tokens per row)

    class Recording:  # the real onnxruntime backend, watched
        def run(self, inputs, outputs):
            batches.append((inputs["input_ids"].shape[1], inputs["attention_mask"].sum(1).tolist()))
            return real.run(inputs, outputs)

    texts = ["Short.", " ".join(["long"] * 100), "Also short.", " ".join(["longer"] * 110),
             "A medium sentence, " * 6, "Tiny."]
    encoder = TextEncoder(config.text, folder)
    reqs = []
    for text in texts:
        req = InferRequest({}, ("embedding",), frozenset(), rows=1, texts=[text], text_where="t")
        req.tokens = encoder.encode([text], "t")
        req.key = ("text", bucket(req.tokens.longest))
        reqs.append(req)

    async def main():
        # Every request is in the server: the engine waits (up to the delay) for company.
        engine = BatchingEngine(Recording(), config, Metrics(config), inflight=lambda: len(reqs))
        try:
            return await asyncio.gather(*(engine.infer(r) for r in reqs))
        finally:
            await engine.close()

    results = asyncio.run(main())
    assert len(batches) == 3, batches  # three buckets: <= 16, <= 64 and <= 128 tokens
    for width, lengths in batches:
        assert width == max(lengths) and len({bucket(n) for n in lengths}) == 1, batches
    assert sorted(len(lengths) for _, lengths in batches) == [1, 2, 3]
    got = np.concatenate([r["embedding"] for r in results])
    np.testing.assert_allclose(got, reference.embed(texts), atol=2e-6)


def test_embeddings_answers_match_the_openapi_document(text_server):
    from .test_api import _validate

    status, doc = text_server.post_json("/v1/embeddings", {"model": MODEL, "input": ["one", "two"]})
    assert status == 200
    _validate(doc, "EmbeddingsResponse")
    _validate({"model": MODEL, "input": ["one", "two"]}, "EmbeddingsRequest")
    status, doc = text_server.post_json("/v1/embeddings", {"model": "nope", "input": "x"})
    assert status == 404
    _validate(doc, "OpenAIError")
    status, _, raw = text_server.request("GET", "/v1/embeddings")
    assert status == 405
    _validate(json.loads(raw), "OpenAIError")


def test_text_drift_counts_tokens_per_text_in_the_baseline_buckets(tmp_path, artifact, reference):
    from compiler.runtime.config import DriftBaseline

    srv = start(tmp_path, artifact, drift={"text": DriftBaseline(edges=[8.0, 16.0], ratios=[0.5, 0.3, 0.2])})
    try:
        texts = ["Short.", "A sentence of ten tokens or so.", " ".join(["w"] * 30)]
        status, _ = srv.post_json("/v1/embeddings", {"model": MODEL, "input": texts})
        assert status == 200
        metrics = srv.metrics_text()
    finally:
        srv.stop()
    lengths = [len(reference.ids(t)) for t in texts]
    want = [sum(n < 8 for n in lengths), sum(8 <= n < 16 for n in lengths), sum(n >= 16 for n in lengths)]
    assert want == [1, 1, 1], lengths
    for bucket_index, count in enumerate(want):
        labels = {"input": "text", "bucket": str(bucket_index)}
        assert metric_value(metrics, "deployc_input_bucket_total", labels) == count
        assert metric_value(metrics, "deployc_input_baseline_ratio", labels) == [0.5, 0.3, 0.2][bucket_index]
