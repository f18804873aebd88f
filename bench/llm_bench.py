"""Benchmark text generation: the deployc runtime (OpenAI API, streamed) against raw
onnxruntime-genai on the same model folder; prints one table from one run.

    python bench/llm_bench.py GENAI_FOLDER [--tokens 128] [--streams 8]

GENAI_FOLDER is what the builder wrote (genai_config.json, model.onnx, tokenizer). Rows: decode
tokens/s of one stream, aggregate tokens/s of N concurrent streams, time to first token of a
256-token prompt. Greedy decoding of a chat prompt; the server stops at end of sequence, so its
token counts come from usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.runtime.helpers import Server  # noqa: E402
from tests.runtime.llm_model import llm_config, llm_root  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and the sea."


def raw(folder: Path, tokens: int, streams: int) -> dict[str, float]:
    import onnxruntime_genai as og

    model = og.Model(str(folder))
    tok = og.Tokenizer(model)

    def generators(prompts: list[np.ndarray], max_new: int):
        out = []
        for ids in prompts:
            params = og.GeneratorParams(model)
            params.set_search_options(max_length=int(ids.size) + max_new, do_sample=False)
            gen = og.Generator(model, params)
            gen.append_tokens(ids)
            out.append(gen)
        return out

    chat = tok.apply_chat_template(json.dumps([{"role": "user", "content": PROMPT}]), add_generation_prompt=True)
    ids = np.asarray(tok.encode(chat), dtype=np.int32)
    [gen] = generators([ids], tokens)
    start = time.perf_counter()
    for _ in range(tokens):
        gen.generate_next_token()
    one = tokens / (time.perf_counter() - start)
    gens = generators([ids] * streams, tokens)
    start = time.perf_counter()
    for _ in range(tokens):  # one generator per stream, stepped in turn: what the runtime does
        for g in gens:
            g.generate_next_token()
    many = tokens * streams / (time.perf_counter() - start)
    long = np.asarray(tok.encode("word " * 256)[:256], dtype=np.int32)
    start = time.perf_counter()
    [gen] = generators([long], 1)
    gen.generate_next_token()
    return {"decode_1": one, f"decode_{streams}": many, "ttft_256": time.perf_counter() - start}


async def _stream(oai, prompt: str, tokens: int) -> tuple[float, float, int]:
    """One chat completion, streamed (an instruct model ends a bare prompt at once)."""
    start = time.perf_counter()
    first = None
    resp = await oai.chat.completions.create(model="toy", messages=[{"role": "user", "content": prompt}],
                                             max_tokens=tokens, temperature=0, stream=True,
                                             stream_options={"include_usage": True})
    usage = 0
    async for chunk in resp:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter()
        if chunk.usage:
            usage = chunk.usage.completion_tokens
    return start, first or time.perf_counter(), usage


async def served(url: str, tokens: int, streams: int) -> dict[str, float]:
    import openai

    async with openai.AsyncOpenAI(base_url=f"http://{url}/v1", api_key="x", max_retries=0) as oai:
        start, first, n = await _stream(oai, PROMPT, tokens)
        one = (n - 1) / (time.perf_counter() - first)
        t0 = time.perf_counter()
        runs = await asyncio.gather(*(_stream(oai, PROMPT, tokens) for _ in range(streams)))
        many = sum(n for _, _, n in runs) / (time.perf_counter() - t0)
        start, first, _ = await _stream(oai, "word " * 230, 1)  # ~256 tokens with the template
        return {"decode_1": one, f"decode_{streams}": many, "ttft_256": first - start}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--streams", type=int, default=8)
    args = ap.parse_args()
    base = raw(args.folder, args.tokens, args.streams)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = llm_config(max_context=2048, max_new_tokens=max(args.tokens, 256), max_batch_size=args.streams,
                            max_concurrency=args.streams * 2, threads=2)
        srv = Server(tmp, config, root=llm_root(tmp / "root", args.folder.resolve(), config))
        try:
            srv.wait_ready(300)
            ours = asyncio.run(served(srv.url, args.tokens, args.streams))
        finally:
            srv.stop()
    print(f"{'metric':<12} {'raw og':>10} {'deployc':>10} {'ratio':>7}")
    for key in base:
        print(f"{key:<12} {base[key]:>10.3f} {ours[key]:>10.3f} {ours[key] / base[key]:>7.2f}")
    print(json.dumps({"raw": base, "deployc": ours}, sort_keys=True))


if __name__ == "__main__":
    main()
