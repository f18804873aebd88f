"""Model artifacts by digest, with size, latency and accuracy deltas from the two reports.

Latency is compared only where both builds measured it; a target not measured on the build
host stays "not measured", never a number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from compiler.report_model import CandidateRow, Experiment, Report, ReportFormatError

REPORT = "report.json"


@dataclass(frozen=True)
class Metric:
    name: str
    old: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old


@dataclass(frozen=True)
class Artifact:
    candidate: str
    sha256: str
    format: str
    precision: str
    passed: bool
    metrics: dict[str, float | None]


@dataclass(frozen=True)
class ArtifactChange:
    candidate: str
    status: str  # added | removed | changed
    old: Artifact | None
    new: Artifact | None
    metrics: list[Metric] = field(default_factory=list)


@dataclass(frozen=True)
class ModelDiff:
    old: Artifact | None  # the selected artifact of each build
    new: Artifact | None
    metrics: list[Metric]  # of the selected artifacts
    candidates: list[ArtifactChange]
    old_note: str
    new_note: str
    # rollout.strategy experiment: both variants' models, from each build's report (None: not one)
    old_experiment: Experiment | None = None
    new_experiment: Experiment | None = None
    # model.source mlflow: the registry version each build resolved (report.json's "model source" note)
    old_source: str = ""
    new_source: str = ""

    @property
    def changed(self) -> bool:
        same = self.old is not None and self.new is not None and self.old.sha256 == self.new.sha256
        return (not same or any(m.old != m.new for m in self.metrics) or bool(self.candidates)
                or self.old_experiment != self.new_experiment or self.old_source != self.new_source)


def load_report(tree: Path | None) -> Report | None:
    """The tree's report, or None when it has none this deployc can read (the section then shows
    that side as absent; the other files are still compared)."""
    if tree is None or not (tree / REPORT).is_file():
        return None
    try:
        return Report.from_json_dict(json.loads((tree / REPORT).read_text(encoding="utf-8")), str(tree / REPORT))
    except (json.JSONDecodeError, UnicodeDecodeError, ReportFormatError):
        return None


def _artifacts(report: Report | None) -> dict[str, Artifact]:
    if report is None:
        return {}
    return {c.candidate: Artifact(c.candidate, c.sha256 or "", c.format or "", c.precision or "", c.passed,
                                  _metrics(c, report.measured))
            for c in report.candidates}


def _metrics(candidate: CandidateRow, measured: bool) -> dict[str, float | None]:
    lat = candidate.latency_at(1) if measured else None
    return {"size MB": candidate.size_mb, "p50 ms (batch 1)": lat and lat.p50_ms,
            "p99 ms (batch 1)": lat and lat.p99_ms, "accuracy": candidate.accuracy,
            "cosine": candidate.cosine, "top-1 agreement": candidate.top1_agreement}


def _selected(report: Report | None, artifacts: dict[str, Artifact]) -> Artifact | None:
    return artifacts.get(report.selected.candidate) if report else None


def model_diff(old_tree: Path | None, new_tree: Path | None) -> ModelDiff | None:
    old_report, new_report = load_report(old_tree), load_report(new_tree)
    if old_report is None and new_report is None:
        return None
    before, after = _artifacts(old_report), _artifacts(new_report)
    old_sel, new_sel = _selected(old_report, before), _selected(new_report, after)
    return ModelDiff(old_sel, new_sel, _compare(old_sel, new_sel), _candidate_changes(before, after),
                     old_report.latency_note if old_report else "", new_report.latency_note if new_report else "",
                     old_report.experiment if old_report else None, new_report.experiment if new_report else None,
                     _source(old_report), _source(new_report))


def _source(report: Report | None) -> str:
    return report.notes.get("model source", "") if report is not None else ""


def _compare(a: Artifact | None, b: Artifact | None) -> list[Metric]:
    names = list((b or a).metrics) if (a or b) else []
    return [Metric(n, a.metrics.get(n) if a else None, b.metrics.get(n) if b else None) for n in names]


def _candidate_changes(before: dict[str, Artifact], after: dict[str, Artifact]) -> list[ArtifactChange]:
    out = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a is None or b is None:
            out.append(ArtifactChange(name, "added" if a is None else "removed", a, b))
            continue
        moved = [m for m in _compare(a, b) if m.old != m.new]
        if moved or a.sha256 != b.sha256 or a.passed != b.passed:
            out.append(ArtifactChange(name, "changed", a, b, moved))
    return out
