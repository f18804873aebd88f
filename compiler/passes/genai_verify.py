"""Verify one onnxruntime-genai candidate against the original model, and measure it.

- token agreement: onnxruntime-genai's own greedy decoding loop on each prompt; the share of the
  first N positions whose token equals transformers' (a stream that ended counts as "ended");
- next-token logit cosine and perplexity: the folder's model.onnx run by onnxruntime on each
  perplexity window with an empty KV cache, compared window by window with the reference's cached
  logits (one window in memory at a time); perplexity_increase = perplexity / reference - 1;
- decode tokens/s and time to first token at batch 1, from the same greedy runs;
- peak memory: the verifying process's peak RSS. Each candidate is verified in a fresh child
  process, so one candidate's memory neither counts for the next nor stays in the build.
NaN anywhere stays NaN (the gates fail it), and NaN logits count as non-finite outputs.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from compiler.errors import PassError
from compiler.passes.base import Artifact, PassContext, library_versions
from compiler.passes.genai_reference import GenData, Reference
from compiler.verification import Latency, Verification


def verify(artifact: Artifact, data: GenData, ref: Reference, ctx: PassContext, measure: bool) -> Verification:
    from compiler.passes.verify import host_fingerprint  # not at import: the child process stays light

    config = {"host": host_fingerprint(), "measure": measure}
    key = ctx.cache.key("genai-verify", config, {"artifact": artifact.sha256, "data": data.digest(),
                                                 "reference": str(ref.folder.name)},
                        library_versions("onnxruntime-genai", "onnxruntime"))
    with ctx.timed(f"verify ({artifact.candidate})") as event:
        entry = ctx.cache.get_or_run(key, lambda d: _in_child(artifact, data, ref, measure))
        event.cached = entry.hit
    meta = dict(entry.meta)
    meta["latency"] = [Latency(**lat) for lat in meta["latency"]]
    return Verification(**meta)


def _in_child(artifact: Artifact, data: GenData, ref: Reference, measure: bool) -> dict:
    """The measurement runs in `python -m compiler.passes.genai_verify` (JSON in, JSON out): a plain
    child imports only what it needs, so its peak RSS is the candidate's, not the compiler's."""
    import json
    import subprocess
    import sys

    args = [str(artifact.path), data.prompts, data.windows, data.new_tokens, data.eos, str(ref.folder), ref.tokens]
    done = subprocess.run([sys.executable, "-m", "compiler.passes.genai_verify"], input=json.dumps(args),
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-4:])
        raise PassError("verify", f"{artifact.candidate} failed to run (exit {done.returncode}): {tail}")
    raw = json.loads(done.stdout.strip().splitlines()[-1], parse_constant=float)
    v = Verification(artifact.candidate, raw["max_abs_error"], raw["cosine"])
    v.non_finite_outputs = raw["non_finite"]
    v.size_mb = round(sum(p.stat().st_size for p in artifact.path.iterdir() if p.is_file()) / 1e6, 4)
    v.token_agreement = raw["agreement"]
    v.perplexity = raw["perplexity"]
    v.perplexity_increase = _round(raw["perplexity"] / ref.perplexity - 1.0)
    v.peak_memory_mb = raw["peak_memory_mb"]
    if measure:  # per output token at batch 1: select.py ranks candidates by it like any latency
        v.latency = [Latency(1, raw["token_p50_ms"], raw["token_p99_ms"])]
        v.tokens_per_s, v.ttft_ms = raw["tokens_per_s"], raw["ttft_ms"]
        v.load_seconds = raw["load_seconds"]  # sizes the pod's startup probe (kubernetes/generation.py)
    return asdict(v)


def _round(x: float) -> float:
    return round(x, 6) if math.isfinite(x) else x


def measure_folder(folder: str, prompts, windows, n: int, eos: list[int], ref_dir: str, ref_tokens) -> dict:
    """Runs in the child process: only onnxruntime-genai, onnxruntime and numpy."""
    out = _greedy(folder, prompts, n, eos, ref_tokens)
    out.update(_teacher_forced(folder, windows, Path(ref_dir)))
    out["peak_memory_mb"] = _peak_rss_mb()
    return out


def _peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from
    the parent through fork and exec, so every child reported the compiler's own peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource  # no /proc (macOS): ru_maxrss is in bytes there

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 1)


def _greedy(folder: str, prompts, n: int, eos: list[int], ref_tokens) -> dict:
    import onnxruntime_genai as og

    config = og.Config(folder)
    config.clear_providers()  # verified on this host's CPU; a CUDA build that cannot run here is reported broken
    loading = time.perf_counter()
    model = og.Model(config)
    load_seconds = round(time.perf_counter() - loading, 3)
    same = total = 0
    ttft, steps = [], []
    for ids, want in zip(prompts, ref_tokens):
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(ids) + n, do_sample=False)
        gen = og.Generator(model, params)
        got: list[int] = []
        start = time.perf_counter()
        gen.append_tokens(ids)
        while not gen.is_done() and len(got) < n:
            t = time.perf_counter()
            gen.generate_next_token()
            got.append(int(gen.get_next_tokens()[0]))
            (ttft.append((time.perf_counter() - start) * 1000) if len(got) == 1
             else steps.append((time.perf_counter() - t) * 1000))
        same += sum(_at(got, i, eos) == _at(want, i, eos) for i in range(n))
        total += n
        del gen
    p50 = float(np.percentile(steps, 50)) if steps else math.nan
    return {"agreement": round(same / total, 6) if total else math.nan,
            "token_p50_ms": round(p50, 4), "token_p99_ms": round(float(np.percentile(steps, 99)), 4) if steps else math.nan,
            "tokens_per_s": round(1000.0 * len(steps) / sum(steps), 2) if steps else math.nan,
            "ttft_ms": round(float(np.median(ttft)), 3) if ttft else math.nan, "load_seconds": load_seconds}


def _at(tokens: list[int], i: int, eos: list[int]) -> int:
    """The token at i; -1 once the stream has ended (at an end-of-sequence token, or stopped)."""
    for j, t in enumerate(tokens[:i + 1]):
        if t in eos and j < i:
            return -1
    return tokens[i] if i < len(tokens) else -1


def _teacher_forced(folder: str, windows, ref_dir: Path) -> dict:
    import onnxruntime as ort

    import json

    decoder = json.loads((Path(folder) / "genai_config.json").read_text(encoding="utf-8"))["model"]["decoder"]
    session = ort.InferenceSession(str(Path(folder) / decoder["filename"]), providers=["CPUExecutionProvider"])
    shape = (decoder["num_key_value_heads"], decoder["head_size"])
    nll, scored, max_err, non_finite, cosines = 0.0, 0, 0.0, 0, []
    for i, ids in enumerate(windows):
        logits = session.run(["logits"], _feeds(session, ids, *shape))[0][0].astype(np.float64)
        ref = np.load(ref_dir / f"w{i}.npy").astype(np.float64)
        if not np.isfinite(logits).all():
            non_finite += 1
        max_err = max(max_err, float(np.max(np.abs(logits - ref))))
        denom = np.linalg.norm(logits, axis=1) * np.linalg.norm(ref, axis=1)
        cosines.append(np.sum(logits * ref, axis=1) / np.maximum(denom, 1e-12))
        shifted = logits[:-1] - logits[:-1].max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        nll -= float(logp[np.arange(len(ids) - 1), ids[1:]].sum())
        scored += len(ids) - 1
        del logits, ref, logp, shifted
    cos = np.concatenate(cosines) if cosines else np.array([math.nan])
    return {"perplexity": round(math.exp(nll / scored), 6) if scored and math.isfinite(nll) else math.nan,
            "cosine": round(float(np.mean(cos)), 6), "max_abs_error": round(max_err, 6) if non_finite == 0 else math.nan,
            "non_finite": non_finite}


def _feeds(session, ids: list[int], kv_heads: int, head_size: int) -> dict:
    """A prompt pass: the window as input_ids, and an empty KV cache for every layer."""
    feeds = {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, len(ids)), np.int64)}
    for arg in session.get_inputs():
        if arg.name.startswith("past_key_values"):
            dtype = np.float16 if arg.type == "tensor(float16)" else np.float32
            feeds[arg.name] = np.zeros((1, kv_heads, 0, head_size), dtype)
        elif arg.name not in feeds and arg.name == "position_ids":
            feeds[arg.name] = np.arange(len(ids), dtype=np.int64)[None]
    return feeds


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(measure_folder(*json.loads(sys.stdin.read()))))
