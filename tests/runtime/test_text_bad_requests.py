"""Bad text requests: each a 4xx naming the field (and the text's index), counted as a client
error, never a 500: text to a model without a tokenizer, bytes that are not UTF-8, an empty
string, ten thousand strings, a text longer than max_length; and truncation when the spec says so."""

from __future__ import annotations

import json
import struct
import time

import numpy as np
import pytest

from .helpers import MODEL, metric_value
from .text_model import Reference, start

INFER = f"/v2/models/{MODEL}/infer"
LONG = " ".join(["word"] * 100)  # 102 tokens with [CLS] and [SEP]


@pytest.fixture(scope="module")
def strict(tmp_path_factory, artifact):
    """max_length 64, truncation "error"."""
    srv = start(tmp_path_factory.mktemp("strict"), artifact, max_length=64)
    yield srv
    srv.stop()


def _texts(texts: list[str], shape=None) -> dict:
    return {"inputs": [{"name": "text", "datatype": "BYTES", "shape": shape or [len(texts)], "data": texts}]}


def _binary(elements: list[bytes]) -> tuple[bytes, dict]:
    blob = b"".join(struct.pack("<I", len(e)) + e for e in elements)
    head = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(elements)],
                                   "parameters": {"binary_data_size": len(blob)}}]}).encode()
    return head + blob, {"Inference-Header-Content-Length": str(len(head))}


def _error(srv, path: str, body: bytes, headers: dict | None = None) -> tuple[int, str]:
    status, _, raw = srv.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
    doc = json.loads(raw)
    return status, doc["error"]["message"] if isinstance(doc["error"], dict) else doc["error"]


def test_text_to_a_model_without_a_tokenizer(server):
    status, message = _error(server, INFER, json.dumps(_texts(["hello"])).encode())
    assert status == 400 and "takes no text" in message and "without a tokenizer" in message
    status, message = _error(server, "/v1/embeddings", json.dumps({"model": MODEL, "input": "hello"}).encode())
    assert status == 400 and "takes no text" in message


@pytest.mark.parametrize("route", ["binary", "json", "openai"])
def test_bytes_that_are_not_utf8_name_the_index(strict, route):
    if route == "binary":
        body, headers = _binary([b"fine", b"caf\xe9 \xff"])
        status, message = _error(strict, INFER, body, headers)
        assert "inputs[0] ('text').data[1]: not valid UTF-8" in message
    else:
        doc = _texts(["fine", "@@"]) if route == "json" else {"model": MODEL, "input": ["fine", "@@"]}
        body = json.dumps(doc).encode().replace(b"@@", b"caf\xe9")  # Latin-1 bytes in a JSON body
        status, message = _error(strict, INFER if route == "json" else "/v1/embeddings", body)
        assert ("inputs[0] ('text').data[1]" if route == "json" else "input[1]") in message
        assert "not valid UTF-8" in message
    assert status == 400


def test_a_lone_surrogate_escape_names_the_index(strict):
    status, message = _error(strict, INFER, b'{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],'
                                            b'"data":["\\ud800"]}]}')
    assert status == 400 and "data[0]: not valid UTF-8" in message


@pytest.mark.parametrize("text, words", [("", "empty string"), ("  \t\n", "no tokens")])
@pytest.mark.parametrize("route", ["infer", "openai"])
def test_an_empty_text_names_the_index(strict, text, words, route):
    if route == "infer":
        status, message = _error(strict, INFER, json.dumps(_texts(["fine", text])).encode())
        assert "inputs[0] ('text').data[1]" in message
    else:
        status, message = _error(strict, "/v1/embeddings", json.dumps({"model": MODEL, "input": ["ok", text]}).encode())
        assert "input[1]" in message
    assert status == 400 and words in message


@pytest.mark.parametrize("route", ["infer", "binary", "openai"])
def test_ten_thousand_strings_are_over_the_per_request_limit(strict, route):
    texts = ["a sentence"] * 10_000
    started = time.perf_counter()
    if route == "binary":
        body, headers = _binary([t.encode() for t in texts])
        status, message = _error(strict, INFER, body, headers)
    elif route == "infer":
        status, message = _error(strict, INFER, json.dumps(_texts(texts)).encode())
    else:
        status, message = _error(strict, "/v1/embeddings", json.dumps({"model": MODEL, "input": texts}).encode())
    assert status == 400 and "10000 texts are over max_batch_size 16" in message
    # Refused from the declared count, before any text is tokenized: fast, not a slow 200 or a 500.
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("route", ["infer", "openai"])
def test_a_text_over_max_length_names_index_and_token_count(strict, route):
    if route == "infer":
        status, message = _error(strict, INFER, json.dumps(_texts(["short", LONG])).encode())
        assert "inputs[0] ('text').data[1]: 102 tokens" in message
    else:
        status, message = _error(strict, "/v1/embeddings", json.dumps({"model": MODEL, "input": ["short", LONG]}).encode())
        assert "input[1]: 102 tokens" in message
    assert status == 400 and "max_length of 64" in message


@pytest.mark.parametrize("doc, words", [
    (_texts(["a", "b"], shape=[2, 2]), "[n] or [n, 1]"),
    (_texts(["a", "b"], shape=[3]), "2 elements, but the shape says 3"),
    (_texts([1, 2]), "data[0]: must be a string"),
    ({"inputs": [{"name": "text", "datatype": "INT64", "shape": [1], "data": [1]}]}, "expected BYTES"),
    ({"inputs": [{"name": "words", "datatype": "BYTES", "shape": [1], "data": ["x"]}]}, "the text input is 'text'"),
    ({"inputs": [_texts(["a"])["inputs"][0],
                 {"name": "input_ids", "datatype": "INT64", "shape": [1, 1], "data": [101]}]}, "not both"),
])
def test_malformed_text_inputs_name_the_field(strict, doc, words):
    status, message = _error(strict, INFER, json.dumps(doc).encode())
    assert status == 400 and words in message


@pytest.mark.parametrize("blob, words", [
    (struct.pack("<I", 1000) + b"fine", "element 0 declares 1000 bytes, but only 4 are left"),
    (struct.pack("<I", 4) + b"fine" + b"more", "4 bytes after the 1 elements"),
    (b"\x04\x00", "binary data holds 0 elements, but the shape says 1"),
])
def test_binary_elements_that_do_not_fit_their_size_are_refused(strict, blob, words):
    head = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1],
                                   "parameters": {"binary_data_size": len(blob)}}]}).encode()
    status, message = _error(strict, INFER, head + blob, {"Inference-Header-Content-Length": str(len(head))})
    assert status == 400 and words in message


def test_every_refusal_counted_as_a_client_error_never_a_server_error(strict):
    # Runs after the tests above (file order) on the same server.
    text = strict.metrics_text()
    assert metric_value(text, "deployc_requests_total", {"outcome": "client_error"}) >= 20
    assert metric_value(text, "deployc_requests_total", {"outcome": "server_error"}) == 0


def test_truncation_when_the_spec_says_truncate(tmp_path, artifact):
    srv = start(tmp_path, artifact, max_length=16, truncation="truncate")
    try:
        status, doc = srv.post_json("/v1/embeddings", {"model": MODEL, "input": [LONG, "short"],
                                                       "encoding_format": "float"})
    finally:
        srv.stop()
    assert status == 200, doc
    assert doc["usage"]["prompt_tokens"] == 16 + 3
    folder, _ = artifact
    want = Reference(folder / "model.onnx", folder / "tokenizer.json", max_length=16).embed([LONG, "short"])
    np.testing.assert_allclose([d["embedding"] for d in doc["data"]], want, atol=2e-6)
