"""Test helpers: real ONNX models built with onnx.helper, and a real server in a subprocess.

The server runs from a copy of compiler/runtime/ as the top-level package `runtime`, exactly
as the image runs it, so every server test also proves the package is self-contained.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compiler.runtime.config import DriftBaseline, RuntimeConfig, TensorInfo

RUNTIME_SRC = Path(__file__).resolve().parents[2] / "compiler" / "runtime"
MODEL = "toy"


def toy_onnx(path: Path) -> None:
    """Two inputs, two outputs, dynamic batch (and sequence) dims.

    y = x @ W + b            x: FP32 [batch, 4]   -> y: FP32 [batch, 3]
    s = sum(float(ids), 1)   ids: INT64 [batch, seq] -> s: FP32 [batch]
    """
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "B")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["y"]),
        helper.make_node("Cast", ["ids"], ["idsf"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["idsf", "axes"], ["s"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "toy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, ["batch"])],
        [w, b, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def embedding_onnx(path: Path, rows: int = 100) -> None:
    """An embedding table, as a text model starts: ids past its rows fail inside the backend.

    y = sum over seq of E[tokens] * mask   tokens, mask: INT64 [batch, seq] -> y: FP32 [batch, 4]
    """
    table = numpy_helper.from_array(np.arange(rows * 4, dtype=np.float32).reshape(rows, 4), "E")
    axes = numpy_helper.from_array(np.array([1], np.int64), "seq_axis")
    nodes = [
        helper.make_node("Gather", ["E", "tokens"], ["vectors"]),
        helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "last"], ["mask3"]),
        helper.make_node("Mul", ["vectors", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "seq_axis"], ["y"], keepdims=0),
    ]
    last = numpy_helper.from_array(np.array([2], np.int64), "last")
    ids = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"]) for n in ("tokens", "mask")]
    graph = helper.make_graph(nodes, "embedding", ids,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
                              [table, axes, last])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


# Every serving knob of runtime.json, explicitly: RuntimeConfig has no defaults of its own
# (the spec schema owns them). Tests override what they exercise.
SERVING = dict(
    providers=["CPUExecutionProvider"], threads=1, batching=True, max_batch_size=32, max_queue_delay_ms=2.0,
    max_request_bytes=4 * 1024 * 1024, request_timeout_s=10.0, max_concurrency=64, drain_seconds=20,
    drift={}, trt_engine_cache="", trt_options={}, text=None, generation=None,
)


def runtime(**fields) -> RuntimeConfig:
    """A RuntimeConfig with SERVING's knobs and the given fields."""
    return RuntimeConfig(**{**SERVING, **fields})


def embedding_config(token_range: list[float] | None = None, **overrides) -> RuntimeConfig:
    seq = ["batch", "seq"]
    base = dict(
        model_name=MODEL, model_version="1", artifact="model.onnx", backend="onnxruntime",
        inputs=[TensorInfo("tokens", "INT64", [-1, -1], seq, token_range),
                TensorInfo("mask", "INT64", [-1, -1], seq, None)],
        outputs=[TensorInfo("y", "FP32", [-1, 4], ["batch", None], None)],
        max_batch_size=8, max_queue_delay_ms=2.0, drain_seconds=5, drift={},
    )
    base.update(overrides)
    return runtime(**base)


def toy_config(**overrides) -> RuntimeConfig:
    base = dict(
        model_name=MODEL, model_version="1", artifact="model.onnx", backend="onnxruntime",
        inputs=[TensorInfo("x", "FP32", [-1, 4], ["batch", None], None),
                TensorInfo("ids", "INT64", [-1, -1], ["batch", "seq"], None)],
        outputs=[TensorInfo("y", "FP32", [-1, 3], ["batch", None], None),
                 TensorInfo("s", "FP32", [-1], ["batch"], None)],
        max_batch_size=8, max_queue_delay_ms=2.0, max_request_bytes=64 * 1024, drain_seconds=10,
        drift={"x": DriftBaseline(edges=[-1.0, 0.0, 1.0], ratios=[0.25, 0.25, 0.25, 0.25])},
    )
    base.update(overrides)
    return runtime(**base)


def write_root(root: Path, config: RuntimeConfig, model_bytes: bytes | None = None) -> Path:
    (root / "model").mkdir(parents=True, exist_ok=True)
    if model_bytes is None:
        toy_onnx(root / "model" / config.artifact)
    else:
        (root / "model" / config.artifact).write_bytes(model_bytes)
    (root / "runtime.json").write_text(config.to_json())
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_runtime(dest: Path) -> Path:
    """compiler/runtime/ -> dest/runtime/ (what the image emitter does); returns dest."""
    shutil.copytree(RUNTIME_SRC, dest / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


class Server:
    """`python -m runtime --root DIR` in a subprocess, on free ports."""

    def __init__(self, tmp: Path, config: RuntimeConfig, model_bytes: bytes | None = None,
                 metrics_port: bool = False, grpc_port: bool = False, root: Path | None = None) -> None:
        # root: a model root made by the caller (runtime.json and model/), used as it is
        self.root = root if root is not None else write_root(tmp / "root", config, model_bytes)
        self.pkg = copy_runtime(tmp / "pkg")
        self.port = free_port()
        self.metrics_port = free_port() if metrics_port else None
        self.grpc_port = free_port() if grpc_port else None
        self.config = config
        self.log = tmp / "server.log"
        cmd = [sys.executable, "-m", "runtime", "--root", str(self.root), "--port", str(self.port)]
        if self.metrics_port:
            cmd += ["--metrics-port", str(self.metrics_port)]
        if self.grpc_port:
            cmd += ["--grpc-port", str(self.grpc_port)]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.proc = subprocess.Popen(cmd, cwd=self.pkg, env=env, stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                port: int | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def post_json(self, path: str, doc) -> tuple[int, dict]:
        status, _, body = self.request("POST", path, json.dumps(doc).encode(), {"Content-Type": "application/json"})
        return status, json.loads(body)

    def wait_live(self, timeout: float = 30.0, path: str = "/v2/health/live") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if self.request("GET", path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not answering {path} after {timeout}s:\n{self.log.read_text()}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        self.wait_live(timeout, "/v2/health/ready")

    def metrics_text(self, port: int | None = None) -> str:
        return self.request("GET", "/metrics", port=port)[2].decode()

    def terminate(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server ignored SIGTERM for {timeout}s:\n{self.log.read_text()}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def metric_value(text: str, name: str, labels: dict | None = None) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                total += sample.value
    return total

