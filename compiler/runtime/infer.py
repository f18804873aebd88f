"""POST /v2/models/{name}[/versions/{version}]/infer as a plain ASGI handler.

The hot path skips Starlette's middleware, routing and Request/Response objects: on two cores
the event loop is the bottleneck for small models, so each microsecond here is throughput.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
import zlib

from .entities import TASK, finish, model_outputs
from .errors import InferError, ServerError, SlowBody, Timeout, TooLarge, Unavailable
from .protocol import check_model, decode, encode
from .state import RuntimeState

log = logging.getLogger("runtime")

PATH = re.compile(r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/infer")
JSON_HEADERS = [(b"content-type", b"application/json")]
BINARY_HEADERS = [(b"content-type", b"application/octet-stream")]
CLOSE = [(b"connection", b"close")]

if hasattr(asyncio, "timeout"):
    async def within(seconds: float, coro):
        async with asyncio.timeout(seconds):
            return await coro
else:  # Python 3.10
    async def within(seconds: float, coro):
        return await asyncio.wait_for(coro, seconds)


async def run_request(state: RuntimeState, req):
    """Tokenize a text request, then infer within the request's own timeout if it set one (HTTP
    and gRPC share this: one path from a decoded request to results)."""
    if req.texts is not None:
        state.tokenize(req)
    wanted = req.outputs
    req.outputs = model_outputs(wanted)  # the backend computes logits; entities come from them
    try:
        if req.timeout_s is None:
            results = await state.engine.infer(req)
        else:
            results = await within(req.timeout_s, state.engine.infer(req))
    except (asyncio.TimeoutError, TimeoutError):
        raise Timeout(f"the request took longer than its timeout ({req.timeout_s} s)") from None
    finally:
        req.outputs = wanted
    if state.text is None or state.text.config.task != TASK:
        return results
    results = finish(req, wanted, state.sig.outputs, dict(results), state.text)
    req.outputs = tuple(results)  # a pre-tokenized request without named outputs gets no entities
    return results


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}, allow_nan=False).encode()


class Handler:
    """The infer route; subclasses (openai_api) reuse its limits, accounting and error handling."""

    generates = False  # the route serves text-generation models (openai_generate)

    def __init__(self, state: RuntimeState) -> None:
        self.state = state

    def error_body(self, exc: InferError) -> bytes:
        return error_body(exc.message)

    async def __call__(self, scope, receive, send, *route) -> None:
        state, m = self.state, self.state.metrics
        start = time.perf_counter()
        if state.inflight >= state.config.max_concurrency:
            exc = Unavailable(f"over max_concurrency ({state.config.max_concurrency} requests in flight); "
                              "retry later")
            status, headers, body, outcome = exc.status, JSON_HEADERS, self.error_body(exc), exc.outcome
        else:
            state.inflight += 1
            m.inflight.inc()
            try:
                status, headers, body, outcome = await self._guarded(scope, receive, route)
            finally:
                state.inflight -= 1
                m.inflight.dec()
                state.last_active = time.monotonic()
                if state.engine is not None:
                    state.engine.poke()
        m.requests[outcome].inc()
        m.request_duration.observe(time.perf_counter() - start)
        if state.draining and CLOSE[0] not in headers:
            headers = headers + CLOSE  # clients and balancers move on to another replica
        headers = headers + [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _guarded(self, scope, receive, route: tuple):
        timeout = self.state.config.request_timeout_s
        try:
            request = await self.accept(scope, receive, *route)
            # The server's own time (decode, queue, inference, encode) starts once the body is in.
            headers, body = await within(timeout, self.serve(*request, *route))
            return 200, headers, body, "success"
        except InferError as exc:
            headers = JSON_HEADERS + CLOSE if getattr(exc, "close", False) else JSON_HEADERS
            return exc.status, headers, self.error_body(exc), exc.outcome
        except (asyncio.TimeoutError, TimeoutError):
            exc = Timeout(f"the request took longer than its timeout ({timeout} s)")
            return exc.status, JSON_HEADERS, self.error_body(exc), exc.outcome
        except Exception:  # never a crash: a 500 whose id finds the trace in the log
            error_id = uuid.uuid4().hex[:12]
            log.exception("error id %s: unexpected failure in infer", error_id)
            exc = ServerError(f"internal error (error id {error_id}; the server log has the details)")
            return 500, JSON_HEADERS, self.error_body(exc), "server_error"

    async def read(self, scope, receive) -> tuple[dict, bytes]:
        """The request's headers and (decompressed) body, once the model is ready. Receiving the
        body is the client's time: not in within request_timeout_s is a 408 (client_error)."""
        state = self.state
        if state.config.generation is not None and not self.generates:
            raise InferError(f"model {state.config.model_name!r} generates text: use POST /v1/completions or "
                             "/v1/chat/completions")
        if (state.generator if self.generates else state.engine) is None:
            raise Unavailable(f"model {state.config.model_name!r} is not ready: {state.not_ready_reason()}")
        headers = dict(scope["headers"])
        limit, timeout = state.config.max_request_bytes, state.config.request_timeout_s
        try:
            body = await within(timeout, read_body(receive, headers.get(b"content-length"), limit))
        except (asyncio.TimeoutError, TimeoutError):
            raise SlowBody(f"the request body did not arrive within request_timeout_s ({timeout} s)") from None
        return headers, decompress(body, headers.get(b"content-encoding"), limit)

    async def accept(self, scope, receive, name: str, version: str | None) -> tuple[dict, bytes]:
        """The route's checks, then the request as read(): what serve() works on."""
        check_model(name, version, self.state.config)
        return await self.read(scope, receive)

    async def serve(self, headers: dict, body: bytes, name: str, version: str | None):
        state = self.state
        config = state.config
        header_length = headers.get(b"inference-header-content-length")
        req = decode(body, None if header_length is None else header_length.decode("latin-1"), state.sig)
        results = await run_request(state, req)
        content, head_length = encode(req, results, config.model_name, config.model_version)
        if head_length is None:
            return JSON_HEADERS, content
        return BINARY_HEADERS + [(b"inference-header-content-length", str(head_length).encode())], content


async def read_body(receive, declared: bytes | None, limit: int) -> bytes:
    if declared is not None:
        if not declared.isdigit():
            raise InferError(f"Content-Length: not a number: {declared.decode('latin-1')!r}")
        if int(declared) > limit:
            raise TooLarge(f"request body of {int(declared)} bytes is over max_request_bytes ({limit})")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":  # nobody gets the answer; counted as the client's
            raise InferError("the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:  # chunked bodies declare no length: count while reading
            raise TooLarge(f"request body is over max_request_bytes ({limit})")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def decompress(body: bytes, encoding: bytes | None, limit: int) -> bytes:
    if encoding in (None, b"", b"identity"):
        return body
    name = encoding.decode("latin-1").strip().lower()
    wbits = {"gzip": 31, "deflate": 15}.get(name)
    if wbits is None:
        raise InferError(f"Content-Encoding: {name!r} is not supported (gzip, deflate)", 415)
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)  # bounded, so a zip bomb cannot eat the memory
    except zlib.error as exc:
        raise InferError(f"Content-Encoding: body is not valid {name}: {exc}") from None
    if len(out) > limit:
        raise TooLarge(f"decompressed request body is over max_request_bytes ({limit})")
    if not inflater.eof:
        raise InferError(f"Content-Encoding: body is not valid {name}: truncated stream")
    return out
