"""One vLLM metric as the catalog lists it (catalog_data.py, written by make_catalog.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str  # as registered, e.g. vllm:time_to_first_token_seconds
    kind: str  # gauge | counter | histogram
    labels: tuple[str, ...]
    buckets: tuple[float, ...] | None  # histograms with fixed bounds; None: sized at start

    def series(self) -> dict[str, tuple[str, ...]]:
        """Exported series name -> its labels."""
        if self.kind == "counter":
            return {f"{self.name}_total": self.labels}
        if self.kind == "histogram":
            return {f"{self.name}_bucket": self.labels + ("le",), f"{self.name}_sum": self.labels,
                    f"{self.name}_count": self.labels}
        return {self.name: self.labels}
