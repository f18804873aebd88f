"""OpenAI's response shapes, whole or as server-sent events (`data: {...}` chunks, `data: [DONE]`)."""

from __future__ import annotations

import json
import time

from .infer import JSON_HEADERS

SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


def _dumps(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _head(chat: bool, ident: str, model: str, chunk: bool) -> dict:
    kind = ("chat.completion.chunk" if chunk else "chat.completion") if chat else "text_completion"
    return {"id": ident, "object": kind, "created": int(time.time()), "model": model}


def whole(chat: bool, ident: str, model: str, text: str, finish: str, usage: dict) -> bytes:
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                  "logprobs": None}
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
    return _dumps({**_head(chat, ident, model, False), "choices": [choice], "usage": usage})


class Chunks:
    """The chunks of one streamed answer (same id and created time in each)."""

    def __init__(self, chat: bool, ident: str, model: str) -> None:
        self.chat = chat
        self.head = _head(chat, ident, model, True)

    def role(self) -> bytes:
        choice = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None, "logprobs": None}
        return _dumps({**self.head, "choices": [choice]})

    def delta(self, text: str, finish: str | None) -> bytes:
        if self.chat:
            choice = {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish,
                      "logprobs": None}
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
        return _dumps({**self.head, "choices": [choice]})

    def usage(self, usage: dict) -> bytes:
        return _dumps({**self.head, "choices": [], "usage": usage})


async def send_json(send, status: int, body: bytes) -> None:
    headers = JSON_HEADERS + [(b"content-length", str(len(body)).encode())]
    headers += [(b"allow", b"POST")] if status == 405 else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def start(send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})


async def event(send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": b"data: " + data + b"\n\n", "more_body": True})


async def end(send) -> None:
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
