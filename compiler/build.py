"""One target's build, end to end: plan -> passes -> select -> emitters -> writer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from compiler import __version__
from compiler.emitters import image
from compiler.emitters.base import EmitContext, SelectedArtifact
from compiler.emitters.registry import emitter
from compiler.emitters.report import report_data
from compiler.emitters.runtime_config import GENAI_DIR, runtime_config
from compiler.frontend.spec import Spec
from compiler.passes.base import PassContext, PassEvent, library_versions
from compiler.digest import sha256_json
from compiler.passes.cache import Cache
from compiler.passes.pipeline import PassResults, run_passes
from compiler.passes.genai_pipeline import run_genai
from compiler.planner import Plan, host_plan
from compiler.report_model import ImageInfo, Report
from compiler.select import Selection, select
from compiler.serialize import dumps
from compiler.writer import write_tree

TOOLS = ("torch", "onnx", "onnxruntime", "onnxscript", "onnxconverter-common", "kubernetes",
         "prometheus-client", "hydra-core", "omegaconf", "cerberus", "jinja2",
         "litert-torch", "ai-edge-quantizer", "ai-edge-litert")
EXTENSIONS = {"onnx": "onnx", "pt2": "pt2", "tflite": "tflite", "trt": "plan"}


@dataclass
class BuildResult:
    target_dir: Path
    lock: dict
    report: Report  # what report.json holds (with the image, when one was built)
    events: list[PassEvent]
    model_change: str | None = None  # model.source mlflow: the URI means another version than last build's


def build(spec: Spec, out: Path, cache: Cache, on_event: Callable[[PassEvent], None] = lambda e: None,
          build_image: bool | None = None, probe: Callable[[], bool] | None = None,
          on_progress: Callable[[str, int, int], None] | None = None) -> BuildResult:
    """`probe` replaces the host's GPU probe (planner.host_plan; explain takes the same);
    `on_progress` sees a long pass's steps (distillation's training), for a progress bar."""
    the_plan = host_plan(spec, probe)
    if the_plan.engine_plan is not None:  # serve.engine vllm: no pass, no selection, no report to sweep
        from compiler.errors import SpecError, SpecIssue

        raise SpecError(SpecIssue("serve.engine", "vllm builds through build_engine (`deployc build`, and "
                                                  "sweeps with -m); --check does not run it yet"))
    ctx = PassContext(spec, cache, on_event)
    if on_progress is not None:
        ctx.on_progress = on_progress
    results = run_genai(the_plan, ctx) if spec.model.task == "text-generation" else run_passes(the_plan, ctx)
    selection = select(results, the_plan, spec.optimize.select)
    report = _with_source_note(spec, report_data(spec, the_plan, results, selection))
    files, emit_report = _emit(spec, the_plan, results, selection, report)
    target_dir = Path(out) / spec.target.name
    want_image = spec.image.build if build_image is None else build_image
    image_lock: dict = {}
    if want_image and the_plan.emits("image"):
        # The action runs between the emitters and the report, so the report is emitted once,
        # with the image it describes; a failed image build leaves the previous output intact.
        image_lock = _build_image(spec, files)
        if image_lock:
            info = image_lock["image"]
            report = report.with_image(ImageInfo(info["id"], tuple(info["tags"]), info["size_bytes"]))
    files.update(emit_report(report))
    change = registry_change(spec, target_dir)
    lock = write_tree(target_dir, files, {**_lock_meta(spec, selection), **image_lock})
    _write_build_log(Path(out), spec.target.name, ctx.events)
    return BuildResult(target_dir, lock, report, ctx.events, change)


def _with_source_note(spec: Spec, report: Report) -> Report:
    """report.json says which registry version was built (the lock holds the same record)."""
    r = spec.registry
    if r is None:
        return report
    run = f"run {r.run_id}, " if r.run_id else ""
    note = (f"{r.uri} resolved to {r.resolved}{' (from --locked)' if r.locked else ''}: {run}{r.flavor} "
            f"flavour, artifacts sha256 {r.sha256}, tracking server {r.tracking_uri} ({r.tracking_from})")
    return replace(report, notes=dict(sorted({**report.notes, "model source": note}.items())))


def registry_change(spec: Spec, target_dir: Path) -> str | None:
    """What a registry source resolves to now, against the record of the build in target_dir (an
    alias moved, or the registry's copy changed): said, never silently rebuilt."""
    import json

    if spec.registry is None:
        return None
    try:
        old = json.loads((target_dir / "deployc.lock.json").read_text(encoding="utf-8")).get("model") or {}
    except (OSError, ValueError, AttributeError):
        return None
    new = spec.registry
    if old.get("uri") != new.uri or (old.get("resolved"), old.get("sha256")) == (new.resolved, new.sha256):
        return None
    what = (f"now resolves to {new.resolved} (the previous build in {target_dir.name}/ used {old.get('resolved')})"
            if old.get("resolved") != new.resolved else f"{new.resolved}'s artifacts changed in the registry")
    return (f"model.uri {new.uri} {what}; `deployc build --locked <previous deployc.lock.json>` rebuilds "
            "the recorded version")


def _selected(selection: Selection) -> SelectedArtifact:
    a = selection.artifact
    if a.format == "genai":  # a folder: model/genai/ holds the builder's files
        size = sum(p.stat().st_size for p in a.path.iterdir() if p.is_file())
        return SelectedArtifact(a.candidate, GENAI_DIR, a.path, a.format, a.precision, a.sha256, size)
    return SelectedArtifact(a.candidate, f"model.{EXTENSIONS[a.format]}", a.path, a.format, a.precision,
                            a.sha256, a.path.stat().st_size)


def _emit(spec: Spec, the_plan: Plan, results: PassResults, selection: Selection, report: Report):
    """Every emitter's files but the report's, and a function that emits the report last (after
    the image action, whose facts it shows)."""
    selected = _selected(selection)
    runtime = runtime_config(spec, selected, _drift_baseline(spec, results), the_plan.target_engine)
    files: dict = {}
    # Vendoring is an action, run before emission: the emitters that digest image/ (the content
    # tag the manifests run) then see the context --image builds, wheels included.
    if the_plan.emits("image") and image.hermetic(spec):
        files.update(_vendor_wheels(spec, runtime))
    steps = [step for step in the_plan.emitters if step.run]
    for step in steps:
        if step.name != "report":
            files.update(emitter(step.name).emit(EmitContext(spec, selected, runtime, report, dict(files))))

    def emit_report(final: Report) -> dict:
        if not any(step.name == "report" for step in steps):
            return {}
        return emitter("report").emit(EmitContext(spec, selected, runtime, final, dict(files)))
    return files, emit_report


def _vendor_wheels(spec: Spec, runtime) -> dict:
    """The action that makes the image hermetic: exactly the pins of image/requirements.lock."""
    from compiler.actions import wheels

    vendored = wheels.vendor(image.image_lock(spec, runtime))
    return {f"image/wheels/{name}": path for name, path in vendored.items()}


def _drift_baseline(spec: Spec, results: PassResults) -> dict:
    if not (spec.monitoring.enabled and spec.monitoring.drift.enabled) or results.drift_source is None:
        return {}
    from compiler.passes.baseline import compute_baseline, text_baseline

    if spec.model.source == "huggingface":  # clients send text: lengths and unknown tokens drift
        from compiler.frontend.huggingface import spec_folder, unknown_id

        return text_baseline(results.drift_source.inputs, unknown_id(spec_folder(spec)), spec.monitoring.drift.buckets)
    return compute_baseline(results.drift_source.inputs, spec.monitoring.drift.buckets)


def _lock_meta(spec: Spec, selection: Selection) -> dict:
    return {
        "deployc": __version__, "target": spec.target.name,
        "spec": {"name": spec.name, "version": spec.version, "digest": sha256_json(spec.resolved)},
        "selected": {"candidate": selection.artifact.candidate, "sha256": selection.artifact.sha256},
        "tools": library_versions(*TOOLS),
        **({"model": asdict(spec.registry)} if spec.registry is not None else {}),
    }


def _build_image(spec: Spec, files: dict) -> dict:
    """Builds the image from the emitted context (staged in a temporary folder); returns the
    lock's image fields, {} when no engine could build it."""
    import tempfile

    from compiler.actions.docker_image import build_image
    from compiler.writer import stage

    with tempfile.TemporaryDirectory(prefix="deployc-image-") as tmp:
        stage({rel: data for rel, data in files.items() if rel.startswith("image/")}, Path(tmp))
        return build_image(Path(tmp) / "image", spec)


def _write_build_log(out: Path, target: str, events: list[PassEvent]) -> None:
    """Timings and cache hits vary per run, so they live beside the tree, not in it."""
    log_dir = out / ".deployc"
    log_dir.mkdir(parents=True, exist_ok=True)
    data = [{"pass": e.name, "seconds": round(e.seconds, 3), "cached": e.cached, "detail": e.detail} for e in events]
    (log_dir / f"{target}.build.json").write_bytes(dumps(data))


def build_engine(spec: Spec, out: Path, probe: Callable[[], bool] | None = None) -> tuple[Path, dict]:
    """serve.engine vllm: the engine loads the Hugging Face folder itself, so no pass runs and
    nothing is selected; the plan's emitters write the image context, manifests and rules, and
    capacity.json records the capacity plan they were made from. Returns (target dir, lock)."""
    the_plan = host_plan(spec, probe)
    engine = the_plan.engine_plan
    ctx = EmitContext(spec, None, None, engine=engine)
    files: dict = {}
    for step in the_plan.emitters:
        if step.run and step.name.startswith("vllm-"):
            files.update(emitter(step.name).emit(ctx))
    files["capacity.json"] = dumps({**asdict(engine), "plan": [s.row() for s in (*the_plan.passes, *the_plan.emitters)]})
    target_dir = Path(out) / spec.target.name
    meta = {"deployc": __version__, "target": spec.target.name, "engine": spec.serve.engine,
            "spec": {"name": spec.name, "version": spec.version, "digest": sha256_json(spec.resolved)}}
    return target_dir, write_tree(target_dir, files, meta)
