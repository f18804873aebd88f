"""The validated spec as typed, frozen dataclasses: the boundary every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Union

import dacite


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
    samples: int = 256


@dataclass(frozen=True)
class Normalization:
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class ModelSpec:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
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


@dataclass(frozen=True)
class LatencyConfig:
    batch_sizes: tuple[int, ...] = (1, 32)
    warmup: int = 10
    iterations: int = 100


@dataclass(frozen=True)
class PruneConfig:
    amount: float = 0.0


@dataclass(frozen=True)
class EdgeConfig:
    batch_size: Union[int, str] = 1
    fixed_dims: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportConfig:
    exporter: str = "auto"  # auto | dynamo | torchscript


@dataclass(frozen=True)
class OptimizeSpec:
    opset: int = 18
    export: ExportConfig = ExportConfig()
    graph: bool = True
    precisions: tuple[str, ...] = ("fp32", "fp16")
    quantize: tuple[str, ...] = ("int8-dynamic",)
    prune: PruneConfig = PruneConfig()
    aoti: str = "auto"
    select: str = "fastest"
    latency: LatencyConfig = LatencyConfig()
    verify_samples: int = 256
    gates: Gates = Gates()
    target_gates: dict[str, Gates] = field(default_factory=dict)
    edge: EdgeConfig = EdgeConfig()


@dataclass(frozen=True)
class GpuSpec:
    model: str
    compute_capability: str
    memory_gib: Optional[int] = None
    count: int = 1


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
    enabled: bool = True
    max_batch_size: int = 32
    max_queue_delay_ms: float = 2.0


@dataclass(frozen=True)
class Replicas:
    min: int = 1
    max: int = 3
    target_utilization: int = 70


@dataclass(frozen=True)
class ServeSpec:
    engine: str = "deployc"
    port: int = 8080
    metrics_port: int = 9090
    threads: int = 1
    max_request_bytes: int = 4 * 1024 * 1024
    request_timeout_s: float = 10.0
    max_concurrency: int = 64
    drain_seconds: int = 20
    batching: Batching = Batching()
    replicas: Replicas = Replicas()
    allow_from_namespaces: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageSpec:
    build: bool = False
    hermetic: bool = True
    repository: str = ""
    source: str = ""
    revision: str = ""


@dataclass(frozen=True)
class Analysis:
    interval: str = "1m"
    count: int = 5
    failure_limit: int = 1
    max_error_ratio: float = 0.01
    max_p99_latency_seconds: float = 0.5
    on_no_data: str = "inconclusive"


@dataclass(frozen=True)
class CanaryStep:
    set_weight: Optional[int] = None
    pause: Optional[str] = None
    analysis: Optional[bool] = None


@dataclass(frozen=True)
class Canary:
    steps: tuple[CanaryStep, ...] = ()


@dataclass(frozen=True)
class BlueGreen:
    preview_port: Optional[int] = 8081
    auto_promotion: bool = False
    auto_promotion_seconds: int = 0
    scale_down_delay_seconds: int = 30


@dataclass(frozen=True)
class GatewayRef:
    name: str = ""
    namespace: str = ""  # empty: the rollout's namespace


@dataclass(frozen=True)
class Traffic:
    router: str = "none"  # none | gateway-api | nginx | istio | smi
    hosts: tuple[str, ...] = ()
    gateway: GatewayRef = GatewayRef()
    ingress_class: str = ""


@dataclass(frozen=True)
class RolloutSpec:
    strategy: str = "rolling"
    controller: str = "argo"
    namespace: str = "default"
    max_surge: Union[str, int] = "25%"
    max_unavailable: Union[str, int] = 0
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    analysis: Analysis = Analysis()
    canary: Canary = Canary()
    blue_green: BlueGreen = BlueGreen()
    traffic: Traffic = Traffic()


@dataclass(frozen=True)
class Slo:
    availability: float = 0.999
    latency_threshold_seconds: float = 0.25
    latency_objective: float = 0.99
    period: str = "30d"


@dataclass(frozen=True)
class Saturation:
    max_queue_seconds: float = 0.05
    max_inflight_ratio: float = 0.8


@dataclass(frozen=True)
class Drift:
    enabled: bool = True
    buckets: int = 10
    threshold: float = 0.2
    window: str = "1h"


@dataclass(frozen=True)
class MonitoringSpec:
    enabled: bool = True
    namespace: str = "monitoring"
    labels: dict[str, str] = field(default_factory=dict)
    runbook_url: str = ""
    slo: Slo = Slo()
    saturation: Saturation = Saturation()
    drift: Drift = Drift()


@dataclass(frozen=True)
class Spec:
    name: str
    version: str
    model: ModelSpec
    target: TargetProfile
    description: str = ""
    optimize: OptimizeSpec = OptimizeSpec()
    serve: ServeSpec = ServeSpec()
    image: ImageSpec = ImageSpec()
    rollout: RolloutSpec = RolloutSpec()
    monitoring: MonitoringSpec = MonitoringSpec()
    # Where relative paths in the spec (factories, weights, data) are resolved; never emitted.
    base_dir: Path = field(default=Path("."), compare=False)
    # The resolved, normalized spec as plain data: hashed for the lock, shown by `explain`.
    resolved: dict = field(default_factory=dict, compare=False, repr=False)

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
