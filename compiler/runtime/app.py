"""The REST surface: Open Inference Protocol v2 routes, /metrics and /v2/openapi.json."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
import zlib
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .backend import PLATFORMS
from .config import RuntimeConfig
from .errors import InferError, Timeout, TooLarge, Unavailable
from .openapi import OPENAPI
from .protocol import check_model, decode, encode
from .state import RuntimeState

log = logging.getLogger("runtime")

SERVER_NAME = "deployc-runtime"
SERVER_VERSION = "0.1.0"
JSON = "application/json"


def _json(doc: dict, status: int = 200) -> Response:
    return Response(json.dumps(doc, separators=(",", ":")), status, media_type=JSON)


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


if hasattr(asyncio, "timeout"):
    async def _within(seconds: float, coro):
        async with asyncio.timeout(seconds):
            return await coro
else:  # Python 3.10
    async def _within(seconds: float, coro):
        return await asyncio.wait_for(coro, seconds)


def _state(request: Request) -> RuntimeState:
    return request.app.state.runtime


async def live(request: Request) -> Response:
    return _json({"live": True})


async def ready(request: Request) -> Response:
    state = _state(request)
    if state.ready:
        return _json({"ready": True})
    return _json({"ready": False, "reason": state.not_ready_reason()}, 503)


async def server_metadata(request: Request) -> Response:
    return _json({"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": ["binary_tensor_data"]})


def _model(request: Request) -> RuntimeState:
    state = _state(request)
    check_model(request.path_params["name"], request.path_params.get("version"), state.config)
    return state


def _tensor_meta(tensors) -> list[dict]:
    return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in tensors]


async def model_metadata(request: Request) -> Response:
    config: RuntimeConfig = _model(request).config
    return _json({
        "name": config.model_name, "versions": [config.model_version],
        "platform": PLATFORMS[config.backend],
        "inputs": _tensor_meta(config.inputs), "outputs": _tensor_meta(config.outputs),
    })


async def model_ready(request: Request) -> Response:
    state = _model(request)
    body = {"name": state.config.model_name, "ready": state.ready}
    return _json(body, 200 if state.ready else 503)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(_state(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def openapi_doc(request: Request) -> Response:
    return _json(OPENAPI)


async def infer(request: Request) -> Response:
    state = _state(request)
    m = state.metrics
    start = time.perf_counter()
    if state.inflight >= state.config.max_concurrency:
        exc = Unavailable(f"over max_concurrency ({state.config.max_concurrency} requests in flight); retry later")
        response, outcome = _error(exc.status, exc.message), exc.outcome
    else:
        state.inflight += 1
        m.inflight.inc()
        try:
            response, outcome = await _infer_guarded(state, request)
        finally:
            state.inflight -= 1
            m.inflight.dec()
            state.last_active = time.monotonic()
    m.requests[outcome].inc()
    m.request_duration.observe(time.perf_counter() - start)
    if state.draining:
        response.headers["connection"] = "close"  # clients and balancers move to another replica
    return response


async def _infer_guarded(state: RuntimeState, request: Request) -> tuple[Response, str]:
    timeout = state.config.request_timeout_s
    try:
        return await _within(timeout, _infer(state, request)), "success"
    except InferError as exc:
        return _error(exc.status, exc.message), exc.outcome
    except (asyncio.TimeoutError, TimeoutError):
        exc = Timeout(f"the request took longer than its timeout ({timeout} s)")
        return _error(exc.status, exc.message), exc.outcome
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("error id %s: unexpected failure in infer", error_id)
        return _error(500, f"internal error (error id {error_id}; the server log has the details)"), "server_error"


async def _infer(state: RuntimeState, request: Request) -> Response:
    config = state.config
    check_model(request.path_params["name"], request.path_params.get("version"), config)
    if state.engine is None:
        raise Unavailable(f"model {config.model_name!r} is not ready: {state.not_ready_reason()}")
    body = await _read_body(request, config.max_request_bytes)
    body = _decompress(body, request.headers.get("content-encoding"), config.max_request_bytes)
    req = decode(body, request.headers.get("inference-header-content-length"), state.sig)
    if req.timeout_s is not None:
        results = await _within(req.timeout_s, state.engine.infer(req))
    else:
        results = await state.engine.infer(req)
    content, header_length = encode(req, results, config.model_name, config.model_version)
    headers = {"inference-header-content-length": str(header_length)} if header_length is not None else None
    media = "application/octet-stream" if header_length is not None else JSON
    return Response(content, headers=headers, media_type=media)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InferError(f"Content-Length: not a number: {declared!r}")
        if int(declared) > limit:
            raise TooLarge(f"request body of {declared} bytes is over max_request_bytes ({limit})")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked bodies declare no length: count while reading
            raise TooLarge(f"request body is over max_request_bytes ({limit})")
        chunks.append(chunk)
    return b"".join(chunks)


def _decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    if encoding in (None, "", "identity"):
        return body
    wbits = {"gzip": 31, "deflate": 15}.get(encoding.lower())
    if wbits is None:
        raise InferError(f"Content-Encoding: {encoding!r} is not supported (gzip, deflate)", 415)
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)  # a bound, so a zip bomb cannot eat the memory
    except zlib.error as exc:
        raise InferError(f"Content-Encoding: body is not valid {encoding}: {exc}") from None
    if len(out) > limit:
        raise TooLarge(f"decompressed request body is over max_request_bytes ({limit})")
    return out


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")


async def _infer_error(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, InferError) else str(exc)
    return _error(getattr(exc, "status", 404), message)


def _routes() -> list[Route]:
    routes = [
        Route("/v2/health/live", live), Route("/v2/health/ready", ready), Route("/v2", server_metadata),
        Route("/metrics", metrics), Route("/v2/openapi.json", openapi_doc),
    ]
    for base in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        routes += [Route(base, model_metadata), Route(base + "/ready", model_ready),
                   Route(base + "/infer", infer, methods=["POST"])]
    return routes


def build_app(config: RuntimeConfig, model_dir: Path) -> Starlette:
    state = RuntimeState(config, model_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await state.start()
        yield
        await state.stop()

    app = Starlette(routes=_routes(), lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error, InferError: _infer_error})
    app.state.runtime = state
    return app
