"""Run the app under uvicorn, with a drain on SIGTERM that really happens before exit.

uvicorn's own SIGTERM handling closes idle keep-alive connections at once (a request the
client is sending on one is lost) and re-raises the signal after shutdown (exit code -15).
Here the first SIGTERM/SIGINT only starts the drain: readiness goes false at once, requests
keep being served (with `Connection: close`) until nothing is in flight or queued and no
request came for QUIET_S, or drain_seconds pass; then uvicorn shuts down and serve() returns.
A second signal exits at once. The gRPC server (grpc_server.py), when a port is given, runs on
the same loop: its health turns NOT_SERVING with readiness, and it stops (letting running calls
finish) before the engine closes.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import uvicorn
from prometheus_client import start_http_server

from .app import build_app
from .config import RuntimeConfig
from .grpc_server import GrpcFrontend
from .state import RuntimeState

log = logging.getLogger("runtime")

QUIET_S = 0.5


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: RuntimeState, drain_seconds: float,
                 grpc: GrpcFrontend | None = None) -> None:
        super().__init__(config)
        self.state = state
        self.drain_seconds = drain_seconds
        self.drain_deadline: float | None = None
        self.grpc = grpc

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.grpc is not None and not self.should_exit:
            await self.grpc.start()

    def handle_exit(self, sig: int, frame) -> None:
        # Runs in a signal handler: set flags only. Not recorded in _captured_signals, so
        # uvicorn does not re-raise the signal after a clean drain.
        if self.state.draining:
            self.should_exit = self.force_exit = True
            return
        self.state.begin_drain()

    async def on_tick(self, counter: int) -> bool:
        if self.grpc is not None:
            await self.grpc.sync()
        if await super().on_tick(counter):
            return True
        if not self.state.draining:
            return False
        now = time.monotonic()
        if self.drain_deadline is None:
            self.drain_deadline = now + self.drain_seconds
            self.state.metrics.ready.set(0)
            log.info("draining: not ready; %d requests in flight", self.state.inflight)
        if self.state.drained(QUIET_S):
            log.info("drained; shutting down")
            return True
        if now >= self.drain_deadline:
            log.warning("drain_seconds passed with %d requests in flight; shutting down", self.state.inflight)
            return True
        return False

    async def shutdown(self, sockets=None) -> None:
        # What is left of the drain bounds uvicorn's own wait for open connections.
        left = (self.drain_deadline or time.monotonic()) - time.monotonic()
        self.config.timeout_graceful_shutdown = max(1, int(left + 0.999))
        if self.grpc is not None:  # before the lifespan's shutdown closes the engine
            await self.grpc.stop(max(0.5, left))
        await super().shutdown(sockets)


def load_config(root: Path) -> RuntimeConfig:
    path = Path(root) / "runtime.json"
    try:
        return RuntimeConfig.load(path)
    except FileNotFoundError:
        raise SystemExit(f"runtime: {path} does not exist (--root must hold runtime.json and model/)") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise SystemExit(f"runtime: {path} is not a valid runtime config: {exc}") from None


def serve(root: Path, host: str = "127.0.0.1", port: int = 8080, metrics_port: int | None = None,
          grpc_port: int | None = None) -> None:
    """Serve the model under root (runtime.json + model/) until SIGTERM; blocks."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(root)
    app = build_app(config, Path(root) / "model")
    state: RuntimeState = app.runtime
    metrics_server = None
    if metrics_port is not None:
        if metrics_port == port:
            raise SystemExit(f"runtime: --metrics-port {metrics_port} is the serving port; /metrics is there anyway")
        # A second port for scrapes only (NetworkPolicy opens it to monitoring, not to clients).
        try:
            metrics_server, _ = start_http_server(metrics_port, addr=host, registry=state.metrics.registry)
        except OSError as exc:
            raise SystemExit(f"runtime: cannot serve metrics on {host}:{metrics_port}: {exc}") from None
    uvicorn_config = uvicorn.Config(
        app, host=host, port=port, lifespan="on", access_log=False, log_config=None,
        timeout_keep_alive=30, timeout_graceful_shutdown=max(1, config.drain_seconds),
    )
    if grpc_port is not None and grpc_port in (port, metrics_port):
        raise SystemExit(f"runtime: --grpc-port {grpc_port} is already the HTTP or metrics port")
    grpc = GrpcFrontend(state, host, grpc_port) if grpc_port is not None else None
    server = DrainingServer(uvicorn_config, state, config.drain_seconds, grpc)
    try:
        server.run()
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
