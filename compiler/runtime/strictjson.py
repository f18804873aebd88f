"""Strict JSON (RFC 8259) both ways: Python's json module reads and writes NaN, Infinity and
-Infinity, which are not JSON; many clients choke on them, and accepting them in a request
would feed a model values no JSON client can mean.

Requests: those literals are refused with a 400 naming where they are (`inputs[0] ('x').data[2]`).
Responses: non-finite float outputs are written as the strings "NaN", "Infinity" and
"-Infinity" (protobuf's JSON mapping; numpy and tritonclient's `as_numpy` turn them back
into floats); the binary tensor extension carries the raw IEEE values.
"""

from __future__ import annotations

import json
import math

from .errors import InferError

NONFINITE_TEXT = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class _Constant(Exception):
    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.literal = literal


def _refuse(literal: str):
    raise _Constant(literal)


class _Marker:
    """Stands in for a refused literal while its place in the document is looked up."""


_MARKER = _Marker()
_STRICT = json.JSONDecoder(parse_constant=_refuse)
_LOCATE = json.JSONDecoder(parse_constant=lambda literal: _MARKER)


def loads(raw: bytes):
    """Parse a request's JSON head; InferError names the field holding a non-JSON literal."""
    try:
        text = _text(raw)
        return _STRICT.decode(text)
    except _Constant as exc:
        where = _locate(text)
        raise InferError(f"{where}: {exc.literal} is not valid JSON; JSON tensor data holds finite "
                         "numbers only (send non-finite values as binary tensor data)") from None
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InferError(f"malformed JSON body: {exc}") from None


def _text(raw: bytes) -> str:
    """The body as text. Bytes that are not UTF-8 become lone surrogates (surrogateescape), so the
    refusal can name the string that holds them (a text input's index) instead of the body."""
    encoding = json.detect_encoding(raw)
    try:
        return raw.decode(encoding, "surrogatepass")
    except UnicodeDecodeError:
        if encoding != "utf-8":
            raise
        return raw.decode(encoding, "surrogateescape")


def _locate(text: str) -> str:
    try:
        doc = _LOCATE.decode(text)
        return _where(doc, _path(doc) or [])
    except (ValueError, RecursionError):  # the literal came before the body went wrong
        return "body"


def _path(value) -> list | None:
    """Keys and indices down to the first marker (only ever walked on a refused body)."""
    if value is _MARKER:
        return []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        sub = _path(child)
        if sub is not None:
            return [key, *sub]
    return None


def _where(doc, path: list) -> str:
    """`inputs[0] ('x').data[2]`: the protocol's field names, with the input's name when it has one."""
    out = ""
    for i, key in enumerate(path):
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
        if i == 1 and path[0] == "inputs" and isinstance(key, int):
            name = doc["inputs"][key].get("name") if isinstance(doc["inputs"][key], dict) else None
            out += f" ({name!r})" if isinstance(name, str) else ""
    return out or "body"


def dumps(value) -> str:
    """json.dumps that never writes NaN or Infinity (raises ValueError instead)."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def float_list(values: list[float]) -> str:
    """Comma-joined JSON for float values, non-finite ones as protobuf-JSON strings."""
    return dumps([v if math.isfinite(v) else NONFINITE_TEXT[repr(v)] for v in values])[1:-1]
