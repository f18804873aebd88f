"""What a text-generation pod needs beyond the others: a startup probe sized from the model's load
time, memory from its footprint, and large weights on a volume instead of in the image.

- Load time: the selected candidate's `load_seconds` in the report (verification loads the model
  with onnxruntime-genai and times it), else an estimate from the weights' size at
  LOAD_BYTES_PER_S; the startup probe allows STARTUP_FACTOR times that (a cold node reads from a
  cold disk or volume), and never less than the other models' budget.
- Memory: the weights (the files of the shipped folder) plus the KV cache of every sequence that
  decodes at once (serve.batching.max_batch_size; waiting requests hold none) at max_context,
  from the folder's genai_config.json, plus RUNTIME_OVERHEAD, with HEADROOM; never less than the
  target profile's resources.memory (requests equal limits: Guaranteed QoS).
- Weights over WEIGHTS_IN_IMAGE_MAX_BYTES are mounted read-only from a PersistentVolumeClaim
  (`<name>-weights`, ReadOnlyMany) at the model folder: multi-GB layers make every pull and
  every rollout slow, while a volume is filled once. Smaller ones stay baked into the image.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from compiler.emitters.base import EmitContext

LOAD_BYTES_PER_S = 100 * 2**20  # reading and mapping weights; measured loads on two cores were faster
STARTUP_FACTOR = 3
RUNTIME_OVERHEAD = 300 * 2**20  # Python, onnxruntime and the server, measured RSS before the model
HEADROOM = 1.2
WEIGHTS_IN_IMAGE_MAX_BYTES = 2 * 2**30
MODEL_ROOT = "/srv/model"  # the image's --root /srv (templates/Dockerfile.j2)
KV_BYTES = {"cpu": 4, "cuda": 2}  # the builder keeps the KV cache at the I/O precision


@dataclass(frozen=True)
class GenerationPod:
    load_seconds: float
    load_measured: bool
    weights_bytes: int
    kv_bytes: int  # the KV cache of every sequence decoding at once, at max_context
    memory_bytes: int  # what the pod requests (and is limited to)
    weights_volume: str | None  # mount path of the weights PVC; None: baked into the image
    model_dir: str  # folder under the model root (runtime.json generation.model_dir)

    def startup_budget(self, floor: int) -> int:
        return max(floor, math.ceil(self.load_seconds * STARTUP_FACTOR))


def generation_pod(ctx: EmitContext, profile_memory: int | None) -> GenerationPod | None:
    gen = ctx.runtime.generation if ctx.runtime is not None else None
    if gen is None or ctx.selected is None:
        return None
    folder = Path(ctx.selected.path)
    weights = sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) if folder.is_dir() \
        else ctx.selected.size_bytes
    kv = kv_cache_bytes(folder / "genai_config.json", gen.max_context, ctx.spec.serve.batching.max_batch_size,
                        "cuda" if ctx.spec.target.is_gpu else "cpu")
    row = ctx.report.chosen if ctx.report is not None else None
    measured = getattr(row, "load_seconds", None)
    load = float(measured) if measured is not None else 2.0 + weights / LOAD_BYTES_PER_S
    need = int((weights + kv + RUNTIME_OVERHEAD) * HEADROOM)
    peak = getattr(row, "peak_memory_mb", None)  # measured at verification (one stream)
    if peak is not None:
        need = max(need, int(peak * 2**20 * HEADROOM))
    volume = f"{MODEL_ROOT}/{gen.model_dir}" if weights > WEIGHTS_IN_IMAGE_MAX_BYTES else None
    return GenerationPod(load, measured is not None, weights, kv, max(need, profile_memory or 0), volume,
                         gen.model_dir)


def kv_cache_bytes(config: Path, context: int, sequences: int, device: str) -> int:
    """2 (keys, values) x layers x kv heads x head size x context x bytes, per sequence."""
    try:
        decoder = json.loads(config.read_text(encoding="utf-8"))["model"]["decoder"]
        per_token = 2 * decoder["num_hidden_layers"] * decoder["num_key_value_heads"] * decoder["head_size"]
    except (OSError, ValueError, KeyError):
        return 0  # no genai_config.json next to the artifact: the profile's memory stands alone
    return per_token * KV_BYTES[device] * context * sequences


def mebibytes(n: int) -> str:
    """A Kubernetes quantity, rounded up to whole MiB (stable bytes for the same inputs)."""
    return f"{math.ceil(n / 2**20)}Mi"
