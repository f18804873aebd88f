"""The build report of one target as one typed model: what report.json holds, written and read here.

The report emitter writes it, `deployc build` and the sweep summarize it, `deployc diff` and
`--check` read it back from committed trees. Every one of them uses these attributes; only this
module knows report.json's keys. `to_json_dict()` gives exactly the report.json data (the writer
sorts the keys); `from_json_dict()` reads it back and refuses anything else, naming the key.

Units: sizes in MB (10**6 bytes), latency in milliseconds measured on the build host, error and
similarity metrics as plain ratios. A metric that is null in report.json is None here.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from compiler.json_record import Object as _Object
from compiler.json_record import ReportFormatError
from compiler.json_record import flag as _flag
from compiler.json_record import list_of as _list
from compiler.json_record import mapping_of as _mapping
from compiler.json_record import number as _number
from compiler.json_record import record as _record
from compiler.json_record import text as _text
from compiler.json_record import whole as _whole

Number = int | float  # JSON keeps 1 and 1.0 apart; the model keeps what it read, so bytes round-trip


@dataclass(frozen=True)
class LatencyRow:
    """p50/p99 latency in ms of `batch` samples per call; None where the measurement was NaN or Inf."""

    batch: int
    p50_ms: Number | None
    p99_ms: Number | None


@dataclass(frozen=True)
class Measurement:
    """How one model computes against the original on the same inputs. The baseline (the original
    itself, candidate "torch-eager") has exactly these fields in report.json.

    max_abs_error: largest absolute difference of any output element; cosine: mean per-sample
    cosine similarity of the first output; top1_agreement: share of samples with the same argmax
    (classifiers); accuracy: share right on labelled data; accuracy_drop: the original's accuracy
    minus this one's; size_mb: artifact size in MB; latency: per batch size, empty when not
    measured on this host; non_finite_outputs: samples whose outputs held NaN or Inf; cosine_min:
    text models only, the worst sentence's cosine (the min_cosine gate holds it), absent otherwise."""

    candidate: str
    max_abs_error: Number | None
    cosine: Number | None
    top1_agreement: Number | None
    accuracy: Number | None
    accuracy_drop: Number | None
    size_mb: Number | None
    latency: tuple[LatencyRow, ...]
    non_finite_outputs: int | None
    cosine_min: Number | None = field(default=None, kw_only=True)
    # text-generation only (absent from report.json otherwise): share of greedy tokens equal to
    # the original's, perplexity on the bundled text and its relative increase over the original's,
    # decode tokens/s and time to first token at batch 1, peak memory of the verifying process.
    token_agreement: Number | None = field(default=None, kw_only=True)
    perplexity: Number | None = field(default=None, kw_only=True)
    perplexity_increase: Number | None = field(default=None, kw_only=True)
    tokens_per_s: Number | None = field(default=None, kw_only=True)
    ttft_ms: Number | None = field(default=None, kw_only=True)
    peak_memory_mb: Number | None = field(default=None, kw_only=True)
    load_seconds: Number | None = field(default=None, kw_only=True)  # og.Model load, on this host

    def latency_at(self, batch: int) -> LatencyRow | None:
        return next((lat for lat in self.latency if lat.batch == batch), None)


# Measurement fields that only some models have: omitted from report.json when None.
OPTIONAL = ("cosine_min", "token_agreement", "perplexity", "perplexity_increase", "tokens_per_s", "ttft_ms",
            "peak_memory_mb", "load_seconds")


@dataclass(frozen=True)
class CandidateRow(Measurement):
    """One candidate artifact: its measurement, what it is, and whether it passed the gates.

    A candidate that could not be built or run has `error` (why) and no metrics (None, latency
    empty); format, precision and sha256 are None when no artifact was produced. `non_finite`
    spells out, as text, each metric that was NaN or Inf (its field is None): key "cosine", or
    "latency.b<batch>.p50_ms" for a latency cell. report.json holds `error` and `non_finite`
    only when they say something."""

    format: str | None
    precision: str | None
    sha256: str | None
    passes: tuple[str, ...]  # the chain of passes that made the artifact
    passed: bool
    gate_failures: tuple[str, ...]
    error: str | None = None
    non_finite: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def measured(cls, values: Mapping[str, Any], *, format: str, precision: str, sha256: str,
                 passes: tuple[str, ...], gate_failures: tuple[str, ...]) -> "CandidateRow":
        """A verified candidate from its measurement (the Measurement fields). JSON has no NaN or
        Infinity: a non-finite metric becomes None and `non_finite` names it with its value as
        text, so the report stays strict JSON and still says what was measured."""
        bad: dict[str, str] = {}
        latency = tuple(_finite_latency(lat, bad) for lat in values["latency"])
        metrics = {f.name: values[f.name] for f in fields(Measurement) if f.name not in ("latency",) + OPTIONAL}
        metrics.update({name: values.get(name) for name in OPTIONAL})  # some models only
        for name, value in metrics.items():
            if isinstance(value, float) and not math.isfinite(value):
                bad[name], metrics[name] = str(value), None
        return cls(**metrics, latency=latency, format=format, precision=precision, sha256=sha256,
                   passes=tuple(passes), passed=not gate_failures, gate_failures=tuple(gate_failures),
                   non_finite=dict(sorted(bad.items())))

    @classmethod
    def broken(cls, candidate: str, error: str, *, format: str | None = None, precision: str | None = None,
               sha256: str | None = None, passes: tuple[str, ...] = ()) -> "CandidateRow":
        """A candidate that could not be built or run: the same fields, no metrics, and why."""
        empty = {f.name: None for f in fields(Measurement) if f.name not in ("candidate", "latency")}
        return cls(candidate=candidate, **empty, latency=(), format=format, precision=precision, sha256=sha256,
                   passes=tuple(passes), passed=False, gate_failures=(), error=error)


def _finite_latency(lat: Mapping[str, Any], bad: dict[str, str]) -> LatencyRow:
    cells = {}
    for key in ("p50_ms", "p99_ms"):
        value = lat[key]
        if isinstance(value, float) and not math.isfinite(value):
            bad[f"latency.b{lat['batch']}.{key}"], value = str(value), None
        cells[key] = value
    return LatencyRow(lat["batch"], **cells)


@dataclass(frozen=True)
class Selected:
    """The candidate that ships, why it won (wording includes its p50 when chosen by speed), its sha256."""

    candidate: str
    reason: str
    sha256: str


@dataclass(frozen=True)
class VerificationData:
    """The inputs candidates were verified on: origin ("evaluation", "calibration", "random", ...),
    sample count, and the original model's accuracy on them (None without labels)."""

    origin: str
    samples: int
    reference_accuracy: Number | None


@dataclass(frozen=True)
class PlanRow:
    """One planned pass or emitter: whether it runs for this target, and why (or why not)."""

    name: str
    run: bool
    reason: str


@dataclass(frozen=True)
class ReportPlan:
    passes: tuple[PlanRow, ...]
    emitters: tuple[PlanRow, ...]


@dataclass(frozen=True)
class ImageInfo:
    """The container image built from image/ (only when the build made one): its id, tags and
    size in bytes; `digest` (sha256:...) once it was pushed to a registry."""

    id: str | None
    tags: tuple[str, ...]
    size_bytes: int | None
    digest: str | None = None


@dataclass(frozen=True)
class Variant:
    """One side of an A/B experiment (rollout.strategy experiment): the build whose selected model
    it serves. `control` is variant A (the running model, read from the report.json the spec's
    rollout.experiment.control.report names), `candidate` variant B (this build)."""

    name: str
    version: str
    target: str
    candidate: str  # the selected artifact's candidate name
    sha256: str
    size_mb: Number | None
    accuracy: Number | None
    p50_ms: Number | None  # batch 1, on the build host of that report
    image: str | None  # the image digest (or id) when that build made one

    @classmethod
    def of(cls, report: "Report") -> "Variant":
        row = report.chosen
        lat = row.latency_at(1) if row is not None else None
        image = (report.image.digest or report.image.id) if report.image is not None else None
        return cls(report.name, report.version, report.target, report.selected.candidate, report.selected.sha256,
                   row.size_mb if row else None, row.accuracy if row else None, lat.p50_ms if lat else None, image)


@dataclass(frozen=True)
class Experiment:
    control: Variant | None  # None: the spec names no control report
    candidate: Variant


@dataclass(frozen=True)
class StudentRow:
    """One student candidate against the teacher (optimize.distill)."""

    candidate: str
    accuracy: Number | None  # on the holdout, as every candidate's
    accuracy_drop: Number | None  # against the original (teacher) model
    speedup_b1: Number | None  # the teacher's fastest passing candidate's p50 / this one's, batch 1
    size_ratio: Number | None  # that teacher candidate's file size / this one's
    passed: bool


@dataclass(frozen=True)
class Distillation:
    """How the student was trained, and what it cost and gained (optimize.distill)."""

    student: str
    data: str  # the spec key of the inputs it trained on
    samples: int
    steps: int
    seconds: Number  # training wall time on the host that trained it (cached afterwards)
    final_loss: Number
    student_parameters: int
    teacher_parameters: int
    teacher_candidate: str | None  # the teacher's fastest candidate that passed (None: not measured)
    teacher_accuracy: Number | None
    students: tuple[StudentRow, ...]
    verdict: str  # in words: which student passed, or that none did and why
    settings: Mapping[str, Number]  # optimize.distill's training settings, as the build used them
    gates: Mapping[str, Number]  # the gates students were judged by (with min_speedup)


@dataclass(frozen=True)
class Report:
    """report.json of one target. `gates` holds only the gates the spec sets (name -> threshold);
    `notes` says per subject what the reader should know (sorted by subject); `measured` is False
    when latency was not measured on the build host (`latency_note` says why, or how it was)."""

    name: str
    version: str
    target: str
    target_description: str
    plan: ReportPlan
    latency_note: str
    measured: bool
    verification: VerificationData
    gates: Mapping[str, Number]
    candidates: tuple[CandidateRow, ...]  # the verified ones in plan order, then the broken ones
    baseline: Measurement | None  # the original model measured the same way (None: not measured)
    selected: Selected
    notes: Mapping[str, str]
    image: ImageInfo | None = None
    experiment: Experiment | None = None  # only with rollout.strategy experiment
    distillation: Distillation | None = None  # only with optimize.distill

    @property
    def chosen(self) -> CandidateRow | None:
        """The row of the selected candidate."""
        return next((c for c in self.candidates if c.candidate == self.selected.candidate), None)

    def with_image(self, image: ImageInfo) -> "Report":
        return replace(self, image=image)

    def to_json_dict(self) -> dict:
        """The report.json data: plain dicts and lists, strict-JSON values (None for null)."""
        return {
            "name": self.name, "version": self.version, "target": self.target,
            "target_description": self.target_description,
            "plan": {"passes": [_plain(s) for s in self.plan.passes], "emitters": [_plain(s) for s in self.plan.emitters]},
            "latency_note": self.latency_note, "measured": self.measured,
            "verification": _plain(self.verification), "gates": dict(self.gates),
            "candidates": [_candidate_json(c) for c in self.candidates],
            "baseline": _measurement_json(self.baseline) if self.baseline else None,
            "selected": _plain(self.selected), "notes": dict(self.notes),
            **({"image": _image_json(self.image)} if self.image is not None else {}),
            **({"experiment": asdict(self.experiment)} if self.experiment is not None else {}),
            **({"distillation": _distillation_json(self.distillation)} if self.distillation is not None else {}),
        }

    @classmethod
    def from_json_dict(cls, data: Any, where: str = "report.json") -> "Report":
        """Reads what to_json_dict wrote. Raises ReportFormatError naming the key path (`where`
        prefixes it, e.g. the file) for a missing, unknown or ill-typed key."""
        try:
            return _read_report(data, "")
        except ReportFormatError as exc:
            raise ReportFormatError(f"{where}: {exc}") from None


def _distillation_json(d: Distillation) -> dict:
    return {**asdict(d), "students": [asdict(s) for s in d.students], "settings": dict(d.settings),
            "gates": dict(d.gates)}


def _plain(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _measurement_json(m: Measurement) -> dict:
    data = {**{f.name: getattr(m, f.name) for f in fields(Measurement)}, "latency": [_plain(lat) for lat in m.latency]}
    for name in OPTIONAL:  # only text (cosine_min) or text-generation models have them
        if data[name] is None:
            del data[name]
    return data


def _candidate_json(c: CandidateRow) -> dict:
    row = {**_measurement_json(c), "format": c.format, "precision": c.precision, "sha256": c.sha256,
           "passes": list(c.passes), "gate_failures": list(c.gate_failures), "passed": c.passed}
    if c.error is not None:
        row["error"] = c.error
    if c.non_finite:
        row["non_finite"] = dict(c.non_finite)
    return row


def _image_json(image: ImageInfo) -> dict:
    data = {"id": image.id, "tags": list(image.tags), "size_bytes": image.size_bytes}
    return {**data, "digest": image.digest} if image.digest is not None else data


# Reading: every key of every object is taken exactly once; what is left over is unknown.
_latency = _record(LatencyRow, lambda t: dict(batch=t("batch", _whole), p50_ms=t("p50_ms", _number, null=True),
                                              p99_ms=t("p99_ms", _number, null=True)))


def _measurement_fields(t: _Object) -> dict:
    metrics = ("max_abs_error", "cosine", "top1_agreement", "accuracy", "accuracy_drop", "size_mb")
    return {"candidate": t("candidate", _text), **{m: t(m, _number, null=True) for m in metrics},
            "latency": t("latency", _list(_latency)), "non_finite_outputs": t("non_finite_outputs", _whole, null=True),
            **{name: t(name, _number, null=True, default=None) for name in OPTIONAL}}


def _candidate_fields(t: _Object) -> dict:
    return {**_measurement_fields(t), "format": t("format", _text, null=True),
            "precision": t("precision", _text, null=True), "sha256": t("sha256", _text, null=True),
            "passes": t("passes", _list(_text)), "passed": t("passed", _flag),
            "gate_failures": t("gate_failures", _list(_text)), "error": t("error", _text, default=None),
            "non_finite": t("non_finite", _mapping(_text), default={})}


_plan_row = _record(PlanRow, lambda t: dict(name=t("name", _text), run=t("run", _flag), reason=t("reason", _text)))
_image = _record(ImageInfo, lambda t: dict(id=t("id", _text, null=True), tags=t("tags", _list(_text)),
                                          size_bytes=t("size_bytes", _whole, null=True),
                                          digest=t("digest", _text, default=None)))


_variant = _record(Variant, lambda v: dict(
    name=v("name", _text), version=v("version", _text), target=v("target", _text), candidate=v("candidate", _text),
    sha256=v("sha256", _text), size_mb=v("size_mb", _number, null=True), accuracy=v("accuracy", _number, null=True),
    p50_ms=v("p50_ms", _number, null=True), image=v("image", _text, null=True)))


def _report_fields(t: _Object) -> dict:
    return {
        "name": t("name", _text), "version": t("version", _text), "target": t("target", _text),
        "target_description": t("target_description", _text),
        "plan": t("plan", _record(ReportPlan, lambda p: dict(passes=p("passes", _list(_plan_row)),
                                                             emitters=p("emitters", _list(_plan_row))))),
        "latency_note": t("latency_note", _text), "measured": t("measured", _flag),
        "verification": t("verification", _record(VerificationData, lambda v: dict(
            origin=v("origin", _text), samples=v("samples", _whole),
            reference_accuracy=v("reference_accuracy", _number, null=True)))),
        "gates": t("gates", _mapping(_number)),
        "candidates": t("candidates", _list(_record(CandidateRow, _candidate_fields))),
        "baseline": t("baseline", _record(Measurement, _measurement_fields), null=True),
        "selected": t("selected", _record(Selected, lambda s: dict(
            candidate=s("candidate", _text), reason=s("reason", _text), sha256=s("sha256", _text)))),
        "notes": t("notes", _mapping(_text)),
        "image": t("image", _image, default=None),
        "experiment": t("experiment", _record(Experiment, lambda e: dict(
            control=e("control", _variant, null=True), candidate=e("candidate", _variant))), default=None),
    }


_student = _record(StudentRow, lambda t: dict(
    candidate=t("candidate", _text), accuracy=t("accuracy", _number, null=True),
    accuracy_drop=t("accuracy_drop", _number, null=True), speedup_b1=t("speedup_b1", _number, null=True),
    size_ratio=t("size_ratio", _number, null=True), passed=t("passed", _flag)))
_distillation = _record(Distillation, lambda t: dict(
    student=t("student", _text), data=t("data", _text), samples=t("samples", _whole), steps=t("steps", _whole),
    seconds=t("seconds", _number), final_loss=t("final_loss", _number), student_parameters=t("student_parameters", _whole),
    teacher_parameters=t("teacher_parameters", _whole), teacher_candidate=t("teacher_candidate", _text, null=True),
    teacher_accuracy=t("teacher_accuracy", _number, null=True), students=t("students", _list(_student)),
    verdict=t("verdict", _text), settings=t("settings", _mapping(_number)), gates=t("gates", _mapping(_number))))


def _with_distillation(t: _Object) -> dict:
    return {**_report_fields(t), "distillation": t("distillation", _distillation, default=None)}


_read_report = _record(Report, _with_distillation)


def read_report(path) -> Report:
    """A report.json file (variant A's, for an experiment); ReportFormatError names what is wrong."""
    with open(path, encoding="utf-8") as fh:
        return Report.from_json_dict(json.load(fh), where=str(getattr(path, "name", path)))
