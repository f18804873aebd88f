"""`python -m runtime --root DIR [--host H] [--port P] [--metrics-port M] [--grpc-port G]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runtime", description="Serve one model (Open Inference Protocol v2).")
    parser.add_argument("--root", type=Path, required=True, help="folder with runtime.json and model/")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--metrics-port", type=int, default=None, help="also serve /metrics on this port")
    parser.add_argument("--grpc-port", type=int, default=None,
                        help="also serve the protocol over gRPC (and grpc.health.v1) on this port")
    args = parser.parse_args(argv)
    serve(args.root, args.host, args.port, args.metrics_port, args.grpc_port)


if __name__ == "__main__":
    main()
