"""The one JSON style of every file deployc writes (artifacts, locks, logs).

Shared by the emitters and the writer, so neither imports the other (docs/architecture.md,
"Layering")."""

from __future__ import annotations

import json


def dumps(data) -> bytes:
    """Sorted keys, 2-space indent, trailing newline. Strict JSON: a NaN or Infinity raises here
    (callers spell non-finite values out) rather than writing a bare `NaN` that strict parsers
    reject."""
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode()
