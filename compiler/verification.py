"""What verification measured for one candidate: parity, accuracy, size and latency.

Plain data, produced by passes/verify.py and read by selection and the report; it lives below
both so the report emitter needs no pass (docs/architecture.md, "Layering")."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Latency:
    batch: int
    p50_ms: float
    p99_ms: float


@dataclass
class Verification:
    candidate: str
    max_abs_error: float
    cosine: float
    top1_agreement: float | None = None
    accuracy: float | None = None
    accuracy_drop: float | None = None
    size_mb: float = 0.0
    latency: list[Latency] = field(default_factory=list)  # empty: not measured on this host
    non_finite_outputs: int = 0  # samples where the candidate outputs NaN/Inf (the original's are finite)
    cosine_min: float | None = None  # text models: the worst sentence's cosine (the min_cosine gate reads it)
    # text-generation (passes/genai_verify.py): greedy agreement, perplexity, decode speed, memory.
    token_agreement: float | None = None
    perplexity: float | None = None
    perplexity_increase: float | None = None  # relative to the original model's perplexity
    tokens_per_s: float | None = None
    ttft_ms: float | None = None
    peak_memory_mb: float | None = None
    load_seconds: float | None = None  # the model's load time on this host (the startup probe's budget)

    def p50(self, batch: int) -> float | None:
        return next((l.p50_ms for l in self.latency if l.batch == batch), None)
