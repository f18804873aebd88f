"""The Open Inference Protocol v2 over gRPC (inference.GRPCInferenceService), and grpc.health.v1.

Runs on the HTTP server's event loop and shares its RuntimeState: the same engine (so gRPC
and HTTP requests batch together), limits, metrics series and drain. Refusals are the HTTP
side's error classes, their statuses mapped to gRPC codes (grpc_convert.CODES); outcomes count
in deployc_requests_total exactly as HTTP ones do, so alerts and canary analysis cover both.

The messages are generated (proto/generate.py). They register the proto package `inference`,
as tritonclient.grpc's do: one process cannot import both (a test client runs apart).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from . import grpc_predict_v2_pb2 as pb
from . import grpc_predict_v2_pb2_grpc as pb_grpc
from .backend import PLATFORMS
from .entities import extra_outputs
from .errors import InferError, ServerError, SlowBody, Timeout, TooLarge, Unavailable
from .grpc_convert import code_of, decode_message, response
from .infer import run_request, within
from .protocol import check_model
from .state import RuntimeState

log = logging.getLogger("runtime")

SERVER_NAME = "deployc-runtime"
SERVER_VERSION = "0.1.0"
SERVICE = "inference.GRPCInferenceService"
# Health services: "" and the inference service answer SERVING once the model is ready (and
# NOT_SERVING while it loads or drains); LIVE answers SERVING while the process serves at all.
LIVE = "live"
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def _tensors(tensors) -> list:
    return [pb.ModelMetadataResponse.TensorMetadata(name=t.name, datatype=t.datatype, shape=t.shape)
            for t in tensors]


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, state: RuntimeState) -> None:
        self.state = state

    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.state.ready)

    async def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=["binary_tensor_data"])

    async def ModelReady(self, request, context):
        await self._check_model(request.name, request.version, context)
        return pb.ModelReadyResponse(ready=self.state.ready)

    async def ModelMetadata(self, request, context):
        await self._check_model(request.name, request.version, context)
        config = self.state.config
        text = [pb.ModelMetadataResponse.TensorMetadata(name=config.text.input, datatype="BYTES", shape=[-1])] \
            if config.text else []
        return pb.ModelMetadataResponse(
            name=config.model_name, versions=[config.model_version], platform=PLATFORMS[config.backend],
            inputs=text + _tensors(config.inputs), outputs=_tensors(config.outputs + extra_outputs(config)))

    async def _check_model(self, name: str, version: str, context) -> None:
        try:
            check_model(name, version, self.state.config)
        except InferError as exc:
            await context.abort(code_of(exc), exc.message)

    async def ModelInferStream(self, requests, context):
        # Receiving the message is the client's time: not in within request_timeout_s is the
        # client's error (as HTTP's 408), and request_timeout_s for our work starts after it.
        timeout = self.state.config.request_timeout_s
        try:
            request = await within(timeout, _first(requests))
        except (asyncio.TimeoutError, TimeoutError):
            request = SlowBody(f"the request message did not arrive within request_timeout_s ({timeout} s)")
        return await self.ModelInfer(request, context)

    async def ModelInfer(self, request, context):
        state, m = self.state, self.state.metrics
        start = time.perf_counter()
        if request is None:  # gRPC refused the message (RESOURCE_EXHAUSTED) before it reached us
            result = TooLarge(f"request message is over max_request_bytes ({state.config.max_request_bytes})")
        elif isinstance(request, InferError):  # refused while it was being received
            result = request
        elif state.inflight >= state.config.max_concurrency:
            result = Unavailable(f"over max_concurrency ({state.config.max_concurrency} requests in flight); "
                                 "retry later")
        else:
            state.inflight += 1
            m.inflight.inc()
            try:
                result = await self._guarded(request)
            finally:
                state.inflight -= 1
                m.inflight.dec()
                state.last_active = time.monotonic()
                if state.engine is not None:
                    state.engine.poke()
        m.requests["success" if isinstance(result, pb.ModelInferResponse) else result.outcome].inc()
        m.request_duration.observe(time.perf_counter() - start)
        if isinstance(result, InferError):
            await context.abort(code_of(result), result.message)
        return result

    async def _guarded(self, request):
        timeout = self.state.config.request_timeout_s
        try:
            return await within(timeout, self._infer(request))
        except InferError as exc:
            return exc
        except (asyncio.TimeoutError, TimeoutError):
            return Timeout(f"the request took longer than its timeout ({timeout} s)")
        except Exception:  # never a crash: INTERNAL with an id that finds the trace in the log
            error_id = uuid.uuid4().hex[:12]
            log.exception("error id %s: unexpected failure in gRPC ModelInfer", error_id)
            return ServerError(f"internal error (error id {error_id}; the server log has the details)")

    async def _infer(self, request):
        state = self.state
        config = state.config
        check_model(request.model_name, request.model_version, config)
        if state.engine is None:
            raise Unavailable(f"model {config.model_name!r} is not ready: {state.not_ready_reason()}")
        req = decode_message(request, state.sig)
        results = await run_request(state, req)
        return response(req, results, config.model_name, config.model_version)


async def _first(requests):
    async for request in requests:
        return request  # unary clients send one message
    return None


def _handlers(servicer: InferenceServicer) -> grpc.GenericRpcHandler:
    """The generated service's handlers, but ModelInfer taken as a client stream: on the wire a
    unary call is the same, and only so does the servicer see a message gRPC refused as over
    max_request_bytes (an empty stream) and count it as a client error."""
    methods = {name: getattr(servicer, name) for name in (
        "ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata")}
    handlers = {name: grpc.unary_unary_rpc_method_handler(
        method, request_deserializer=getattr(pb, f"{name}Request").FromString,
        response_serializer=getattr(pb, f"{name}Response").SerializeToString) for name, method in methods.items()}
    handlers["ModelInfer"] = grpc.stream_unary_rpc_method_handler(
        servicer.ModelInferStream, request_deserializer=pb.ModelInferRequest.FromString,
        response_serializer=pb.ModelInferResponse.SerializeToString)
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


class GrpcFrontend:
    """The gRPC server beside the HTTP one: started and stopped by server.DrainingServer."""

    def __init__(self, state: RuntimeState, host: str, port: int) -> None:
        self.state, self.host, self.port = state, host, port
        self.server: grpc.aio.Server | None = None
        self.health = health.aio.HealthServicer()
        self._serving: bool | None = None

    async def start(self) -> None:
        limit = self.state.config.max_request_bytes
        # Messages over max_request_bytes are refused by gRPC itself with RESOURCE_EXHAUSTED.
        self.server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
        ])
        self.server.add_generic_rpc_handlers((_handlers(InferenceServicer(self.state)),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        address = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        try:
            bound = self.server.add_insecure_port(address)
        except RuntimeError as exc:
            raise SystemExit(f"runtime: cannot serve gRPC on {address}: {exc}") from None
        if not bound:
            raise SystemExit(f"runtime: cannot serve gRPC on {address}")
        await self.health.set(LIVE, SERVING)
        await self.sync()
        await self.server.start()
        log.info("gRPC (OIP v2, grpc.health.v1) on %s", address)

    async def sync(self) -> None:
        """Health follows readiness: SERVING once the model is loaded, NOT_SERVING while draining."""
        ready = self.state.ready
        if ready != self._serving:
            self._serving = ready
            status = SERVING if ready else NOT_SERVING
            for service in ("", SERVICE):
                await self.health.set(service, status)

    async def stop(self, grace_s: float) -> None:
        if self.server is not None:
            await self.sync()
            await self.server.stop(grace_s)  # refuses new calls; lets running ones finish
