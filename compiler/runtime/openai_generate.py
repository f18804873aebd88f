"""OpenAI-compatible `POST /v1/completions` and `POST /v1/chat/completions` (text generation).

The body is read with the infer route's limits (infer.Handler.read: max_request_bytes, gzip,
the body timeout); parsing is strict (openai_params.py); the prompt is checked against the
model's context; the request then joins the decode loop (llm_scheduler.py). While the answer is
made, the client's side of the connection is watched: a client that goes away cancels its
generation at the next token.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import replace

from . import sse, strictjson
from .errors import InferError, ServerError, Unavailable
from .infer import JSON_HEADERS, Handler
from .llm_scheduler import Event, Sequence
from .openai_api import _refuse, openai_error
from .openai_params import GenerateRequest, parse

log = logging.getLogger("runtime")


class TooMany(InferError):
    """Over max_concurrency: 429, which OpenAI clients retry after a pause."""

    status = 429
    outcome = "rejected"


class GenerateHandler(Handler):
    generates = True

    def __init__(self, state, chat: bool) -> None:
        super().__init__(state)
        self.chat = chat

    def error_body(self, exc: InferError) -> bytes:
        return openai_error(exc)

    async def __call__(self, scope, receive, send) -> None:
        state, m = self.state, self.state.metrics
        start = time.perf_counter()
        outcome = "client_error"
        limit = state.config.max_concurrency
        if state.inflight >= limit:
            exc = TooMany(f"over max_concurrency ({limit} requests in flight); retry later")
            await sse.send_json(send, exc.status, self.error_body(exc))
            m.requests[exc.outcome].inc()
            return
        state.inflight += 1
        m.inflight.inc()
        try:
            outcome = await self._serve(scope, receive, send)
        finally:
            state.inflight -= 1
            m.inflight.dec()
            state.last_active = time.monotonic()
            m.requests[outcome].inc()
            m.request_duration.observe(time.perf_counter() - start)

    async def _serve(self, scope, receive, send) -> str:
        try:
            req, seq = await self._begin(scope, receive)
        except InferError as exc:
            await sse.send_json(send, exc.status, self.error_body(exc))
            return exc.outcome
        except Exception:  # never a crash: a 500 whose id finds the trace in the log
            error_id = uuid.uuid4().hex[:12]
            log.exception("error id %s: unexpected failure in %s", error_id, scope["path"])
            exc = ServerError(f"internal error (error id {error_id}; the server log has the details)")
            await sse.send_json(send, 500, self.error_body(exc))
            return "server_error"
        watcher = asyncio.ensure_future(_disconnected(receive))
        try:
            if req.stream:
                return await self._stream(send, req, seq, watcher)
            return await self._whole(send, req, seq, watcher)
        finally:
            watcher.cancel()
            self.state.generator.cancel(seq)  # a no-op once it finished

    async def _begin(self, scope, receive) -> tuple[GenerateRequest, Sequence]:
        state = self.state
        if state.config.generation is None:
            raise _refuse(f"model {state.config.model_name!r} does not generate text (it was not built with "
                          "model.task text-generation)", "model")
        if state.generator is None:
            raise Unavailable(f"model {state.config.model_name!r} is not ready: {state.not_ready_reason()}")
        headers, body = await self.read(scope, receive)
        gen = state.config.generation
        req = parse(strictjson.loads(body), self.chat, state.config.model_name, gen)
        llm = state.generator.llm
        if self.chat and not gen.chat_template:
            raise _refuse("this model's tokenizer has no chat template: use /v1/completions", "messages")
        text = llm.chat_prompt(req.messages) if self.chat else req.prompt
        prompt = llm.encode(text)
        if not req.max_tokens_given and 0 < gen.max_context - prompt.size < req.sampling.max_tokens:
            # No max_tokens asked: as many as the context leaves room for (vLLM does the same).
            req = replace(req, sampling=replace(req.sampling, max_tokens=int(gen.max_context - prompt.size)))
        room = gen.max_context - req.sampling.max_tokens
        if prompt.size > room:
            field = "messages" if self.chat else "prompt"
            raise _refuse(f"{field}: {prompt.size} prompt tokens are over {room}, this model's max_context "
                          f"({gen.max_context}) less max_tokens ({req.sampling.max_tokens})", field)
        state.metrics.prompt_tokens.inc(int(prompt.size))
        state.metrics.prompt_length.observe(int(prompt.size))
        seq = Sequence(prompt, req.sampling, asyncio.get_running_loop())
        state.generator.submit(seq)
        return req, seq

    async def _next(self, seq: Sequence, watcher: asyncio.Future) -> Event | None:
        """The next event, or None once the client has gone away (its generation is cancelled)."""
        if not seq.events.empty():  # tokens already here: no task, no wait (the decode thread is ahead)
            return seq.events.get_nowait()
        getter = asyncio.ensure_future(seq.events.get())
        await asyncio.wait((getter, watcher), return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        self.state.generator.cancel(seq)
        return None

    async def _whole(self, send, req: GenerateRequest, seq: Sequence, watcher) -> str:
        pieces = []
        while True:
            event = await self._next(seq, watcher)
            if event is None:
                return "client_error"  # nobody is there to answer
            pieces.append(event.text)
            if event.finish is not None:
                break
        if event.finish == "error":
            exc = ServerError("generation failed (the server log has the details)")
            await sse.send_json(send, 500, self.error_body(exc))
            return "server_error"
        body = sse.whole(self.chat, _id(self.chat), req.model, "".join(pieces), event.finish, _usage(seq))
        await sse.send_json(send, 200, body)
        return "success"

    async def _stream(self, send, req: GenerateRequest, seq: Sequence, watcher) -> str:
        ident = _id(self.chat)
        chunk = sse.Chunks(self.chat, ident, req.model)
        await sse.start(send)
        if self.chat:
            await sse.event(send, chunk.role())
        while True:
            event = await self._next(seq, watcher)
            if event is None:
                return "client_error"
            if event.finish == "error":  # the status is sent: say so in the stream, as OpenAI does
                await sse.event(send, openai_error(ServerError("generation failed (see the server log)")))
                await sse.end(send)
                return "server_error"
            if event.text or event.finish is not None:
                await sse.event(send, chunk.delta(event.text, event.finish))
            if event.finish is not None:
                break
        if req.include_usage:
            await sse.event(send, chunk.usage(_usage(seq)))
        await sse.end(send)
        return "success"


def _id(chat: bool) -> str:
    return ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]


def _usage(seq: Sequence) -> dict:
    prompt = int(seq.prompt.size)
    return {"prompt_tokens": prompt, "completion_tokens": seq.completion_tokens,
            "total_tokens": prompt + seq.completion_tokens}


async def _disconnected(receive) -> None:
    """Returns when the client disconnects (the body has been read: nothing else comes)."""
    while (await receive())["type"] != "http.disconnect":
        pass
