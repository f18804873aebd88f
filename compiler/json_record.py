"""Strict readers of JSON records into typed values, for report.json (compiler/report_model.py).

Each reader takes (value, key path) and returns the value or raises ReportFormatError naming the
path: a missing, unknown or ill-typed key is refused, never guessed.
"""

from __future__ import annotations

import math
from typing import Any

from compiler.errors import DeploycError


class ReportFormatError(DeploycError):
    """A report.json that is not what this deployc writes (a key missing, unknown, or of the wrong kind)."""


MISSING = object()


def fail(path: str, want: str, value: Any) -> ReportFormatError:
    shown = "null" if value is None else f"{type(value).__name__} {value!r}"[:80]
    return ReportFormatError(f"{path or '<top>'}: expected {want}, got {shown}")


def text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise fail(path, "a string", value)
    return value


def number(value: Any, path: str) -> int | float:
    # A bare NaN or Infinity (which json.loads accepts) is not what deployc writes: never a metric.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(path, "a finite number", value)
    return value


def whole(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(path, "a whole number", value)
    return value


def flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, "true or false", value)
    return value


class Object:
    def __init__(self, data: Any, path: str):
        if not isinstance(data, dict):
            raise fail(path, "an object", data)
        self.data, self.path, self.used = data, path, set()

    def __call__(self, key: str, kind, *, null: bool = False, default: Any = MISSING) -> Any:
        self.used.add(key)
        path = f"{self.path}.{key}" if self.path else key
        if key not in self.data:
            if default is MISSING:
                raise ReportFormatError(f"{path}: missing")
            return default
        value = self.data[key]
        return None if value is None and null else kind(value, path)

    def close(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ReportFormatError(f"{self.path or '<top>'}: unknown key {unknown[0]!r}")


def list_of(kind):
    def read(value: Any, path: str) -> tuple:
        if not isinstance(value, list):
            raise fail(path, "a list", value)
        return tuple(kind(item, f"{path}[{i}]") for i, item in enumerate(value))
    return read


def mapping_of(kind):
    def read(value: Any, path: str) -> dict:
        if not isinstance(value, dict):
            raise fail(path, "an object", value)
        return {k: kind(v, f"{path}.{k}") for k, v in value.items()}
    return read


def record(cls, read_fields):
    """A reader of one object into `cls`: read_fields(take) returns the constructor's arguments."""
    def read(value: Any, path: str):
        take = Object(value, path)
        made = cls(**read_fields(take))
        take.close()
        return made
    return read
