"""The validated spec as typed, frozen dataclasses: the boundary every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Union

import dacite

from compiler.frontend.spec_rollout import RolloutSpec


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str
    shape: tuple[Union[int, str], ...]
    range: Optional[tuple[float, float]] = None

    @property
    def dynamic_dims(self) -> dict[int, str]:
        return {i: d for i, d in enumerate(self.shape) if isinstance(d, str)}

    def concrete(self, batch: int, dims: dict[str, int] | None = None) -> tuple[int, ...]:
        """The shape with the leading symbolic dim set to `batch` and others from `dims`."""
        dims = dims or {}
        out = []
        for i, d in enumerate(self.shape):
            if isinstance(d, int):
                out.append(d)
            elif i == 0:
                out.append(batch)
            else:
                out.append(dims.get(d, 8))
        return tuple(out)


@dataclass(frozen=True)
class DataSource:
    factory: Optional[str] = None
    npz: Optional[str] = None
    text: Optional[str] = None  # JSON lines of {"text", "label"}: huggingface sources
    samples: int = 256


@dataclass(frozen=True)
class Normalization:
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class GenerationConfig:
    """task text-generation: sizes in tokens."""

    max_context: int  # prompt + generated tokens: KV cache, memory plan, runtime limit
    max_new_tokens: int  # most new tokens per request; the default of `max_tokens`


@dataclass(frozen=True)
class ModelSpec:
    inputs: tuple[TensorSpec, ...]  # written by the user, or derived (source huggingface)
    outputs: tuple[TensorSpec, ...]
    # source huggingface (compiler/frontend/huggingface.py): a folder, or a hub id in the local cache.
    path: Optional[str]
    hub_id: Optional[str]
    revision: Optional[str]
    max_length: int  # tokens per sequence, special tokens included
    truncation: str  # error | truncate: what a longer text gets
    generation: GenerationConfig  # used by task text-generation only
    # source mlflow (compiler/frontend/mlflow_source.py): a registry model URI and the tracking
    # server; the front end resolves them to a downloaded onnx file or huggingface folder.
    uri: Optional[str]
    tracking_uri: Optional[str]
    source: str = "pytorch"
    factory: Optional[str] = None
    weights: Optional[str] = None
    onnx: Optional[str] = None
    task: str = "generic"
    labels: tuple[str, ...] = ()
    normalization: Optional[Normalization] = None
    example_batch: int = 4
    seed: int = 0
    calibration: Optional[DataSource] = None
    evaluation: Optional[DataSource] = None


@dataclass(frozen=True)
class Gates:
    max_abs_error: Optional[float] = None
    min_cosine: Optional[float] = None
    min_top1_agreement: Optional[float] = None
    min_accuracy: Optional[float] = None
    max_accuracy_drop: Optional[float] = None
    max_latency_p99_ms: Optional[float] = None
    max_size_mb: Optional[float] = None
    min_token_agreement: Optional[float] = None  # text-generation
    max_perplexity_increase: Optional[float] = None  # text-generation, relative


@dataclass(frozen=True)
class LatencyConfig:
    batch_sizes: tuple[int, ...]
    warmup: int
    iterations: int


@dataclass(frozen=True)
class PruneConfig:
    amount: float


@dataclass(frozen=True)
class EdgeConfig:
    batch_size: Union[int, str]
    fixed_dims: dict[str, int]


@dataclass(frozen=True)
class ExportConfig:
    exporter: str  # auto | dynamo | torchscript


@dataclass(frozen=True)
class DistillData:
    factory: Optional[str]
    npz: Optional[str]


@dataclass(frozen=True)
class StudentGates:
    """optimize.distill.gates: optimize.gates' gates less the text-generation ones."""

    max_abs_error: Optional[float]
    min_cosine: Optional[float]
    min_top1_agreement: Optional[float]
    min_accuracy: Optional[float]
    max_accuracy_drop: Optional[float]
    max_latency_p99_ms: Optional[float]
    max_size_mb: Optional[float]


@dataclass(frozen=True)
class DistillSpec:
    """optimize.distill (schemas/spec.yaml owns the defaults and says what each one means)."""

    student: Optional[str]  # factory `module:function`, or None with `layers`
    layers: Optional[int]  # huggingface sources: keep this many of the teacher's layers
    data: Optional[DistillData]  # None: model.calibration
    steps: int
    batch_size: int
    learning_rate: float
    temperature: float
    hard_label_weight: float
    seed: int
    min_speedup: float
    gates: StudentGates


@dataclass(frozen=True)
class OptimizeSpec:
    opset: int
    export: ExportConfig
    graph: bool
    precisions: tuple[str, ...]
    quantize: tuple[str, ...]
    prune: PruneConfig
    aoti: str
    select: str
    latency: LatencyConfig
    verify_samples: int
    gates: Gates
    target_gates: dict[str, Gates]
    edge: EdgeConfig
    distill: Optional[DistillSpec]  # None: no distillation


@dataclass(frozen=True)
class GpuSpec:
    model: str
    compute_capability: str
    memory_gib: Optional[int] = None
    count: int = 1  # GPUs per node
    nodes: int = 1
    interconnect: str = "pcie"  # nvlink | pcie, between the GPUs of a node
    network: str = "ethernet"  # infiniband | roce | ethernet, between nodes
    memory_bandwidth_gbs: Optional[float] = None


@dataclass(frozen=True)
class ImageBase:
    base: str = "python:3.11-slim"
    platform: str = "linux/amd64"
    hermetic: bool = True  # the platform's runtime wheels are on PyPI


@dataclass(frozen=True)
class Resources:
    cpu: str = "1"
    memory: str = "1Gi"
    gpu: int = 0


@dataclass(frozen=True)
class Toleration:
    key: str
    operator: str = "Exists"
    value: Optional[str] = None
    effect: Optional[str] = None


@dataclass(frozen=True)
class TargetProfile:
    name: str
    description: str
    kind: str
    arch: str
    runtime: str
    precisions: tuple[str, ...]
    passes: tuple[str, ...]
    emitters: tuple[str, ...]
    execution_providers: tuple[str, ...] = ("CPUExecutionProvider",)
    gpu: Optional[GpuSpec] = None
    image: ImageBase = ImageBase()
    resources: Resources = Resources()
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    runtime_class: Optional[str] = None
    topology_spread: bool = True
    scaling_metric: str = "cpu"
    gates: Gates = Gates()

    @property
    def is_edge(self) -> bool:
        return self.kind == "edge"

    @property
    def is_gpu(self) -> bool:
        return self.kind == "nvidia"


@dataclass(frozen=True)
class Batching:
    enabled: bool
    max_batch_size: int
    max_queue_delay_ms: float


@dataclass(frozen=True)
class Replicas:
    min: int
    max: int
    target_utilization: int


@dataclass(frozen=True)
class VllmServe:
    image_digest: Optional[str]
    gpu_memory_utilization: float
    prefix_caching: bool


@dataclass(frozen=True)
class Throughput:
    tokens_per_second: Optional[float]
    per_replica_tokens_per_second: Optional[float]


@dataclass(frozen=True)
class ServeSpec:
    engine: str
    port: int
    metrics_port: int
    grpc_port: int
    threads: int
    max_request_bytes: int
    request_timeout_s: float
    max_concurrency: int
    drain_seconds: int
    batching: Batching
    replicas: Replicas
    vllm: VllmServe
    throughput: Throughput
    allow_from_namespaces: tuple[str, ...]
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True)
class ImageSpec:
    build: bool
    hermetic: bool
    repository: str
    source: str
    revision: str


@dataclass(frozen=True)
class Slo:
    availability: float
    latency_threshold_seconds: float
    latency_objective: float
    period: str


@dataclass(frozen=True)
class Saturation:
    max_queue_seconds: float
    max_inflight_ratio: float


@dataclass(frozen=True)
class Drift:
    enabled: bool
    buckets: int
    threshold: float
    window: str


@dataclass(frozen=True)
class MonitoringSpec:
    enabled: bool
    namespace: str
    labels: dict[str, str]
    runbook_url: str
    slo: Slo
    saturation: Saturation
    drift: Drift


@dataclass(frozen=True)
class RegistrySource:
    """What `model.source: mlflow` resolved to: the build's record of it (deployc.lock.json `model`)."""

    uri: str  # as the spec writes it, e.g. models:/digits@champion
    resolved: str  # the pinned form, models:/digits/3 (runs:/ URIs are already pinned)
    name: str  # registered model; '' for runs:/
    version: str  # '' for runs:/
    run_id: str
    sha256: str  # of the downloaded artifacts (compiler/frontend/mlflow_source.py says which files)
    flavor: str  # onnx | transformers | sentence_transformers | onnx-file | huggingface-folder
    tracking_uri: str  # without credentials; a local store is named by its scheme only
    tracking_from: str  # model.tracking_uri or MLFLOW_TRACKING_URI
    locked: bool  # resolved from a lock's record (deployc build --locked)


@dataclass(frozen=True)
class Spec:
    name: str
    version: str
    model: ModelSpec
    target: TargetProfile
    description: str
    optimize: OptimizeSpec
    serve: ServeSpec
    image: ImageSpec
    rollout: RolloutSpec
    monitoring: MonitoringSpec
    # Where relative paths in the spec (factories, weights, data) are resolved; never emitted.
    base_dir: Path = field(default=Path("."), compare=False)
    # The resolved, normalized spec as plain data: hashed for the lock, shown by `explain`.
    resolved: dict = field(default_factory=dict, compare=False, repr=False)
    # model.source mlflow: the version it resolved to (None for other sources); not hashed as spec.
    registry: Optional[RegistrySource] = field(default=None, compare=False)

    @property
    def gates(self) -> Gates:
        """Spec gates, then the target profile's, then the spec's per-target block (last wins)."""
        merged = {}
        for layer in (self.optimize.gates, self.target.gates, self.optimize.target_gates.get(self.target.name)):
            if layer is not None:
                merged.update({k: v for k, v in layer.__dict__.items() if v is not None})
        return Gates(**merged)

    def resolve_path(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()


def freeze(data: dict, base_dir: Path) -> Spec:
    """Validated plain data -> Spec. `optimize.quantize` may be one string or a list; `none` drops out."""
    optimize = dict(data.get("optimize", {}))
    quantize = optimize.get("quantize", [])
    quantize = [quantize] if isinstance(quantize, str) else list(quantize)
    optimize["quantize"] = [q for q in quantize if q != "none"]
    typed = dacite.from_dict(Spec, {**data, "optimize": optimize}, config=dacite.Config(cast=[tuple], strict=True))
    return replace(typed, base_dir=base_dir, resolved=data)
