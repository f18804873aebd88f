"""The deployc serving runtime: an Open Inference Protocol v2 server for one model.

Copied into the image as the top-level package `runtime` (`python -m runtime --root DIR`), so
it imports nothing of deployc, only its own modules and its runtime dependencies. Importing
this package stays light (config, catalog and drift are plain data and numpy): the server's
dependencies load only when `serve` runs.
"""

from __future__ import annotations

from pathlib import Path


def serve(root: Path, host: str = "127.0.0.1", port: int = 8080, metrics_port: int | None = None,
          grpc_port: int | None = None) -> None:
    """Serve DIR (runtime.json + model/<artifact>) until SIGTERM, then drain and return."""
    from .server import serve as _serve

    _serve(Path(root), host, port, metrics_port, grpc_port)
