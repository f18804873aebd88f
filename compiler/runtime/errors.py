"""Errors a request can end in; each maps to an HTTP status and a metrics outcome."""

from __future__ import annotations


class InferError(Exception):
    """A request the server refuses; the message names the field at fault."""

    status = 400
    outcome = "client_error"

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadValues(InferError):
    """The backend refused to run on the request's values (an id past an embedding table, sizes
    that do not fit together): the client's error, so it must not count against availability."""

    def __init__(self, backend_message: str):
        reason = " ".join(backend_message.split())[:400]
        super().__init__(f"inputs: the model cannot run on these values: {reason}")


class NotFound(InferError):
    status = 404


class TooLarge(InferError):
    status = 413


class Unavailable(InferError):
    """Not ready (loading, load failed) or over the concurrency limit."""

    status = 503
    outcome = "rejected"


class SlowBody(InferError):
    """The request body did not arrive within request_timeout_s: the client's time, not ours, so a
    slow or stalled client never counts as a server timeout. The rest of the body is still on the
    wire, so the connection closes after the answer."""

    status = 408
    close = True


class Timeout(InferError):
    status = 504
    outcome = "timeout"


class ServerError(InferError):
    """The model or server misbehaved (not the client's fault)."""

    status = 500
    outcome = "server_error"
