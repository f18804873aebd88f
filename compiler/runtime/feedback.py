"""POST /v2/models/{name}[/versions/{version}]/feedback: whether one answer of the model was right.

An A/B experiment compares the variants' quality (rollout.experiment.quality_metric, by default
the share of `correct="true"` in deployc_feedback_total); the client that knows the truth (a
user's click, a labelling job) posts {"correct": true|false} to the pod that answered, and the
scrape labels tell the variants apart. Body: a JSON object whose only key is `correct`, a JSON
boolean; anything else is a 400 naming the field, a wrong model a 404, a body over
MAX_BODY_BYTES a 413. Feedback is not an inference request: requests_total does not count it.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from .errors import InferError
from .protocol import check_model

MAX_BODY_BYTES = 1024  # {"correct": false} is 18 bytes


async def feedback(request: Request) -> Response:
    state = request.app.state.runtime
    check_model(request.path_params["name"], request.path_params.get("version"), state.config)
    correct = parse(await _body(request))
    state.metrics.feedback["true" if correct else "false"].inc()
    return Response(b'{"accepted":true}', 200, media_type="application/json")


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise InferError(f"feedback body is {declared} bytes; at most {MAX_BODY_BYTES}", 413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise InferError(f"feedback body is over {MAX_BODY_BYTES} bytes", 413)
    return body


def parse(body: bytes) -> bool:
    """The `correct` flag of a feedback body; InferError (400) names what is wrong."""
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InferError(f"feedback body is not JSON: {exc}", 400) from None
    if not isinstance(doc, dict):
        raise InferError('feedback body must be a JSON object {"correct": true|false}', 400)
    unknown = sorted(set(doc) - {"correct"})
    if unknown:
        raise InferError(f"feedback: unknown field {unknown[0]!r}; the only field is 'correct'", 400)
    if "correct" not in doc:
        raise InferError("feedback: field 'correct' is required (true or false)", 400)
    if not isinstance(doc["correct"], bool):
        raise InferError(f"feedback: field 'correct' must be true or false, got {json.dumps(doc['correct'])}", 400)
    return doc["correct"]


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")
