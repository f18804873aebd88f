"""gRPC next to HTTP on one runtime process: req/s and p50/p99 at concurrency 1, 16 and 64.

    python bench/grpc_bench.py [--seconds 4]

One server (`python -m runtime --grpc-port`, the tests' toy ONNX model, batching on) answers
tritonclient.grpc.aio and tritonclient.http.aio clients, each protocol run in turn in its own
load-generator process (binary tensors both ways, batch-1 requests), interleaved per
concurrency; prints one table with the gRPC / HTTP ratios from this run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.runtime.helpers import MODEL, Server, toy_config  # noqa: E402

CONCURRENCY = (1, 16, 64)


async def _load(protocol: str, url: str, concurrency: int, seconds: float) -> list[float]:
    if protocol == "grpc":
        import tritonclient.grpc.aio as client
        c = client.InferenceServerClient(url)
    else:
        import tritonclient.http.aio as client
        c = client.InferenceServerClient(url, conn_limit=concurrency)
    x = client.InferInput("x", [1, 4], "FP32")
    x.set_data_from_numpy(np.ones((1, 4), np.float32))
    ids = client.InferInput("ids", [1, 3], "INT64")
    ids.set_data_from_numpy(np.ones((1, 3), np.int64))
    outputs = [client.InferRequestedOutput(n) for n in ("y", "s")]
    latencies: list[float] = []
    end = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < end:
            t = time.perf_counter()
            await c.infer(MODEL, [x, ids], outputs=outputs)
            latencies.append(time.perf_counter() - t)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await c.close()
    return latencies


def _run(args, queue) -> None:
    queue.put(asyncio.run(_load(*args)))


def measure(protocol: str, url: str, concurrency: int, seconds: float) -> tuple[float, float, float]:
    queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_run, args=((protocol, url, concurrency, seconds), queue))
    proc.start()
    lat = np.array(queue.get(timeout=seconds + 120))
    proc.join()
    return len(lat) / seconds, float(np.percentile(lat, 50) * 1e3), float(np.percentile(lat, 99) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    seconds = parser.parse_args().seconds
    srv = Server(Path(tempfile.mkdtemp()), toy_config(max_batch_size=32, max_concurrency=256), grpc_port=True)
    try:
        srv.wait_ready()
        urls = {"grpc": f"127.0.0.1:{srv.grpc_port}", "http": srv.url}
        rows = []
        for conc in CONCURRENCY:
            got = {p: measure(p, urls[p], conc, seconds) for p in ("http", "grpc")}
            rows.append((conc, got))
    finally:
        srv.terminate()
    print(f"{'conc':>4}  {'http req/s':>10} {'p50 ms':>7} {'p99 ms':>7}  {'grpc req/s':>10} {'p50 ms':>7} "
          f"{'p99 ms':>7}  {'req/s g/h':>9} {'p99 g/h':>7}")
    for conc, got in rows:
        (hr, h50, h99), (gr, g50, g99) = got["http"], got["grpc"]
        print(f"{conc:>4}  {hr:>10.0f} {h50:>7.2f} {h99:>7.2f}  {gr:>10.0f} {g50:>7.2f} {g99:>7.2f}  "
              f"{gr / hr:>8.2f}x {g99 / h99:>6.2f}x")


if __name__ == "__main__":
    main()
