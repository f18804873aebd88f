"""Capacity planning for a generative model served by a GPU engine (serve.engine: vllm).

From the model's own config.json (no weights needed) and the serving dtype: the parameter count,
the weights' bytes and the KV cache for max_context x concurrency; from the target profile: GPU
memory, GPUs per node and nodes. Out: the tensor-parallel size, the pipeline-parallel size
(nodes per replica) and the replica count for the requested throughput, each with the arithmetic
that led to it (`deployc explain` prints `lines`). The planner calls `plan_capacity` once; the
emitters only read the result.

Assumptions, named where they are used:
- ACTIVATION_RESERVE_GIB per GPU for activations, CUDA graphs and NCCL buffers (vLLM profiles
  the real figure at start and gives the KV cache what is left of gpu_memory_utilization);
- without a measured per-replica figure, decode throughput is estimated from the memory
  bandwidth roofline (every decode step reads the weights and the live KV cache once) at
  BANDWIDTH_EFFICIENCY of the GPU's peak bandwidth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.frontend.llm_config import CapacityError, LlmDims

GIB = 2**30
ACTIVATION_RESERVE_GIB = 2.0
BANDWIDTH_EFFICIENCY = 0.5
BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "fp8": 1.0, "int8": 1.0, "awq": 0.5, "gptq": 0.5}
@dataclass(frozen=True)
class GpuPool:
    """What the target profile says about its GPUs."""

    model: str
    memory_gib: float
    per_node: int
    nodes: int
    interconnect: str  # between the GPUs of a node: nvlink | pcie
    network: str  # between nodes: infiniband | roce | ethernet
    bandwidth_gbs: float | None  # memory bandwidth of one GPU, GB/s


@dataclass(frozen=True)
class Demand:
    """What the spec asks of the deployment."""

    dtype: str  # vLLM --dtype (bfloat16, float16, float32) or the checkpoint's quantization method
    max_context: int
    concurrency: int
    memory_utilization: float
    tokens_per_second: float | None
    measured_replica_tokens_per_second: float | None
    weight_bytes: int | None = None  # a GGUF file: its size, whatever its mix of quantizations


@dataclass(frozen=True)
class CapacityPlan:
    params: int
    weights_gib: float
    kv_gib: float  # max_context x concurrency, the whole replica
    tensor_parallel: int
    pipeline_parallel: int  # = nodes per replica
    replicas: int | None  # None: no throughput asked, serve.replicas decides
    replica_tokens_per_second: float | None
    gpus_per_replica: int
    lines: tuple[str, ...]  # the arithmetic, for `explain`

    @property
    def multi_node(self) -> bool:
        return self.pipeline_parallel > 1


def legal_tp(dims: LlmDims, per_node: int) -> list[int]:
    """Powers of two up to the GPUs of one node that split the heads the way vLLM requires:
    the attention heads evenly, the KV heads evenly or (when TP exceeds them) replicated evenly."""
    out, tp = [], 1
    while tp <= per_node:
        kv_ok = dims.kv_heads % tp == 0 if tp <= dims.kv_heads else tp % dims.kv_heads == 0
        if dims.heads % tp == 0 and kv_ok:
            out.append(tp)
        tp *= 2
    return out


def _per_gpu_gib(weights: float, kv: float, dims: LlmDims, tp: int, pp: int) -> float:
    # KV heads fewer than TP are replicated: each GPU holds kv_heads / min(tp, kv_heads) of them.
    return weights / (tp * pp) + kv / (min(tp, dims.kv_heads) * pp) + ACTIVATION_RESERVE_GIB


def plan_capacity(dims: LlmDims, pool: GpuPool, want: Demand) -> CapacityPlan:
    per_param = BYTES[want.dtype]
    params = dims.params()
    weights = (want.weight_bytes if want.weight_bytes is not None else params * per_param) / GIB
    kv_token = dims.kv_bytes_per_token(2.0 if per_param < 2 else per_param)  # KV stays 16-bit under weight quantization
    kv = kv_token * want.max_context * want.concurrency / GIB
    usable = pool.memory_gib * want.memory_utilization
    lines = [f"parameters: {params / 1e9:.2f} B ({dims.layers} layers, hidden {dims.hidden}, "
             f"{dims.heads} heads / {dims.kv_heads} KV heads, MLP {dims.intermediate}"
             + (f", {dims.experts} experts" if dims.experts > 1 else "") + f", vocab {dims.vocab})",
             (f"weights: {want.weight_bytes:,} bytes (the GGUF file) = {weights:.2f} GiB" if want.weight_bytes
              else f"weights: {params / 1e9:.2f} B x {per_param:g} bytes ({want.dtype}) = {weights:.1f} GiB"),
             f"KV cache: 2 x {dims.layers} layers x {dims.kv_heads} KV heads x {dims.head_dim} x 2 bytes = "
             f"{kv_token / 2**20:.3f} MiB/token; x {want.max_context} tokens (max_context) x {want.concurrency} "
             f"sequences (serve.max_concurrency) = {kv:.1f} GiB",
             f"per GPU: {pool.memory_gib:g} GiB x {want.memory_utilization:g} (gpu_memory_utilization) = "
             f"{usable:.1f} GiB usable, {ACTIVATION_RESERVE_GIB:g} GiB of it for activations"]
    tps = legal_tp(dims, pool.per_node)
    if not tps:
        raise CapacityError(f"no tensor-parallel size up to {pool.per_node} GPUs splits {dims.heads} attention "
                            f"heads and {dims.kv_heads} KV heads")
    tp, pp = _fit(dims, weights, kv, usable, tps, pool, lines)
    need = _per_gpu_gib(weights, kv, dims, tp, pp)
    lines.append(f"chosen: tensor parallel {tp} x pipeline parallel {pp} = {tp * pp} GPUs per replica, "
                 f"{need:.1f} of {usable:.1f} GiB per GPU"
                 + (f"; {pp} nodes per replica over {pool.network}" if pp > 1 else f" (within one node, {pool.interconnect})"))
    replicas, per_replica = _replicas(pool, want, weights, kv_token, tp, pp, lines)
    return CapacityPlan(params, weights, kv, tp, pp, replicas, per_replica, tp * pp, tuple(lines))


def _fit(dims: LlmDims, weights: float, kv: float, usable: float, tps: list[int], pool: GpuPool,
         lines: list[str]) -> tuple[int, int]:
    for tp in tps:
        need = _per_gpu_gib(weights, kv, dims, tp, 1)
        if need <= usable:
            return tp, 1
        lines.append(f"tensor parallel {tp}: {weights:.1f}/{tp} + {kv:.1f}/{min(tp, dims.kv_heads)} + "
                     f"{ACTIVATION_RESERVE_GIB:g} = {need:.1f} GiB per GPU > {usable:.1f}: does not fit")
    tp = tps[-1]
    for pp in range(2, pool.nodes + 1):
        need = _per_gpu_gib(weights, kv, dims, tp, pp)
        if need <= usable and dims.layers >= pp:
            lines.append(f"one node ({pool.per_node} GPUs) is not enough: pipeline parallel over {pp} nodes")
            return tp, pp
    most = _per_gpu_gib(weights, kv, dims, tp, pool.nodes)
    raise CapacityError(f"{weights:.1f} GiB of weights + {kv:.1f} GiB of KV cache need {most:.1f} GiB per GPU even on "
                        f"all {pool.nodes} node(s) x {tp} GPUs ({pool.model}, {usable:.1f} GiB usable each); lower "
                        "model.generation.max_context or serve.max_concurrency, quantize the checkpoint, or use a "
                        "target with more GPU memory")


def _replicas(pool: GpuPool, want: Demand, weights: float, kv_token: float, tp: int, pp: int,
              lines: list[str]) -> tuple[int | None, float | None]:
    if want.measured_replica_tokens_per_second is not None:
        per = want.measured_replica_tokens_per_second
        lines.append(f"one replica: {per:g} tokens/s (serve.throughput.per_replica_tokens_per_second, measured)")
    elif pool.bandwidth_gbs:
        # A decode step reads the weights once and the live KV cache (half the context on average).
        step_bytes = (weights * GIB + kv_token * want.concurrency * want.max_context / 2) / tp
        step_s = step_bytes / (pool.bandwidth_gbs * 1e9 * BANDWIDTH_EFFICIENCY)
        per = want.concurrency / step_s
        lines.append(f"one replica (estimate): a decode step reads {step_bytes / GIB:.1f} GiB per GPU at "
                     f"{pool.bandwidth_gbs:g} GB/s x {BANDWIDTH_EFFICIENCY:g} = {step_s * 1e3:.1f} ms; "
                     f"{want.concurrency} sequences / step = {per:,.0f} tokens/s")
    else:
        per = None
    if want.tokens_per_second is None:
        return None, per
    if per is None:
        raise CapacityError(f"target GPUs ({pool.model}) have no gpu.memory_bandwidth_gbs to estimate a replica's "
                            "throughput: give serve.throughput.per_replica_tokens_per_second (measured)",
                            "serve.throughput.per_replica_tokens_per_second")
    replicas = max(1, math.ceil(want.tokens_per_second / per))
    lines.append(f"replicas: ceil({want.tokens_per_second:g} tokens/s (serve.throughput.tokens_per_second) / "
                 f"{per:,.0f}) = {replicas}: {replicas} x {tp * pp} = {replicas * tp * pp} GPUs in all")
    return replicas, per


@dataclass(frozen=True)
class EnginePlan:
    """What a GPU engine serves and on how many GPUs: the planner's one decision for vLLM."""

    dtype: str  # vLLM --dtype
    quantization: str | None  # vLLM --quantization: the checkpoint's own method, if quantized
    why: str  # the dtype decision in words
    capacity: CapacityPlan


QUANTIZED = ("awq", "gptq", "fp8")


def serving_dtype(config: dict, target_precisions: tuple[str, ...]) -> tuple[str, str | None, str]:
    """--dtype and --quantization: a quantized checkpoint keeps its method; else the checkpoint's
    16-bit type where the target runs it (bf16 first: no overflow rescaling), else fp32."""
    quant = config.get("quantization_config") if isinstance(config.get("quantization_config"), dict) else {}
    method = str(quant.get("quant_method", "")).lower()
    stored = str(config.get("torch_dtype") or config.get("dtype") or "")
    if method in QUANTIZED:
        return "auto", method, f"the checkpoint is {method}-quantized (config.json quantization_config)"
    if stored == "bfloat16" and "bf16" in target_precisions:
        return "bfloat16", None, "the checkpoint's bfloat16, which the target runs"
    if "fp16" in target_precisions:
        return "float16", None, f"float16 (the checkpoint is {stored or 'of unstated dtype'}; the target runs fp16)"
    return "float32", None, "float32: the target lists no 16-bit precision"


def spec_engine_plan(spec) -> EnginePlan:
    """The capacity plan of a frozen spec (compiler.frontend.spec.Spec) with serve.engine vllm;
    a SpecError naming the key and the numbers when the model cannot be served on the target."""
    from compiler.errors import SpecError, SpecIssue
    from compiler.frontend.huggingface import engine_dims, model_path
    from compiler.frontend.llm_config import read_folder

    m = spec.model
    key = "model.hub_id" if m.hub_id else "model.path"
    path = model_path({"path": m.path, "hub_id": m.hub_id, "revision": m.revision}, spec.base_dir)
    t, s = spec.target, spec.serve
    if path.is_file():  # GGUF: vLLM dequantizes its blocks on the fly; activations in 16 bits
        dims, weight_bytes = engine_dims(path, key), path.stat().st_size
        dtype, quantization, why = serving_dtype({"torch_dtype": "float16"}, tuple(t.precisions))
        why = f"a GGUF file (quantized weights, read by vLLM's GGUF loader); activations {dtype}"
    else:
        (config, dims), weight_bytes = read_folder(path, key), None
        dtype, quantization, why = serving_dtype(config, tuple(t.precisions))
    gpu = t.gpu
    if gpu is None or not gpu.memory_gib:
        raise SpecError(SpecIssue("target.gpu.memory_gib", f"target {t.name} gives no GPU memory: the capacity plan "
                                                           "needs it"))
    pool = GpuPool(gpu.model, float(gpu.memory_gib), gpu.count, gpu.nodes, gpu.interconnect, gpu.network,
                   gpu.memory_bandwidth_gbs)
    want = Demand(quantization if quantization in BYTES else dtype if dtype in BYTES else "bfloat16",
                  spec.model.generation.max_context, s.max_concurrency, s.vllm.gpu_memory_utilization,
                  s.throughput.tokens_per_second, s.throughput.per_replica_tokens_per_second, weight_bytes)
    try:
        capacity = plan_capacity(dims, pool, want)
    except CapacityError as exc:
        raise SpecError(SpecIssue(exc.key, f"{spec.model.path or spec.model.hub_id} on target {t.name}: {exc}")) from None
    return EnginePlan(dtype, quantization, why, capacity)
