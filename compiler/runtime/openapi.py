"""OpenAPI 3.0 description of the REST surface (static; schemathesis and API docs read it)."""

from __future__ import annotations


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = _json_body(_ref("Error"), "Refused or failed; `error` says why and names the field")
OPENAI_ERROR = _json_body(_ref("OpenAIError"), "Refused or failed, in OpenAI's error shape")
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}

SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Parameters": {"type": "object", "additionalProperties": True},
    "Tensor": {
        "type": "object", "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string", "enum": ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8",
                                                    "INT16", "INT32", "INT64", "FP16", "FP32", "FP64",
                                                    "BYTES"]},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "parameters": _ref("Parameters"),
            "data": {"description": "row-major values, flat or nested (absent with binary_data_size); "
                                    "finite numbers in requests (strings for a text model's BYTES input); in responses a non-finite float is "
                                    "the string \"NaN\", \"Infinity\" or \"-Infinity\""},
        },
    },
    "RequestedOutput": {"type": "object", "required": ["name"],
                        "properties": {"name": {"type": "string"}, "parameters": _ref("Parameters")}},
    "InferRequest": {
        "type": "object", "required": ["inputs"],
        "properties": {"id": {"type": "string"}, "parameters": _ref("Parameters"),
                       "inputs": {"type": "array", "minItems": 1, "items": _ref("Tensor")},
                       "outputs": {"type": "array", "items": _ref("RequestedOutput")}},
    },
    "InferResponse": {
        "type": "object", "required": ["model_name", "outputs"],
        "properties": {"model_name": {"type": "string"}, "model_version": {"type": "string"},
                       "id": {"type": "string"}, "outputs": {"type": "array", "items": _ref("Tensor")}},
    },
    "TensorMetadata": {"type": "object", "required": ["name", "datatype", "shape"],
                       "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                                      "shape": {"type": "array", "items": {"type": "integer"}}}},
    "ModelMetadata": {
        "type": "object", "required": ["name", "platform", "inputs", "outputs"],
        "properties": {"name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
                       "platform": {"type": "string"},
                       "inputs": {"type": "array", "items": _ref("TensorMetadata")},
                       "outputs": {"type": "array", "items": _ref("TensorMetadata")}},
    },
    "ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"],
                       "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                      "extensions": {"type": "array", "items": {"type": "string"}}}},
    "OpenAIError": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"description": "the request field at fault (a string), or null"},
                       "code": {"description": "model_not_found, or null"}}}}},
    "EmbeddingsRequest": {
        "type": "object", "required": ["model", "input"], "additionalProperties": False,
        "properties": {"model": {"type": "string"},
                       "input": {"oneOf": [{"type": "string"}, {"type": "array", "minItems": 1,
                                                                 "items": {"type": "string"}}]},
                       "encoding_format": {"type": "string", "enum": ["float", "base64"]},
                       "dimensions": {"type": "integer"}, "user": {"type": "string"}},
    },
    "EmbeddingsResponse": {
        "type": "object", "required": ["object", "data", "model", "usage"],
        "properties": {
            "object": {"type": "string"}, "model": {"type": "string"},
            "data": {"type": "array", "items": {"type": "object", "required": ["object", "index", "embedding"]}},
            "usage": {"type": "object", "required": ["prompt_tokens", "total_tokens"],
                      "properties": {"prompt_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}},
        },
    },
    "ModelList": {"type": "object", "required": ["object", "data"],
                  "properties": {"object": {"type": "string"}, "data": {"type": "array", "items": {
                      "type": "object", "required": ["id", "object"]}}}},
    "Feedback": {"type": "object", "required": ["correct"], "additionalProperties": False,
                 "properties": {"correct": {"type": "boolean"}}},
    "Ready": {"type": "object", "properties": {"ready": {"type": "boolean"}, "live": {"type": "boolean"},
                                               "name": {"type": "string"}, "reason": {"type": "string"}}},
}


def _get(summary: str, schema: str, extra: dict | None = None, params: list | None = None) -> dict:
    op = {"summary": summary, "responses": {"200": _json_body(_ref(schema), "OK"), **(extra or {})}}
    if params:
        op["parameters"] = params
    return {"get": op}


def _model_paths(base: str, params: list) -> dict:
    not_found = {"404": ERROR}
    infer = {"post": {
        "summary": "Run inference (JSON tensors, or the binary tensor extension with "
                   "the Inference-Header-Content-Length header)",
        "parameters": params,
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("InferRequest")}}},
        "responses": {"200": _json_body(_ref("InferResponse"), "Outputs"), "400": ERROR, "404": ERROR, "408": ERROR,
                      "413": ERROR, "415": ERROR, "500": ERROR, "503": ERROR, "504": ERROR},
    }}
    return {
        base: _get("Model metadata", "ModelMetadata", not_found, params),
        base + "/ready": _get("Model readiness", "Ready", {**not_found, "503": _json_body(_ref("Ready"), "Not ready")},
                              params),
        base + "/infer": infer,
        base + "/feedback": {"post": {
            "summary": "Whether an answer was correct (an A/B experiment's quality signal: deployc_feedback_total)",
            "parameters": params,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Feedback")}}},
            "responses": {"200": _json_body({"type": "object"}, "Counted"), "400": ERROR, "404": ERROR,
                          "413": ERROR}}},
    }


def _generate(summary: str) -> dict:
    """OpenAI's request and response bodies (openai_params.py parses them strictly); with
    stream: true the answer is server-sent events ending in `data: [DONE]`."""
    body = {"type": "object", "additionalProperties": True}
    ok = {"description": "The completion, or its chunks as server-sent events",
          "content": {"application/json": {"schema": body}, "text/event-stream": {"schema": {"type": "string"}}}}
    return {"post": {"summary": summary,
                     "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                     "responses": {"200": ok, **{code: OPENAI_ERROR for code in
                                                 ("400", "404", "408", "413", "415", "429", "500", "503")}}}}


OPENAPI: dict = {
    "openapi": "3.0.3",
    "info": {"title": "deployc runtime (Open Inference Protocol v2)", "version": "0.1.0"},
    "paths": {
        "/v2/health/live": _get("Liveness", "Ready"),
        "/v2/health/ready": _get("Readiness", "Ready", {"503": _json_body(_ref("Ready"), "Not ready")}),
        "/v2": _get("Server metadata", "ServerMetadata"),
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
            "description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        **_model_paths("/v2/models/{name}", [NAME]),
        **_model_paths("/v2/models/{name}/versions/{version}", [NAME, VERSION]),
        "/v1/embeddings": {"post": {
            "summary": "OpenAI-compatible embeddings (sentence-embedding models)",
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("EmbeddingsRequest")}}},
            "responses": {"200": _json_body(_ref("EmbeddingsResponse"), "Embeddings"),
                          **{code: OPENAI_ERROR for code in ("400", "404", "408", "413", "415", "500", "503", "504")}},
        }},
        "/v1/models": _get("OpenAI-compatible model list", "ModelList"),
        **{path: _generate(summary) for path, summary in (
            ("/v1/completions", "OpenAI-compatible text completion (text-generation models)"),
            ("/v1/chat/completions", "OpenAI-compatible chat completion with the tokenizer's chat template "
                                     "(text-generation models)"))},
    },
    "components": {"schemas": SCHEMAS},
}
