"""The runtime's metric catalog: every series the server exports, as data.

The server registers exactly these metrics; the monitoring and rollout emitters import this
module and refuse to build a rule, panel or analysis query that names anything else.
Base units only (seconds, counts); one prefix for all.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "deployc"

# Latency buckets in seconds: fine below 100 ms where CPU models live, coarse above.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# Tokens per text request (all its texts, special tokens included): up to max_batch_size texts
# of max_length tokens each.
TOKEN_BUCKETS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
# Generation (vLLM's buckets, finer at the fast end where small CPU models decode).
# TTFT holds every request-duration bound, so a latency SLO threshold is one of its buckets too.
TTFT_BUCKETS = LATENCY_BUCKETS + (20.0, 40.0, 80.0)
TPOT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5)
E2E_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0)
PROMPT_BUCKETS = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
OUTCOMES = ("success", "client_error", "server_error", "timeout", "rejected")
FEEDBACK_VALUES = ("true", "false")  # the `correct` label of feedback_total


@dataclass(frozen=True)
class Metric:
    name: str  # without the prefix
    type: str  # counter | gauge | histogram
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{PREFIX}_{self.name}"

    @property
    def series(self) -> tuple[str, ...]:
        """The names that appear on /metrics (prometheus-client adds suffixes)."""
        base = self.full_name
        if self.type == "histogram":
            return (f"{base}_bucket", f"{base}_sum", f"{base}_count")
        if self.type == "counter":
            return (base if base.endswith("_total") else f"{base}_total",)
        return (base,)

    def labels_of(self, series: str) -> tuple[str, ...]:
        return self.labels + (("le",) if series.endswith("_bucket") else ())


CATALOG: tuple[Metric, ...] = (
    Metric("requests_total", "counter", "Inference requests by outcome.", ("model", "outcome")),
    Metric("request_duration_seconds", "histogram", "Time from request received to response sent.",
           ("model",), LATENCY_BUCKETS),
    Metric("queue_duration_seconds", "histogram", "Time a request waited for a batch slot.",
           ("model",), LATENCY_BUCKETS),
    Metric("batch_size", "histogram", "Rows per batch run by the backend.", ("model",), BATCH_BUCKETS),
    Metric("inflight_requests", "gauge", "Requests being handled now.", ("model",)),
    Metric("max_concurrency", "gauge", "Configured concurrency limit (for saturation ratios).", ("model",)),
    Metric("model_info", "gauge", "Always 1; labels describe the loaded model.",
           ("model", "version", "backend", "artifact")),
    Metric("model_ready", "gauge", "1 when the model is loaded and serving.", ("model",)),
    Metric("model_load_failures_total", "counter", "Failed attempts to load the model.", ("model",)),
    Metric("input_bucket_total", "counter",
           "Input values counted in the build-time baseline's buckets (for drift).",
           ("model", "input", "bucket")),
    Metric("input_baseline_ratio", "gauge",
           "Share of the build-time baseline in each bucket (sums to 1 per input).",
           ("model", "input", "bucket")),
    # Text models (0 for others). A text input's drift buckets above count tokens per text.
    Metric("request_tokens", "histogram", "Tokens per text request, special tokens included.",
           ("model",), TOKEN_BUCKETS),
    Metric("tokens_total", "counter", "Tokens of all text requests, special tokens included.", ("model",)),
    Metric("unknown_tokens_total", "counter",
           "Tokens the tokenizer mapped to its unknown token (over tokens_total: the unknown-token share).",
           ("model",)),
    # Text generation (0 for other models), named after vLLM's series under our prefix.
    Metric("time_to_first_token_seconds", "histogram", "Time from request received to its first generated token.",
           ("model",), TTFT_BUCKETS),
    Metric("time_per_output_token_seconds", "histogram",
           "Mean time per generated token after the first, per request.", ("model",), TPOT_BUCKETS),
    Metric("e2e_request_latency_seconds", "histogram", "Time from request received to its last generated token.",
           ("model",), E2E_BUCKETS),
    Metric("request_prompt_tokens", "histogram", "Prompt tokens per generation request (chat template applied).",
           ("model",), PROMPT_BUCKETS),
    Metric("prompt_tokens_total", "counter", "Prompt tokens of all generation requests.", ("model",)),
    Metric("generation_tokens_total", "counter", "Tokens generated for all requests.", ("model",)),
    Metric("num_requests_running", "gauge", "Generation requests decoding now.", ("model",)),
    Metric("num_requests_waiting", "gauge", "Generation requests waiting for a decode slot.", ("model",)),
    # A/B experiments' quality signal: clients (or a labelling job) post whether an answer was right.
    Metric("feedback_total", "counter",
           "Feedback on the model's answers (POST /v2/models/{name}/feedback), by whether the answer was correct.",
           ("model", "correct")),
)

BY_NAME: dict[str, Metric] = {m.full_name: m for m in CATALOG}
SERIES: dict[str, Metric] = {s: m for m in CATALOG for s in m.series}


def series_labels(series: str) -> tuple[str, ...] | None:
    """Labels a series carries, or None if the runtime never exports it."""
    metric = SERIES.get(series)
    return metric.labels_of(series) if metric else None
