"""Memory plan of a text-generation model compiled with onnxruntime-genai: the weights at each
precision plus the KV cache every concurrent stream holds at max_context, checked against the
target's memory (resources.memory on a CPU target, gpu.memory_gib on an NVIDIA one). The planner
calls `footprint` per precision; `deployc explain` prints each line's arithmetic.

Bytes per parameter are the builder's layouts, measured on SmolLM2-135M (docs/architecture.md):
int4 is MatMulNBits with 4-bit weights and one fp32 scale per 32 (0.625 B), int8 likewise with
8-bit weights (1.125 B) and the embedding table kept at the I/O precision; fp16 and fp32 are dense.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from compiler.frontend.llm_config import LlmDims

MIB = 2**20
WEIGHT_BYTES = {"int4": 0.625, "int8": 1.125, "fp16": 2.0, "fp32": 4.0}
# Seconds per billion parameters per precision for the builder on two CPU cores (SmolLM2: ~30 s).
BUILD_S_PER_BPARAM = 220.0
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


@dataclass(frozen=True)
class Footprint:
    precision: str
    device: str  # cpu | cuda
    weights: int  # bytes
    kv_per_stream: int  # bytes at max_context
    streams: int
    limit: int | None  # bytes the target has; None when the profile does not say
    limit_source: str

    @property
    def total(self) -> int:
        return self.weights + self.kv_per_stream * self.streams

    @property
    def fits(self) -> bool:
        return self.limit is None or self.total <= self.limit

    def line(self, dims: LlmDims, context: int) -> str:
        kv_bytes = 2 if self.device == "cuda" else 4
        have = "no limit given" if self.limit is None else f"{_mib(self.limit)} ({self.limit_source})"
        return (f"weights {_mib(self.weights)} + KV cache 2 x {dims.layers} layers x {dims.kv_heads} kv heads x "
                f"{dims.head_dim} head dim x {context} tokens x {kv_bytes} B = {_mib(self.kv_per_stream)} per "
                f"stream x {self.streams} streams = {_mib(self.total)}; target has {have}")


def _mib(n: int) -> str:
    return f"{n / MIB:,.0f} MiB"


def quantity(text: str) -> int | None:
    """A Kubernetes memory quantity in bytes ("2Gi", "512M", "1e9"); None when unreadable."""
    m = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([kMGT]i?)?\s*", str(text))
    return None if m is None else int(float(m.group(1)) * _UNITS[m.group(2) or ""])


def weight_bytes(dims: LlmDims, params: int, precision: str, io_bytes: float) -> int:
    quantized = precision in ("int4", "int8")
    table = dims.vocab * dims.hidden
    # int8 keeps the embedding table at the I/O precision; int4 shares the quantized lm_head when tied.
    extra = table * io_bytes if quantized and (precision == "int8" or not dims.tied) else 0
    return int(params * WEIGHT_BYTES[precision] + extra)


def footprint(dims: LlmDims, params: int, precision: str, device: str, context: int, streams: int,
              target_memory: str | None, gpu_memory_gib: float | None) -> Footprint:
    io_bytes = 2.0 if device == "cuda" else 4.0
    kv = int(dims.kv_bytes_per_token(io_bytes) * context)
    if device == "cuda":
        limit = int(gpu_memory_gib * 2**30) if gpu_memory_gib else None
        source = f"gpu.memory_gib {gpu_memory_gib}"
    else:
        limit = quantity(target_memory) if target_memory else None
        source = f"resources.memory {target_memory}"
    return Footprint(precision, device, weight_bytes(dims, params, precision, io_bytes), kv, streams, limit, source)


def build_estimate(params: int, precisions: int, weights_fp32: int) -> str:
    """A rough figure for `explain`: the builder per precision, then verification (the reference
    model in fp32 next to one candidate at a time)."""
    seconds = BUILD_S_PER_BPARAM * params / 1e9 * max(precisions, 1) * 2  # build + verify
    peak = weights_fp32 * 3  # the fp32 model loaded, its dequantized copy saved, one candidate
    return f"roughly {max(seconds, 10):,.0f} s on two CPU cores and {_mib(peak)} of memory at peak"


# What each kind of target runs from the builder: int4 (MatMulNBits) everywhere, int8 on CPU
# (its CUDA kernels are not in this onnxruntime), fp32 on CPU, fp16 on CUDA.
TARGET_PRECISIONS = {"cpu": ("int4", "int8", "fp32"), "cuda": ("int4", "fp16")}


@dataclass(frozen=True)
class GenaiChoice:
    precision: str
    device: str  # cpu | cuda: the builder's execution provider
    run: bool
    reason: str


def choices(spec, gen) -> tuple[list[GenaiChoice], list[str]]:
    """Per asked precision: built or not, and why; then the notes `explain` prints (the arithmetic
    and the rough cost). A SpecError naming the numbers when no asked precision fits the target."""
    from compiler.errors import SpecError, SpecIssue

    t, g = spec.target, spec.model.generation
    device = "cuda" if t.is_gpu else "cpu"
    streams = spec.serve.max_concurrency
    out, misfits = [], []
    for precision in spec.optimize.precisions:
        if precision not in TARGET_PRECISIONS[device]:
            out.append(GenaiChoice(precision, device, False, f"onnxruntime-genai on {device.upper()} targets builds "
                                                             f"{', '.join(TARGET_PRECISIONS[device])}"))
            continue
        fp = footprint(gen.dims, gen.params, precision, device, g.max_context, streams, t.resources.memory,
                       t.gpu.memory_gib if t.gpu else None)
        line = fp.line(gen.dims, g.max_context)
        if not fp.fits:
            misfits.append(f"{precision}: {line}")
            out.append(GenaiChoice(precision, device, False, f"does not fit the target: {line}"))
            continue
        out.append(GenaiChoice(precision, device, True, f"onnxruntime-genai model builder, {precision} for "
                                                        f"{device.upper()}; memory {line}"))
    if misfits and not any(c.run for c in out):
        raise SpecError(SpecIssue("model.generation.max_context",
                                  f"no precision fits target {t.name}: " + "; ".join(misfits)
                                  + " (lower model.generation.max_context or serve.max_concurrency, or pick a "
                                    "target with more memory)"))
    fp32 = weight_bytes(gen.dims, gen.params, "fp32", 4.0)
    notes = [f"{gen.params / 1e6:,.1f} M parameters ({gen.dims.model_type}, {gen.dims.layers} layers, "
             f"{gen.dims.heads} heads, {gen.dims.kv_heads} kv heads, vocab {gen.dims.vocab}); build and "
             f"verification: {build_estimate(gen.params, sum(c.run for c in out), fp32)}"]
    return out, notes
