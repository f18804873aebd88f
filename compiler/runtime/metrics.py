"""Prometheus metrics, built from the catalog's data: the server can export nothing else."""

from __future__ import annotations

import logging

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from .catalog import CATALOG, FEEDBACK_VALUES, OUTCOMES
from .config import RuntimeConfig
from .drift import bucket_counts, unknown_input

log = logging.getLogger("runtime")

# `_created` series are not in the catalog (and alert rules never use them).
disable_created_metrics()

KINDS = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}


class _Drift:
    """One input's live bucket counters against its build-time baseline."""

    def __init__(self, edges: list[float], counters: list) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.counters = counters

    def count(self, values: np.ndarray) -> None:
        counts = bucket_counts(values, self.edges)
        for i in np.flatnonzero(counts):
            self.counters[i].inc(int(counts[i]))


class Metrics:
    """The catalog's metrics in a registry of their own, children bound once per label set."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.registry = CollectorRegistry()
        self.family = {m.name: self._make(m) for m in CATALOG}
        model = config.model_name
        f = self.family
        self.requests = {o: f["requests_total"].labels(model, o) for o in OUTCOMES}
        self.request_duration = f["request_duration_seconds"].labels(model)
        self.queue_duration = f["queue_duration_seconds"].labels(model)
        self.batch_size = f["batch_size"].labels(model)
        self.inflight = f["inflight_requests"].labels(model)
        self.ready = f["model_ready"].labels(model)
        self.load_failures = f["model_load_failures_total"].labels(model)
        f["max_concurrency"].labels(model).set(config.max_concurrency)
        f["model_info"].labels(model, config.model_version, config.backend, config.artifact).set(1)
        self.ready.set(0)
        self.text_input = config.text.input if config.text else None
        self.unknown_input = unknown_input(self.text_input) if config.text else None
        self.request_tokens = f["request_tokens"].labels(model)
        self.tokens = f["tokens_total"].labels(model)
        self.unknown_tokens = f["unknown_tokens_total"].labels(model)
        self.drift = self._drift(config)
        # Both series exist from the start, so a share of 0 reads as 0, not as "no data".
        self.feedback = {v: f["feedback_total"].labels(model, v) for v in FEEDBACK_VALUES}
        self.ttft = f["time_to_first_token_seconds"].labels(model)
        self.tpot = f["time_per_output_token_seconds"].labels(model)
        self.e2e = f["e2e_request_latency_seconds"].labels(model)
        self.prompt_length = f["request_prompt_tokens"].labels(model)
        self.prompt_tokens = f["prompt_tokens_total"].labels(model)
        self.generation_tokens = f["generation_tokens_total"].labels(model)
        self.gen_running = f["num_requests_running"].labels(model)
        self.gen_waiting = f["num_requests_waiting"].labels(model)

    def _make(self, metric):
        kwargs = {"registry": self.registry, "labelnames": metric.labels}
        if metric.type == "histogram":
            kwargs["buckets"] = metric.buckets
        return KINDS[metric.type](metric.full_name, metric.help, **kwargs)

    def _drift(self, config: RuntimeConfig) -> dict[str, _Drift]:
        text = {config.text.input, unknown_input(config.text.input)} if config.text else set()
        names = {t.name for t in config.inputs} | text
        out: dict[str, _Drift] = {}
        for name, base in sorted(config.drift.items()):
            if name not in names or len(base.ratios) != len(base.edges) + 1:
                # A bad baseline must not take serving down; say so and skip it.
                log.warning("drift baseline for %r ignored: unknown input or ratios/edges mismatch", name)
                continue
            labels = [(config.model_name, name, str(i)) for i in range(len(base.ratios))]
            for label, ratio in zip(labels, base.ratios):
                self.family["input_baseline_ratio"].labels(*label).set(ratio)
            out[name] = _Drift(base.edges, [self.family["input_bucket_total"].labels(*lb) for lb in labels])
        return out

    def count_inputs(self, inputs: dict[str, np.ndarray]) -> None:
        for name, drift in self.drift.items():
            if name in inputs:  # a text request's tensors are counted by count_text
                drift.count(inputs[name])

    def count_text(self, tokens) -> None:
        """A tokenized text request (text.Tokens): its tokens, unknown tokens, and the drift of the
        text input (baseline buckets of tokens per text) and of its unknown-token share."""
        count = tokens.count
        self.request_tokens.observe(count)
        self.tokens.inc(count)
        self.unknown_tokens.inc(tokens.unknown)
        drift = self.drift.get(self.text_input)
        if drift is not None:
            drift.count(np.array([len(row) for row in tokens.ids]))
        shares = self.drift.get(self.unknown_input)
        if shares is not None:  # two buckets: known tokens, unknown tokens
            shares.counters[0].inc(count - tokens.unknown)
            shares.counters[1].inc(tokens.unknown)
