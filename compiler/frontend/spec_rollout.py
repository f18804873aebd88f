"""The rollout section of the spec (rollout.*) as typed, frozen dataclasses; compiler/frontend/spec.py
composes them into Spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union


@dataclass(frozen=True)
class Analysis:
    interval: str
    count: int
    failure_limit: int
    max_error_ratio: float
    max_p99_latency_seconds: float
    on_no_data: str


@dataclass(frozen=True)
class CanaryStep:
    set_weight: Optional[int] = None
    pause: Optional[str] = None
    analysis: Optional[bool] = None


@dataclass(frozen=True)
class Canary:
    steps: tuple[CanaryStep, ...]


@dataclass(frozen=True)
class BlueGreen:
    preview_port: Optional[int]
    auto_promotion: bool
    auto_promotion_seconds: int
    scale_down_delay_seconds: int


@dataclass(frozen=True)
class GatewayRef:
    name: str
    namespace: str  # empty: the rollout's namespace


@dataclass(frozen=True)
class Traffic:
    router: str  # none | gateway-api | nginx | istio | smi
    hosts: tuple[str, ...]
    gateway: GatewayRef
    ingress_class: str


@dataclass(frozen=True)
class HeaderMatch:
    name: str  # '': no header match
    value: str  # exact value


@dataclass(frozen=True)
class QualityMetric:
    """A counter the runtime exports: the share of its increase that matches `match` is the quality."""

    name: str
    match: dict[str, str]
    better: str  # higher | lower


@dataclass(frozen=True)
class ExperimentControl:
    report: str  # report.json of variant A's build, relative to the spec; '': not named


@dataclass(frozen=True)
class Experiment:
    """rollout.experiment (schemas/spec.yaml owns the defaults and says what each one means)."""

    weight: int
    header: HeaderMatch
    cookie: str
    min_samples: int
    confidence: float
    quality_metric: QualityMetric
    control: ExperimentControl


@dataclass(frozen=True)
class RolloutSpec:
    strategy: str
    controller: str
    namespace: str
    max_surge: Union[str, int]
    max_unavailable: Union[str, int]
    prometheus_url: str
    analysis: Analysis
    canary: Canary
    blue_green: BlueGreen
    traffic: Traffic
    experiment: Experiment
