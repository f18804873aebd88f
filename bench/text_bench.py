"""Text bench: selected artifacts vs torch eager, MiniLM vs sentence-transformers, /v1/embeddings vs
a FastAPI server; three tables of ratios measured side by side in one run.

    .venv/bin/python bench/text_bench.py [--quick] [--out /tmp/deployc-text-bench]

(a) every example's selected cpu-x86 artifact vs torch eager at each batch the plan measures
    (compile_bench.latency_rows, interleaved in runs of 10 calls and call by call, threads =
    serve.threads);
(b) MiniLM on the sentences of examples/minilm-embeddings/eval.jsonl: the selected artifact as the
    runtime runs it (its tokenizer from `tokenizers`, per-batch padding, its onnxruntime session
    options) vs sentence-transformers' own `encode` (which tokenizes too), batch 1 and 32,
    interleaved chunk by chunk; with the cosine of every sentence to encode's vector;
(c) POST /v1/embeddings: `deployc serve` on the built tree vs bench/st_server.py (FastAPI +
    sentence-transformers, one uvicorn worker), one sentence per request, at concurrency 1, 16
    and 64, driven by the same in-process client (the openai package's AsyncOpenAI).

Builds go to --out with the user's pass cache (a warm rebuild takes seconds); `make minilm` first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

EXAMPLES = ("digits-cnn", "text-encoder", "minilm-embeddings")
MINILM = ROOT / "examples" / "minilm-embeddings"
CONCURRENCY = (1, 16, 64)
ENCODE_BATCHES = (1, 32)


# --- helpers the tables are made of (tests/bench/test_text_bench.py) ------------------------------

def speedup(baseline_s: float, ours_s: float) -> float:
    """How many times faster ours is: the baseline's time over ours (NaN when ours took no time)."""
    return baseline_s / ours_s if ours_s > 0 else float("nan")


def throughput_ratio(ours: "Load", theirs: "Load") -> float:
    """Ours req/s over theirs (NaN when theirs served nothing: no ratio, not an infinite one)."""
    return ours.rps / theirs.rps if theirs.rps > 0 else float("nan")


def cosines(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-row cosine similarity of two (rows, dims) arrays."""
    a, b = ours.astype(np.float64), reference.astype(np.float64)
    return np.sum(a * b, axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


@dataclass
class Load:
    """One load cell: successful request latencies (s), errors and the wall time."""

    latencies: list[float]
    errors: int
    seconds: float

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")

    def cell(self) -> str:
        return f"{self.rps:,.0f} ({self.pct_ms(50):.1f} / {self.pct_ms(99):.1f})"


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def sentences(limit: int | None = None) -> list[str]:
    rows = [json.loads(line)["text"] for line in (MINILM / "eval.jsonl").read_text().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


# --- builds --------------------------------------------------------------------------------------

def build(example: str, out: Path) -> Path:
    """`deployc build` for cpu-x86 into out/example, with the user's pass cache."""
    spec = ROOT / "examples" / example / "deploy.yaml"
    subprocess.run([sys.executable, "-m", "compiler", "build", str(spec), "-o", str(out / example)],
                   check=True, capture_output=True, cwd=ROOT)
    return out / example / "cpu-x86"


# --- (a) selected vs torch eager -----------------------------------------------------------------

def eager_table(trees: dict[str, Path], rounds: int):
    from rich.table import Table

    from compile_bench import LATENCY_COLUMNS, latency_cells, latency_rows

    table = Table(title="(a) selected artifact vs torch eager, cpu-x86, p50 ms, interleaved, threads = serve.threads")
    for col in LATENCY_COLUMNS:
        table.add_column(col, justify="right", no_wrap=True)
    for name, tree in trees.items():
        for row in latency_rows(ROOT / "examples" / name / "deploy.yaml", tree, rounds=rounds):
            table.add_row(*latency_cells(row))
    return table


# --- (b) MiniLM encode ---------------------------------------------------------------------------

def runtime_encoder(tree: Path):
    """texts -> embeddings, the way the runtime serves them: its tokenizer, padding and session."""
    from compiler.runtime import backend_onnx
    from compiler.runtime.config import RuntimeConfig
    from compiler.runtime.text import TextEncoder, pad

    image = tree / "image"
    config = RuntimeConfig.load(image / "runtime.json")
    backend = backend_onnx.load(config, image / "model" / config.artifact)
    text = TextEncoder(config.text, image / "model")
    output = (config.outputs[0].name,)

    def encode(texts: list[str]) -> np.ndarray:
        return backend.run(pad(text.encode(texts, "input").ids, config.text), output)[output[0]]
    return encode, config


def encode_table(tree: Path, texts: list[str], repeats: int):
    from rich.table import Table
    from sentence_transformers import SentenceTransformer

    ours, config = runtime_encoder(tree)
    st = SentenceTransformer(str(MINILM / "models" / "all-MiniLM-L6-v2"), device="cpu")
    import torch

    # The same thread count on both sides (serve.threads), whatever ran before in this process.
    torch.set_num_threads(max(1, config.threads))
    table = Table(title=f"(b) MiniLM: selected artifact ({_candidate(tree)}, tokenizer included, onnxruntime "
                        f"threads {max(1, config.threads)}) vs sentence-transformers encode (torch threads "
                        f"{torch.get_num_threads()}), {len(texts)} sentences of eval.jsonl")
    for col in ("batch", "encode ms/sentence", "deployc ms/sentence", "speed-up", "cosine min", "cosine mean"):
        table.add_column(col, justify="right", no_wrap=True)
    for batch in ENCODE_BATCHES:
        parts = chunks(texts, batch)
        t_st, t_ours, got, ref = 0.0, 0.0, [], []
        for _ in range(repeats):
            got, ref = [], []
            for part in parts:  # interleaved chunk by chunk: machine noise hits both alike
                start = time.perf_counter()
                ref.append(st.encode(part, batch_size=batch, convert_to_numpy=True))
                t_st += time.perf_counter() - start
                start = time.perf_counter()
                got.append(ours(part))
                t_ours += time.perf_counter() - start
        cos = cosines(np.concatenate(got), np.concatenate(ref))
        n = len(texts) * repeats
        table.add_row(str(batch), f"{t_st / n * 1000:.3f}", f"{t_ours / n * 1000:.3f}", f"{speedup(t_st, t_ours):.2f}x",
                      f"{cos.min():.6f}", f"{cos.mean():.6f}")
    return table


def _candidate(tree: Path) -> str:
    return json.loads((tree / "model" / "model.json").read_text())["candidate"]


# --- (c) serving ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, path: str, proc: subprocess.Popen, log: Path) -> None:
    import http.client

    for _ in range(1200):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not get ready in 120 s:\n{log.read_text()}")


async def _load(port: int, model: str, texts: list[str], concurrency: int, seconds: float) -> Load:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", max_retries=0, timeout=60)
    latencies: list[float] = []
    errors = 0

    async def user(offset: int, deadline: float) -> None:
        nonlocal errors
        i = offset
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                await client.embeddings.create(model=model, input=texts[i % len(texts)], encoding_format="float")
                latencies.append(time.perf_counter() - start)
            except Exception:  # counted, shown in the table: a server that errs is not faster
                errors += 1
            i += concurrency

    try:
        start = time.perf_counter()
        await asyncio.gather(*[user(k, start + seconds) for k in range(concurrency)])
        return Load(latencies, errors, time.perf_counter() - start)
    finally:
        await client.close()


def serve_cells(cmd: list[str], ready: str, model: str, texts: list[str], seconds: float, log: Path
                ) -> dict[int, Load]:
    port = _free_port()
    proc = subprocess.Popen([*cmd, "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    try:
        _wait(port, ready, proc, log)
        asyncio.run(_load(port, model, texts, 16, min(seconds, 2.0)))  # warm-up
        return {c: asyncio.run(_load(port, model, texts, c, seconds)) for c in CONCURRENCY}
    finally:
        proc.terminate()
        proc.wait(30)


def serve_table(tree: Path, texts: list[str], seconds: float, work: Path):
    from rich.table import Table

    model = json.loads((tree / "image" / "runtime.json").read_text())["model_name"]
    ours = serve_cells([sys.executable, "-m", "compiler", "serve", str(tree)], "/v2/health/ready", model, texts,
                       seconds, work / "deployc-serve.log")
    theirs = serve_cells([sys.executable, str(ROOT / "bench" / "st_server.py"),
                          str(MINILM / "models" / "all-MiniLM-L6-v2")], "/health", model, texts, seconds,
                         work / "st-server.log")
    table = Table(title=f"(c) POST /v1/embeddings, one sentence per request, {seconds:g} s per cell, same "
                        f"in-process client (openai AsyncOpenAI); req/s (p50 / p99 ms)")
    for col in ("server", *(f"c={c}" for c in CONCURRENCY), "errors"):
        table.add_column(col, justify="left" if col == "server" else "right", no_wrap=True)
    for label, cells in (("deployc serve (batching on)", ours), ("FastAPI + sentence-transformers", theirs)):
        table.add_row(label, *(cells[c].cell() for c in CONCURRENCY), str(sum(c.errors for c in cells.values())))
    table.add_row("deployc / FastAPI req/s", *(f"{throughput_ratio(ours[c], theirs[c]):.2f}x" for c in CONCURRENCY), "")
    return table


# --- main ----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer sentences, rounds and seconds")
    parser.add_argument("--out", type=Path, default=Path("/tmp/deployc-text-bench"), help="where the builds go")
    parser.add_argument("--only", choices=("a", "b", "c"), action="append", help="run only these tables")
    parser.add_argument("--no-build", action="store_true", help="use the trees already under --out as they are")
    args = parser.parse_args()
    from rich.console import Console

    console = Console(width=160)
    parts = args.only or ["a", "b", "c"]
    console.print(f"{os.cpu_count()} cores; {'quick' if args.quick else 'full'} run", markup=False)
    args.out.mkdir(parents=True, exist_ok=True)
    examples = EXAMPLES if "a" in parts else ("minilm-embeddings",)
    trees = {name: args.out / name / "cpu-x86" if args.no_build else build(name, args.out) for name in examples}
    texts = sentences(64 if args.quick else None)
    if "a" in parts:
        console.print(eager_table(trees, rounds=40 if args.quick else 300))
    if "b" in parts:
        console.print(encode_table(trees["minilm-embeddings"], texts, repeats=1 if args.quick else 2))
    if "c" in parts:
        console.print(serve_table(trees["minilm-embeddings"], texts, 1.5 if args.quick else 5.0, args.out))


if __name__ == "__main__":
    main()
