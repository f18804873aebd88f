"""OpenAI-compatible `POST /v1/embeddings` (and `GET /v1/models`) for sentence-embedding models.

The same limits, accounting and batching as the infer route (infer.Handler); errors in
OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import base64
import json

import numpy as np

from . import strictjson
from .errors import InferError, NotFound
from .infer import JSON_HEADERS, Handler
from .protocol import InferRequest, json_numbers

FIELDS = ("input", "model", "encoding_format", "dimensions", "user")
FORMATS = ("float", "base64")


def openai_error(exc: InferError) -> bytes:
    kind = "invalid_request_error" if exc.status < 500 else "server_error"
    code = "model_not_found" if isinstance(exc, NotFound) else getattr(exc, "code", None)
    doc = {"error": {"message": exc.message, "type": kind, "param": getattr(exc, "param", None), "code": code}}
    return json.dumps(doc, allow_nan=False).encode()


def _refuse(message: str, param: str | None, status: int = 400) -> InferError:
    exc = NotFound(message) if status == 404 else InferError(message, status)
    exc.param = param
    return exc


class EmbeddingsHandler(Handler):
    def error_body(self, exc: InferError) -> bytes:
        return openai_error(exc)

    async def accept(self, scope, receive) -> tuple[dict, bytes]:
        return await self.read(scope, receive)

    async def serve(self, headers: dict, body: bytes):
        state = self.state
        config = state.config
        doc = strictjson.loads(body)
        if not isinstance(doc, dict):
            raise _refuse("the request body must be a JSON object", None)
        model, texts, fmt = _parse(doc, config.model_name, config.max_batch_size)
        if config.text is None:
            raise _refuse(f"model {model!r} takes no text (it was built without a tokenizer)", "model")
        if config.text.task != "sentence-embedding":
            raise _refuse(f"model {model!r} is a {config.text.task} model; /v1/embeddings serves "
                          "sentence-embedding models (use /v2/models/{name}/infer)", "model")
        output = config.outputs[0].name
        dims = doc.get("dimensions")
        width = config.outputs[0].shape[-1]
        if dims is not None and (type(dims) is not int or dims != width):
            raise _refuse(f"dimensions: this model gives {width} dimensions, got {dims!r}", "dimensions")
        req = InferRequest({}, (output,), frozenset(), rows=len(texts))
        req.texts, req.text_where = texts, "input"
        try:
            state.tokenize(req)
        except InferError as exc:
            exc.param = "input"
            raise
        vectors = (await state.engine.infer(req))[output]
        return JSON_HEADERS, _response(vectors, fmt, model, req.tokens.count)


def _parse(doc: dict, served: str, max_rows: int) -> tuple[str, list[str], str]:
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise _refuse(f"unknown field(s) {unknown}; this endpoint takes {list(FIELDS)}", unknown[0])
    model = doc.get("model")
    if not isinstance(model, str):
        raise _refuse("model: required, a string", "model")
    if model != served:
        raise _refuse(f"model {model!r} not found; this server serves {served!r}", "model", 404)
    fmt = doc.get("encoding_format", "float")
    if fmt not in FORMATS:
        raise _refuse(f"encoding_format: {fmt!r} is not one of {list(FORMATS)}", "encoding_format")
    data = doc.get("input")
    if isinstance(data, str):
        return model, [data], fmt
    if not isinstance(data, list) or not data:
        raise _refuse("input: a string or a non-empty list of strings", "input")
    if len(data) > max_rows:  # a request is at most one batch (serve.batching.max_batch_size)
        raise _refuse(f"input: {len(data)} texts are over max_batch_size {max_rows} per request; "
                      "split them into several requests", "input")
    for i, text in enumerate(data):
        if not isinstance(text, str):
            raise _refuse(f"input[{i}]: must be a string (token arrays are not accepted; send text), "
                          f"got {type(text).__name__}", "input")
    return model, data, fmt


def _response(vectors: np.ndarray, fmt: str, model: str, tokens: int) -> bytes:
    items = []
    for i, row in enumerate(vectors):
        if fmt == "base64":  # little-endian float32, what the OpenAI clients decode
            value = json.dumps(base64.b64encode(row.astype("<f4").tobytes()).decode("ascii"))
        else:
            value = f"[{json_numbers(row)}]"
        items.append(f'{{"object":"embedding","index":{i},"embedding":{value}}}')
    usage = f'{{"prompt_tokens":{tokens},"total_tokens":{tokens}}}'
    return (f'{{"object":"list","data":[{",".join(items)}],"model":{json.dumps(model)},'
            f'"usage":{usage}}}').encode()


def models_body(model: str) -> dict:
    """GET /v1/models: the one model this server serves."""
    return {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "deployc"}]}
