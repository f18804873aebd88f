"""TFLite variants beside torch eager at batch 1, on the build host; prints one table.

    python bench/tflite_bench.py [--threads N] [--seconds S]

Builds the edge candidates of both examples for android-arm64 through the real pass (cached in
$DEPLOYC_CACHE or a temporary folder) and times each one with the same runner the verify pass
uses (ai-edge-litert, XNNPACK), and the original module in torch eager, on the same inputs.
This is the build host (x86_64 here), not the phone: it ranks the variants, it does not
predict on-device latency.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compiler.frontend import load_spec  # noqa: E402
from compiler.passes.pipeline import edge_candidates  # noqa: E402
from compiler.passes.base import PassContext  # noqa: E402
from compiler.passes.cache import Cache  # noqa: E402
from compiler.passes.data import load_dataset  # noqa: E402
from compiler.passes.load import load_model  # noqa: E402
from compiler.passes.runners import eager_runner, runner_for  # noqa: E402

EXAMPLES = ("digits-cnn", "text-encoder")


def timed(run, inputs, seconds: float) -> tuple[float, float, int]:
    """p50 and p99 in ms of back-to-back calls for about `seconds` after a warmup."""
    for _ in range(20):
        run(inputs)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 50:
        start = time.perf_counter()
        run(inputs)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99)), len(times)


def bench_example(name: str, cache: Cache, threads: int, seconds: float) -> list[tuple]:
    spec = load_spec(str(REPO / "examples" / name / "deploy.yaml"), ["target=android-arm64"])
    model = load_model(spec)
    calibration = load_dataset(spec, "calibration")
    arts = edge_candidates(model, calibration, PassContext(spec, cache))
    row = {k: np.ascontiguousarray(v[:1]) for k, v in calibration.inputs.items()}
    rows = []
    p50, p99, n = timed(eager_runner(model.module, threads), row, seconds)
    rows.append((name, "torch eager (original)", None, p50, p99, n))
    for art in arts:
        p50, p99, n = timed(runner_for("tflite", art.path, threads), row, seconds)
        rows.append((name, art.candidate, art.path.stat().st_size / 1024, p50, p99, n))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="interpreter/torch threads (serve.threads)")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing window per cell")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    cache_root = os.environ.get("DEPLOYC_CACHE") or tempfile.mkdtemp(prefix="tflite-bench-")
    rows = [r for name in EXAMPLES for r in bench_example(name, Cache(Path(cache_root)), args.threads, args.seconds)]
    print(f"TFLite variants vs torch eager, batch 1, {args.threads} thread(s); measured on the build host "
          f"({platform.machine()}, {os.cpu_count()} cores), not on the device")
    print(f"| {'model':<13}| {'variant':<23}| {'size KiB':>9} | {'p50 ms':>8} | {'p99 ms':>8} | {'vs eager':>8} | {'runs':>6} |")
    print(f"|{'-' * 14}|{'-' * 24}|{'-' * 11}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 8}|")
    eager = {}
    for name, variant, kib, p50, p99, n in rows:
        eager.setdefault(name, p50)
        size = "" if kib is None else f"{kib:.1f}"
        print(f"| {name:<13}| {variant:<23}| {size:>9} | {p50:8.4f} | {p99:8.4f} | {eager[name] / p50:7.1f}x | {n:>6} |")


if __name__ == "__main__":
    main()
