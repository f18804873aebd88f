"""Text generation through the real server and the real OpenAI client (tiny random Llama, real
SmolLM2 tokenizer and chat template, built with onnxruntime-genai's model builder)."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from .helpers import MODEL, Server, metric_value
from .llm_model import build, llm_config, llm_root

openai = pytest.importorskip("openai")

MAX_NEW = 1500
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="session")
def tiny_llm(cache_dir):
    return build(cache_dir, "tiny", "fp32")


@pytest.fixture(scope="module")
def llm(tiny_llm, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("llm")
    config = llm_config(max_context=2048, max_new_tokens=MAX_NEW, max_batch_size=4, max_concurrency=8)
    srv = Server(tmp, config, root=llm_root(tmp / "root", tiny_llm, config))
    try:
        srv.wait_ready(120)
        yield srv
    finally:
        srv.stop()


def client(srv, **kwargs):
    return openai.OpenAI(base_url=f"http://{srv.url}/v1", api_key="unused", max_retries=0, **kwargs)


def test_chat_whole_and_streamed_agree(llm):
    oai = client(llm)
    whole = oai.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=12)
    assert whole.object == "chat.completion" and whole.choices[0].message.role == "assistant"
    assert whole.choices[0].finish_reason == "length"
    usage = whole.usage
    assert usage.completion_tokens == 12 and usage.total_tokens == usage.prompt_tokens + 12
    assert usage.prompt_tokens > 20  # the chat template's system turn and markers are counted
    chunks = list(oai.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=12,
                                              stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == usage.total_tokens


def test_completion_seed_determinism(llm):
    oai = client(llm)

    def sample(seed: int) -> str:
        return oai.completions.create(model=MODEL, prompt="Once upon a time", temperature=1.0, top_p=0.95,
                                      seed=seed, max_tokens=16).choices[0].text

    first = sample(7)
    assert sample(7) == first
    assert sample(8) != first


def test_stop_sequence_cuts_before_it(llm):
    oai = client(llm)
    text = oai.completions.create(model=MODEL, prompt="Hello", temperature=0, max_tokens=24).choices[0].text
    stop = text[len(text) // 2:len(text) // 2 + 3]
    assert len(stop) == 3 and stop.strip()
    cut = text[:text.find(stop)]
    for stream in (False, True):
        resp = oai.completions.create(model=MODEL, prompt="Hello", temperature=0, max_tokens=24,
                                      stop=["never-appears", stop], stream=stream)
        chunks = list(resp) if stream else [resp]
        assert "".join(c.choices[0].text for c in chunks) == cut
        assert chunks[-1].choices[0].finish_reason == "stop"


def test_models_and_v2_stay(llm):
    assert [m.id for m in client(llm).models.list().data] == [MODEL]
    status, _, body = llm.request("GET", f"/v2/models/{MODEL}")
    assert status == 200 and json.loads(body)["platform"] == "onnxruntime_genai"
    assert llm.request("GET", "/v2/health/ready")[0] == 200
    status, doc = llm.post_json(f"/v2/models/{MODEL}/infer", {"inputs": []})
    assert status == 400 and "/v1/chat/completions" in doc["error"]


BAD = [
    ("/v1/completions", {"prompt": "hi", "max_tokens": 0}, 400, "max_tokens"),
    ("/v1/completions", {"prompt": "hi", "max_tokens": 10**9}, 400, "max_tokens"),
    ("/v1/completions", {"prompt": "hi", "max_tokens": 1.5}, 400, "max_tokens"),
    ("/v1/completions", {"prompt": "word " * 3000}, 400, "prompt"),
    ("/v1/completions", {"prompt": "hi", "stop": ["x"] * 1000}, 400, "stop"),
    ("/v1/completions", {"prompt": "hi", "stop": [""]}, 400, "stop"),
    ("/v1/completions", {"prompt": "hi", "temperature": -1}, 400, "temperature"),
    ("/v1/completions", {"prompt": "hi", "top_p": 0}, 400, "top_p"),
    ("/v1/completions", {"prompt": "hi", "seed": "1"}, 400, "seed"),
    ("/v1/completions", {"prompt": "hi", "n": 2}, 400, "n"),
    ("/v1/completions", {"prompt": "hi", "best_of": 2}, 400, "best_of"),
    ("/v1/completions", {"prompt": [1, 2, 3]}, 400, "prompt"),
    ("/v1/completions", {}, 400, "prompt"),
    ("/v1/completions", {"prompt": "hi", "stream": "yes"}, 400, "stream"),
    ("/v1/chat/completions", {"messages": [{"role": "wizard", "content": "hi"}]}, 400, "messages"),
    ("/v1/chat/completions", {"messages": []}, 400, "messages"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": 3}]}, 400, "messages"),
    ("/v1/chat/completions", {"messages": QUESTION, "max_completion_tokens": MAX_NEW + 1}, 400,
     "max_completion_tokens"),
]


@pytest.mark.parametrize("path,fields,status,param", BAD, ids=[f"{p[-16:]}-{x[3]}" for x, p in
                                                                 zip(BAD, [b[0] for b in BAD])])
def test_bad_requests_name_the_field(llm, path, fields, status, param):
    got, doc = llm.post_json(path, {"model": MODEL, **fields})
    assert got == status, doc
    assert doc["error"]["param"] == param and doc["error"]["type"] == "invalid_request_error"


def test_bad_bytes(llm):
    status, _, body = llm.request("POST", "/v1/completions", b'{"model": "toy", "prompt": "\xff\xfe"}',
                                  {"Content-Type": "application/json"})
    assert status == 400 and b"UTF-8" in body
    status, _, body = llm.request("POST", "/v1/completions", b"x" * (4 * 1024 * 1024 + 1),
                                  {"Content-Type": "application/json"})
    assert status == 413
    assert client(llm).with_options().models.list()  # still serving
    status, doc = llm.post_json("/v1/completions", {"model": "other", "prompt": "hi"})
    assert status == 404 and doc["error"]["code"] == "model_not_found"
    assert llm.request("GET", "/v1/completions")[0] == 405


def _running(srv) -> float:
    return metric_value(srv.metrics_text(), "deployc_num_requests_running")


def test_disconnect_stops_generation(llm):
    before = metric_value(llm.metrics_text(), "deployc_generation_tokens_total")
    body = json.dumps({"model": MODEL, "prompt": "Hello", "max_tokens": MAX_NEW, "temperature": 0,
                       "stream": True}).encode()
    sock = socket.create_connection(("127.0.0.1", llm.port))
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    got = b""
    while b"data: " not in got:  # streaming has begun (the headers may come alone)
        chunk = sock.recv(65536)
        assert chunk, got
        got += chunk
    assert _running(llm) == 1
    sock.close()
    deadline = time.monotonic() + 10
    while _running(llm) != 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _running(llm) == 0
    settled = metric_value(llm.metrics_text(), "deployc_generation_tokens_total")
    time.sleep(0.5)
    assert metric_value(llm.metrics_text(), "deployc_generation_tokens_total") == settled  # tokens stopped
    assert 0 < settled - before < MAX_NEW


def test_tokens_reach_the_client_as_they_are_made(llm):
    """Each stream's first text arrives within its first tenth, not in one burst at the end (the
    decode thread once kept the GIL from the event loop that writes the sockets; three of four
    streams showed it)."""
    body = json.dumps({"model": MODEL, "prompt": "Hello", "max_tokens": MAX_NEW, "temperature": 0,
                       "stream": True}).encode()
    for _ in range(4):
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", llm.port)) as sock:
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            got, first = b"", None
            while b"[DONE]" not in got:
                chunk = sock.recv(1 << 20)
                assert chunk, got[-200:]
                got += chunk
                if first is None and b'"text":' in got:
                    first = time.perf_counter() - start
        total = time.perf_counter() - start
        assert got.count(b"data: ") > MAX_NEW // 2 and first < total / 10, (first, total)


def test_requests_decode_together(llm):
    """Four long streams (max_batch_size 4): each one's first token comes before any one ends."""
    async def stream(oai, log: list, i: int) -> None:
        resp = await oai.completions.create(model=MODEL, prompt=f"Story {i}:", temperature=0, max_tokens=MAX_NEW,
                                            stream=True)
        async for chunk in resp:
            log.append((i, "first"))
            break
        async for chunk in resp:
            pass
        log.append((i, "end"))

    async def main() -> list:
        log: list = []
        async with openai.AsyncOpenAI(base_url=f"http://{llm.url}/v1", api_key="x", max_retries=0) as oai:
            await asyncio.gather(*(stream(oai, log, i) for i in range(4)))
        return log

    log = asyncio.run(main())
    first_end = min(i for i, (_, what) in enumerate(log) if what == "end")
    assert sum(what == "first" for _, what in log[:first_end]) == 4, log


def test_over_the_concurrency_limit_is_429_never_a_crash(llm):
    """100 streams against max_concurrency 8: each is answered or refused with 429."""
    async def one(oai) -> int:
        try:
            resp = await oai.completions.create(model=MODEL, prompt="Hi", max_tokens=32, stream=True)
            async for _ in resp:
                pass
            return 200
        except openai.RateLimitError:
            return 429

    async def main() -> list:
        async with openai.AsyncOpenAI(base_url=f"http://{llm.url}/v1", api_key="x", max_retries=0) as oai:
            return await asyncio.gather(*(one(oai) for _ in range(100)))

    codes = asyncio.run(main())
    assert set(codes) <= {200, 429} and codes.count(200) >= 8 and 429 in codes
    text = llm.metrics_text()
    assert metric_value(text, "deployc_requests_total", {"outcome": "rejected"}) == codes.count(429)
    assert llm.request("GET", "/v2/health/ready")[0] == 200


def test_a_context_over_the_models_is_not_ready_with_the_reason(tiny_llm, tmp_path):
    config = llm_config(max_context=4096, max_new_tokens=64)  # the tiny model's context_length is 2048
    srv = Server(tmp_path, config, root=llm_root(tmp_path / "root", tiny_llm, config))
    try:
        srv.wait_live(60)
        deadline = time.monotonic() + 30
        while "context_length" not in srv.request("GET", "/v2/health/ready")[2].decode() and time.monotonic() < deadline:
            time.sleep(0.1)
        status, _, body = srv.request("GET", "/v2/health/ready")
        assert status == 503 and "max_context 4096 is over the model's context_length 2048" in body.decode()
        status, doc = srv.post_json("/v1/completions", {"model": MODEL, "prompt": "hi"})
        assert status == 503 and doc["error"]["type"] == "server_error"
    finally:
        srv.stop()


def test_a_model_that_does_not_generate_refuses_completions(server):
    status, doc = server.post_json("/v1/completions", {"model": MODEL, "prompt": "hi"})
    assert status == 400 and "does not generate text" in doc["error"]["message"]
    status, doc = server.post_json("/v1/chat/completions", {"model": MODEL, "messages": QUESTION})
    assert status == 400 and doc["error"]["param"] == "model"


def test_without_max_tokens_the_answer_fills_the_context_left(llm):
    """max_context 2048, max_new_tokens 1500: a 1000-token prompt gets 1048 new tokens at most,
    not a 400 (it asked for no number)."""
    prompt = " hello" * 1000
    oai = client(llm)
    resp = oai.completions.create(model=MODEL, prompt=prompt, temperature=0)
    assert resp.usage.prompt_tokens + resp.usage.completion_tokens <= 2048
    status, doc = llm.post_json("/v1/completions", {"model": MODEL, "prompt": prompt, "max_tokens": MAX_NEW})
    assert status == 400 and doc["error"]["param"] == "prompt" and "max_context (2048)" in doc["error"]["message"]
