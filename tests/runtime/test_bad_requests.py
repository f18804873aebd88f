"""Bad requests get a 4xx with a message naming the fault; fuzzed bodies never get a 5xx."""

from __future__ import annotations

import http.client
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import MODEL

INFER = f"/v2/models/{MODEL}/infer"


def good(**override) -> dict:
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
                      {"name": "ids", "datatype": "INT64", "shape": [1, 2], "data": [5, 6]}]}
    doc.update(override)
    return doc


def with_input(i: int, **fields) -> dict:
    doc = good()
    doc["inputs"][i].update(fields)
    return doc


@pytest.mark.parametrize("doc, status, needle", [
    (with_input(0, datatype="FP64"), 400, "inputs[0] ('x').datatype: expected FP32, got 'FP64'"),
    (with_input(0, shape=[1, 3], data=[1, 2, 3]), 400, "inputs[0] ('x').shape: [1, 3] does not match"),
    (with_input(1, shape=[1, 3]), 400, "inputs[1] ('ids').data: 2 elements, but shape [1, 3] needs 3"),
    (good(inputs=good()["inputs"][:1]), 400, "inputs: missing ['ids']"),
    (with_input(0, data=[1, "two", 3, 4]), 400, "do not fit datatype FP32"),
    (good(outputs=[{"name": "logits"}]), 400, "outputs[0].name: unknown output 'logits'"),
])
def test_bad_infer_bodies(server, doc, status, needle):
    got, body = server.post_json(INFER, doc)
    assert got == status and needle in body["error"]


def test_good_body_passes(server):
    status, body = server.post_json(INFER, good())
    assert status == 200 and body["outputs"][1]["data"] == [11.0]


def test_malformed_json(server):
    status, _, body = server.request("POST", INFER, b'{"inputs": [', {"Content-Type": "application/json"})
    assert status == 400 and "malformed JSON body" in json.loads(body)["error"]


def test_unknown_model_and_version(server):
    status, body = server.post_json("/v2/models/nope/infer", good())
    assert status == 404 and "model 'nope' not found; this server serves 'toy'" in body["error"]
    status, body = server.post_json(f"/v2/models/{MODEL}/versions/9/infer", good())
    assert status == 404 and "no version '9'" in body["error"]
    status, _, raw = server.request("GET", "/v2/models/nope")
    assert status == 404 and "not found" in json.loads(raw)["error"]


def test_oversized_body_declared_and_chunked(server):
    limit = server.config.max_request_bytes
    big = b" " * (limit + 1)
    status, _, body = server.request("POST", INFER, big, {"Content-Type": "application/json"})
    assert status == 413 and f"{limit + 1} bytes is over max_request_bytes ({limit})" in json.loads(body)["error"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        chunks = iter([b" " * 16384] * (limit // 16384 + 2))  # no Content-Length: counted while reading
        conn.request("POST", INFER, body=chunks, encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 413 and "over max_request_bytes" in json.loads(resp.read())["error"]
    finally:
        conn.close()


def test_wrong_method_unknown_path_and_encoding(server):
    status, headers, body = server.request("GET", INFER)
    assert status == 405 and headers["allow"] == "POST" and "use POST" in json.loads(body)["error"]
    status, _, body = server.request("GET", "/v2/nothing/here")
    assert status == 404 and "/v2/nothing/here" in json.loads(body)["error"]
    status, _, body = server.request("POST", INFER, b"x", {"Content-Encoding": "br"})
    assert status == 415 and "Content-Encoding" in json.loads(body)["error"]
    status, _, body = server.request("POST", INFER, b"x", {"Content-Encoding": "gzip"})
    assert status == 400 and "not valid gzip" in json.loads(body)["error"]


# --- fuzz ---------------------------------------------------------------------------------------

DATATYPES = ["FP32", "INT64", "FP64", "FP16", "INT8", "UINT8", "BOOL", "BYTES", "BF16", "fp32", ""]
scalars = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.booleans(), st.none(),
                    st.text(max_size=3))
data = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6), max_leaves=40)
shapes = st.lists(st.integers(-2, 10), max_size=4) | st.just([1, 4]) | st.just([2, 3]) | scalars
tensor = st.fixed_dictionaries(
    {"name": st.sampled_from(["x", "ids", "y", "zz", ""]) | scalars},
    optional={"datatype": st.sampled_from(DATATYPES) | scalars, "shape": shapes, "data": data,
              "parameters": st.dictionaries(st.sampled_from(["binary_data_size", "binary_data", "other"]),
                                            scalars | st.integers(0, 64), max_size=2) | scalars})
request = st.fixed_dictionaries(
    {}, optional={"inputs": st.lists(tensor, max_size=3) | scalars, "id": scalars,
                  "outputs": st.lists(tensor, max_size=2) | scalars,
                  "parameters": st.dictionaries(st.sampled_from(["timeout", "binary_data_output", "priority"]),
                                                scalars, max_size=2) | scalars}) | data


HEADER_CHARS = st.characters(min_codepoint=33, max_codepoint=126)


@pytest.fixture(scope="module")
def conn(server):
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    yield c
    c.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(doc=request, header=st.none() | st.integers(-5, 400).map(str) | st.text(HEADER_CHARS, max_size=4),
       trailer=st.binary(max_size=40))
def test_fuzz_never_5xx(conn, doc, header, trailer):
    payload = json.dumps(doc).encode()
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Inference-Header-Content-Length"] = header
        payload += trailer
    conn.request("POST", INFER, body=payload, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status < 500, body
    if resp.status >= 400:
        assert json.loads(body)["error"]
    if resp.getheader("connection") == "close":
        conn.close()
