"""The REST surface: Open Inference Protocol v2 routes, /metrics and /v2/openapi.json (infer: infer.py)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .backend import PLATFORMS
from .config import RuntimeConfig
from .entities import extra_outputs
from .errors import InferError
from .feedback import feedback
from .infer import JSON_HEADERS, PATH, Handler, error_body
from .openai_api import EmbeddingsHandler, models_body, openai_error
from .openai_generate import GenerateHandler
from .openapi import OPENAPI
from .protocol import check_model
from .state import RuntimeState

SERVER_NAME = "deployc-runtime"
SERVER_VERSION = "0.1.0"
JSON = "application/json"
EMBEDDINGS = "/v1/embeddings"
COMPLETIONS, CHAT = "/v1/completions", "/v1/chat/completions"


def _json(doc: dict, status: int = 200) -> Response:
    return Response(json.dumps(doc, separators=(",", ":"), allow_nan=False), status, media_type=JSON)


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


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
    # A text model takes its BYTES text input or, pre-tokenized, its token tensors: both listed.
    text = [{"name": config.text.input, "datatype": "BYTES", "shape": [-1]}] if config.text else []
    return _json({
        "name": config.model_name, "versions": [config.model_version],
        "platform": PLATFORMS[config.backend],
        "inputs": text + _tensor_meta(config.inputs), "outputs": _tensor_meta(config.outputs + extra_outputs(config)),
    })


async def openai_models(request: Request) -> Response:
    return _json(models_body(_state(request).config.model_name))


async def model_ready(request: Request) -> Response:
    state = _model(request)
    body = {"name": state.config.model_name, "ready": state.ready}
    return _json(body, 200 if state.ready else 503)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(_state(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def openapi_doc(request: Request) -> Response:
    return _json(OPENAPI)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")


async def _infer_error(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, InferError) else str(exc)
    return _error(getattr(exc, "status", 404), message)


def _routes() -> list[Route]:
    routes = [
        Route("/v2/health/live", live), Route("/v2/health/ready", ready), Route("/v2", server_metadata),
        Route("/metrics", metrics), Route("/v2/openapi.json", openapi_doc), Route("/v1/models", openai_models),
    ]
    for base in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        routes += [Route(base, model_metadata), Route(base + "/ready", model_ready),
                   Route(base + "/feedback", feedback, methods=["POST"])]
    return routes


class RuntimeApp:
    """ASGI entry: infer goes straight to its handler, everything else through Starlette."""

    def __init__(self, starlette: Starlette, state: RuntimeState) -> None:
        self.starlette = starlette
        self.runtime = state
        self.infer = Handler(state)
        # The OpenAI POST routes, each a plain ASGI handler like infer.
        self.openai = {EMBEDDINGS: EmbeddingsHandler(state), COMPLETIONS: GenerateHandler(state, chat=False),
                       CHAT: GenerateHandler(state, chat=True)}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            match = PATH.fullmatch(scope["path"])
            if match:
                if scope["method"] != "POST":
                    await _send_error(send, 405, f"{scope['method']} {scope['path']}: use POST")
                    return
                await self.infer(scope, receive, send, match["name"], match["version"])
                return
            handler = self.openai.get(scope["path"])
            if handler is not None:
                if scope["method"] != "POST":
                    message = f"{scope['method']} {scope['path']}: use POST"
                    await _send(send, 405, openai_error(InferError(message, 405)))
                    return
                await handler(scope, receive, send)
                return
        await self.starlette(scope, receive, send)


async def _send_error(send, status: int, message: str) -> None:
    await _send(send, status, error_body(message))


async def _send(send, status: int, body: bytes) -> None:
    headers = JSON_HEADERS + [(b"content-length", str(len(body)).encode())]
    headers += [(b"allow", b"POST")] if status == 405 else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app(config: RuntimeConfig, model_dir: Path) -> RuntimeApp:
    state = RuntimeState(config, model_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await state.start()
        yield
        await state.stop()

    app = Starlette(routes=_routes(), lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error, InferError: _infer_error})
    app.state.runtime = state
    return RuntimeApp(app, state)
