"""Benchmark the serving runtime against raw onnxruntime; prints one table from one run.

    python bench/runtime_bench.py                 # builds the digits CNN and the text encoder
    python bench/runtime_bench.py ROOT [ROOT...]  # ROOT holds runtime.json and model/

For each model: the runtime (batching on and off) at concurrency 1, 16 and 64 with batch-1
JSON requests from a load generator in its own process (keep-alive connections, bounded in
time per cell), beside a minimal single-worker Starlette v2 endpoint (the reference of
docs/architecture.md: parse, session.run on the loop, answer; no validation, metrics or batching) and
raw onnxruntime session.run in a loop at batch 1 and max_batch_size.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compiler.runtime.config import RuntimeConfig, TensorInfo  # noqa: E402

CONCURRENCY = (1, 16, 64)


@dataclass
class Cell:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# --- models -------------------------------------------------------------------------------------

def _export(module, example, dynamic_shapes, path: Path, names: tuple[str, str]) -> None:
    import torch

    # Example batch >= 2, or dynamo export fixes the batch axis to 1 (docs/architecture.md).
    program = torch.onnx.export(module, (example,), dynamo=True, dynamic_shapes=dynamic_shapes,
                                input_names=[names[0]], external_data=False, verbose=False)
    program.save(str(path))
    _rename_output(path, names[1])


def _rename_output(path: Path, new: str) -> None:
    """Give the single output its spec name (the exporter may already use it inside the graph)."""
    import onnx

    model = onnx.load(str(path))
    old = model.graph.output[0].name
    taken = {new: f"{new}__inner"}
    for node in model.graph.node:
        node.input[:] = [taken.get(n, n) for n in node.input]
        node.output[:] = [taken.get(n, n) for n in node.output]
    for node in model.graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    model.graph.output[0].name = new
    onnx.save(model, str(path))


def _example_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "examples" / name / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model().eval()


def _serving(threads: int, max_queue_delay_ms: float) -> dict:
    """The serving knobs the bench runs with (the examples' spec values; batching on)."""
    return dict(providers=["CPUExecutionProvider"], threads=threads, batching=True, max_batch_size=32,
                max_queue_delay_ms=max_queue_delay_ms, max_request_bytes=4 * 1024 * 1024, request_timeout_s=10.0,
                max_concurrency=64, drain_seconds=20, drift={}, trt_engine_cache="", trt_options={}, text=None,
                generation=None)


def build_examples(work: Path, threads: int) -> list[Path]:
    import torch

    roots = []
    batch = torch.export.Dim("batch", min=1, max=1024)
    seq = torch.export.Dim("seq", min=2, max=128)
    cnn = work / "digits-cnn"
    (cnn / "model").mkdir(parents=True)
    _export(_example_module("digits-cnn"), torch.rand(4, 1, 8, 8), ({0: batch},), cnn / "model" / "model.onnx",
            ("pixels", "logits"))
    (cnn / "runtime.json").write_text(RuntimeConfig(
        "digits-cnn", "1.0.0", "model.onnx", "onnxruntime",
        [TensorInfo("pixels", "FP32", [-1, 1, 8, 8], ["batch", None, None, None], None)],
        [TensorInfo("logits", "FP32", [-1, 10], ["batch", None], None)],
        **_serving(threads, max_queue_delay_ms=2.0)).to_json())
    roots.append(cnn)
    enc = work / "text-encoder"
    (enc / "model").mkdir(parents=True)
    _export(_example_module("text-encoder"), torch.randint(0, 1000, (4, 16)), ({0: batch, 1: seq},),
            enc / "model" / "model.onnx", ("input_ids", "embedding"))
    (enc / "runtime.json").write_text(RuntimeConfig(
        "text-encoder", "0.3.0", "model.onnx", "onnxruntime",
        [TensorInfo("input_ids", "INT64", [-1, -1], ["batch", "seq"], [0, 999])],
        [TensorInfo("embedding", "FP32", [-1, 128], ["batch", None], None)],
        **_serving(threads, max_queue_delay_ms=4.0)).to_json())
    roots.append(enc)
    return roots


def sample_input(info: TensorInfo, rows: int, rng: np.random.Generator, seq: int = 32) -> np.ndarray:
    shape = [rows] + [seq if d == -1 else d for d in info.shape[1:]]
    if info.datatype == "INT64":
        return rng.integers(0, 1000, shape, dtype=np.int64)
    return rng.random(shape, dtype=np.float32)


# --- raw onnxruntime ----------------------------------------------------------------------------

def raw_ort(root: Path, config: RuntimeConfig, rows: int, seconds: float) -> float:
    """Samples per second of session.run in a loop, with the runtime's own session options."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = config.threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(root / "model" / config.artifact), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {t.name: sample_input(t, rows, rng) for t in config.inputs}
    for _ in range(10):
        sess.run(None, feed)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sess.run(None, feed)
        n += 1
    return n * rows / (time.perf_counter() - start)


# --- the reference: a minimal Starlette endpoint -------------------------------------------------

def minimal_endpoint(root: Path, port: int) -> None:
    """Serve POST /v2/models/{name}/infer with nothing but parse, run, answer (blocks)."""
    import onnxruntime as ort
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from compiler.runtime.protocol import DTYPES

    config = RuntimeConfig.load(root / "runtime.json")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = config.threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(root / "model" / config.artifact), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    async def infer(request):
        doc = await request.json()
        feed = {t["name"]: np.asarray(t["data"], DTYPES[t["datatype"]]).reshape(t["shape"]) for t in doc["inputs"]}
        outs = sess.run(None, feed)
        return JSONResponse({"model_name": request.path_params["name"], "outputs": [
            {"name": n, "datatype": "FP32", "shape": list(o.shape), "data": o.ravel().tolist()}
            for n, o in zip(names, outs)]})

    async def ready(request):
        return JSONResponse({"ready": True})

    app = Starlette(routes=[Route("/v2/models/{name}/infer", infer, methods=["POST"]),
                            Route("/v2/health/ready", ready)])
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


# --- load generator (its own process) -----------------------------------------------------------

def _request_bytes(config: RuntimeConfig, port: int) -> bytes:
    rng = np.random.default_rng(1)
    inputs = [{"name": t.name, "datatype": t.datatype, "shape": list(a.shape), "data": a.ravel().tolist()}
              for t in config.inputs for a in [sample_input(t, 1, rng)]]
    body = json.dumps({"inputs": inputs}).encode()
    head = (f"POST /v2/models/{config.model_name}/infer HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _client(port: int, request: bytes, deadline: float, lat: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if head[9:12] == b"200":
                lat.append(time.perf_counter() - t0)
            else:
                errors.append(1)
    finally:
        writer.close()


def _load(port: int, request: bytes, concurrency: int, seconds: float, out) -> None:
    async def main():
        lat: list[float] = []
        errors: list[int] = []
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*[_client(port, request, deadline, lat, errors) for _ in range(concurrency)])
        return lat, len(errors), time.perf_counter() - start

    lat, errors, elapsed = asyncio.run(main())
    out.send((lat, errors, elapsed))


def load_cell(port: int, request: bytes, concurrency: int, seconds: float) -> Cell:
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_load, args=(port, request, concurrency, seconds, child))
    proc.start()
    lat, errors, elapsed = parent.recv()
    proc.join()
    ms = np.asarray(lat) * 1000
    if not len(ms):
        return Cell(0, errors, elapsed)
    return Cell(len(ms), errors, elapsed, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)))


# --- the runtime under test ---------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server(root: Path, config: RuntimeConfig, work: Path, seconds: float, minimal: bool = False
               ) -> dict[int, Cell]:
    # The image's layout: the package copied as top-level `runtime`, the config beside model/.
    pkg, served = work / "pkg", work / f"root-{config.model_name}-{config.batching}"
    if not pkg.exists():
        shutil.copytree(REPO / "compiler" / "runtime", pkg / "runtime",
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(served, ignore_errors=True)
    shutil.copytree(root / "model", served / "model")
    (served / "runtime.json").write_text(config.to_json())
    port = _free_port()
    log = work / f"server-{config.model_name}-{config.batching}-{minimal}.log"
    cmd = ([sys.executable, str(Path(__file__).resolve()), "--minimal-endpoint", str(port), str(served)] if minimal
           else [sys.executable, "-m", "runtime", "--root", str(served), "--port", str(port)])
    proc = subprocess.Popen(cmd, cwd=pkg, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    try:
        _wait_ready(port, proc, log)
        request = _request_bytes(config, port)
        load_cell(port, request, 16, 1.0)  # warm-up
        return {c: load_cell(port, request, c, seconds) for c in CONCURRENCY}
    finally:
        proc.terminate()
        proc.wait(30)


def _wait_ready(port: int, proc: subprocess.Popen, log: Path) -> None:
    import http.client

    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"the runtime exited with {proc.returncode}:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/v2/health/ready")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the runtime did not get ready in 60 s:\n{log.read_text()}")


# --- table --------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="*", type=Path)
    parser.add_argument("--seconds", type=float, default=5.0, help="per load cell")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="ORT intra-op threads of the built models (default: all cores, as docs/architecture.md's ceilings)")
    parser.add_argument("--minimal-endpoint", nargs=2, metavar=("PORT", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.minimal_endpoint:
        return minimal_endpoint(Path(args.minimal_endpoint[1]), int(args.minimal_endpoint[0]))
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"deployc runtime vs references: batch-1 JSON requests, {args.seconds:g} s per cell, "
                        f"{os.cpu_count()} cores; req/s (p50 / p99 ms)")
    for col in ("model", "server", *(f"c={c}" for c in CONCURRENCY), "errors"):
        table.add_column(col, justify="left" if col in ("model", "server") else "right", no_wrap=True)
    with tempfile.TemporaryDirectory(prefix="runtime-bench-") as tmp:
        work = Path(tmp)
        roots = args.roots or build_examples(work / "models", args.threads)
        for root in roots:
            config = RuntimeConfig.load(root / "runtime.json")
            table.add_row(config.model_name, f"[dim]onnxruntime intra-op threads: {config.threads}[/dim]")
            runs = [("runtime, batching on", replace(config, batching=True), False),
                    ("runtime, batching off", replace(config, batching=False), False),
                    ("minimal Starlette endpoint", config, True)]
            for label, cfg, minimal in runs:
                cells = run_server(root, cfg, work, args.seconds, minimal)
                table.add_row(config.model_name, label, *(_cell(cells[c]) for c in CONCURRENCY),
                              str(sum(cell.errors for cell in cells.values())))
            for rows in (1, config.max_batch_size):
                rate = raw_ort(root, config, rows, min(args.seconds, 3.0))
                table.add_row(config.model_name, f"raw onnxruntime, batch {rows}", f"{rate:,.0f} samples/s",
                              "", "", "")
            table.add_section()
    Console(width=150).print(table)


def _cell(cell: Cell) -> str:
    return f"{cell.rps:,.0f} ({cell.p50_ms:.1f} / {cell.p99_ms:.1f})"


if __name__ == "__main__":
    main()
