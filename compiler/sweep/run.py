"""A multirun build: expand -> check each job's spec -> launch through Hydra -> report.

Every job shares one pass cache (content-addressed, safe for concurrent writers), so a model
that several targets export identically is exported by the first job and read by the rest.
A failing job never stops the others: its row in the sweep report says why, and the exit
code is the worst one (1: a gate or pass failed, 2: a job's spec is wrong).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from compiler.errors import EXIT_FAILED, DeploycError, SpecError
from compiler.report_model import Report
from compiler.sweep.jobs import Job, all_failed, expand, is_hydra_override, preflight
from compiler.sweep.launcher import JobTimes, job_number, job_overrides, launch, normalize

STAGING = "jobs"  # under <OUT>/.deployc/: where jobs with extra swept keys build before the move


@dataclass
class JobOutcome:
    folder: str
    ok: bool
    exit_code: int = 0
    error: str = ""
    report: Report | None = None  # the job's report.json, typed
    events: list[dict] = field(default_factory=list)  # pass, seconds, cached (the build log)
    times: JobTimes | None = None
    engine: dict | None = None  # serve.engine vllm: the job's capacity.json (it has no report)


@dataclass
class SweepResult:
    out: Path
    spec_file: str  # the spec's file name, for the report (never an absolute path)
    overrides: list[str]
    jobs: list[Job]
    outcomes: list[JobOutcome]
    launcher: str

    @property
    def failed(self) -> list[tuple[Job, JobOutcome]]:
        return [(j, o) for j, o in zip(self.jobs, self.outcomes) if not o.ok]

    @property
    def exit_code(self) -> int:
        return max((o.exit_code or EXIT_FAILED for _, o in self.failed), default=0)


@dataclass(frozen=True)
class BuildTask:
    """The Hydra task function of a sweep: one normal per-target build. A plain picklable
    object so process-based launchers (joblib's loky, submitit, ray) can ship it."""

    spec_path: str
    out: str
    cache_root: str
    cache_enabled: bool
    build_image: bool | None
    jobs: tuple[Job, ...]
    launched: tuple[tuple[str, ...], ...]  # the overrides handed to the launcher, per job
    echo: bool = True

    def __call__(self, cfg) -> JobOutcome:
        times = JobTimes()
        job = self.jobs[job_number()]
        outcome = JobOutcome(job.folder, ok=False)
        try:
            if tuple(job_overrides()) != self.launched[job_number()]:
                raise DeploycError(f"the launcher ran {job_overrides()} for job {job.folder}")
            outcome = self._build(job)
        except DeploycError as exc:
            outcome.exit_code, outcome.error = exc.exit_code, str(exc)
        except Exception as exc:  # noqa: BLE001 (one job's bug must not lose the others' results)
            outcome.exit_code, outcome.error = EXIT_FAILED, f"{type(exc).__name__}: {exc}"
        outcome.times = times.stop()
        self._say(job, "done" if outcome.ok else f"FAILED: {outcome.error.splitlines()[0]}")
        return outcome

    def _build(self, job: Job) -> JobOutcome:
        from compiler.build import build
        from compiler.frontend import load_spec
        from compiler.passes.cache import Cache

        spec = load_spec(self.spec_path, list(job.overrides))
        out = Path(self.out)
        staged = job.folder != spec.target.name
        root = out / ".deployc" / STAGING / job.folder if staged else out
        cache = Cache(Path(self.cache_root), enabled=self.cache_enabled)
        try:
            if spec.serve.engine == "vllm":  # no pass, no selection: the plan's vLLM outputs
                from compiler.build import build_engine

                target_dir, _ = build_engine(spec, root)
                engine = json.loads((target_dir / "capacity.json").read_text(encoding="utf-8"))
            else:
                result = build(spec, root, cache, lambda e: self._event(job, e), self.build_image)
            if staged:
                _place(root, spec.target.name, out, job.folder)
        finally:
            if staged:
                shutil.rmtree(root, ignore_errors=True)
        if spec.serve.engine == "vllm":
            return JobOutcome(job.folder, ok=True, engine=engine)
        events = [{"pass": e.name, "seconds": round(e.seconds, 3), "cached": e.cached} for e in result.events]
        return JobOutcome(job.folder, ok=True, report=result.report, events=events)

    def _event(self, job: Job, e) -> None:
        self._say(job, f"{e.name:40} {'cached' if e.cached else f'{e.seconds:.2f}s'}")

    def _say(self, job: Job, text: str) -> None:
        if self.echo:
            print(f"[{job.folder}] {text}", flush=True)


def _place(staging_root: Path, target: str, out: Path, folder: str) -> None:
    """Move a staged tree to <out>/<folder> (a rename: same file system) and its build log
    beside the others; the previous tree is swapped out, never half-replaced."""
    _swap(staging_root / target, out / folder)
    log = staging_root / ".deployc" / f"{target}.build.json"
    if log.is_file():
        log.replace(out / ".deployc" / f"{folder}.build.json")
    shutil.rmtree(staging_root, ignore_errors=True)


def _swap(src: Path, dest: Path) -> None:
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.replace(old)
    src.replace(dest)
    shutil.rmtree(old, ignore_errors=True)


def run_sweep(spec_path: Path, overrides: list[str], out: Path, *, jobs: int | None = None,
              build_image: bool | None = None, cache_enabled: bool = True, echo: bool = True,
              on_plan: Callable[[list[Job]], None] = lambda jobs: None) -> SweepResult:
    from compiler.passes.cache import Cache
    from compiler.sweep.output import write_reports

    spec_path, out = Path(spec_path).resolve(), Path(out).resolve()
    hydra = [o for o in overrides if is_hydra_override(o)] + _parallel(jobs)
    planned = preflight(spec_path, expand([o for o in overrides if not is_hydra_override(o)]))
    if (error := all_failed(planned)) is not None:
        raise error
    on_plan(planned)
    runnable = [j for j in planned if not j.error]
    launched = tuple(tuple(normalize(spec_path, j.overrides)) for j in runnable)
    task = BuildTask(str(spec_path), str(out), str(Cache().root), cache_enabled, build_image,
                     tuple(runnable), launched, echo)
    (out / ".deployc").mkdir(parents=True, exist_ok=True)
    ran = launch(spec_path, [list(x) for x in launched], hydra, task)
    by_index = {j.index: o for j, o in zip(runnable, ran.returns)}
    outcomes = [by_index.get(j.index) or JobOutcome(j.folder, False, j.exit_code, j.error) for j in planned]
    _tidy(out)
    result = SweepResult(out, spec_path.name, list(overrides), planned, outcomes, ran.launcher)
    write_reports(result)
    return result


def _parallel(jobs: int | None) -> list[str]:
    if jobs is None:
        return []
    if jobs < 1:
        raise SpecError("--jobs must be 1 or more", "--jobs")
    return ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"]


def _tidy(out: Path) -> None:
    staging = out / ".deployc" / STAGING
    if staging.is_dir() and not any(staging.iterdir()):
        staging.rmdir()
