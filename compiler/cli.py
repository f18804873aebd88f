"""The `deployc` command line. Exit codes: 0 built, 1 a pass or gate failed, 2 bad spec or usage."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from compiler.errors import EXIT_USAGE, DeploycError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="deployc: a declarative deploy compiler for ML models.")
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

SpecArg = typer.Argument(..., help="the deploy spec (YAML)", show_default=False)
Overrides = typer.Argument(None, help="Hydra overrides, e.g. target=nvidia-a100 serve.replicas.max=8")
AllowPath = typer.Option(None, "--allow-path", metavar="DIR", help="let the spec name files in DIR (repeatable); "
                         "by default a spec may only name files in its own folder")


def _allow_paths(dirs: Optional[List[Path]]) -> None:
    """Through the environment, so sweep jobs in other processes get the same permission."""
    from compiler.frontend.files import ALLOW_ENV

    if dirs:
        given = [str(d.resolve()) for d in dirs]
        os.environ[ALLOW_ENV] = os.pathsep.join(filter(None, [os.environ.get(ALLOW_ENV, ""), *given]))


def _fail(exc: DeploycError) -> None:
    err.print(f"[bold red]error[/]: {exc}" if err.is_terminal else f"error: {exc}", markup=err.is_terminal)
    raise typer.Exit(exc.exit_code)


def guarded(func):
    """User errors become a message and an exit code; DEPLOYC_DEBUG=1 shows the traceback."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DeploycError as exc:
            if os.environ.get("DEPLOYC_DEBUG") == "1":
                raise
            _fail(exc)
    return wrapper


@app.command()
@guarded
def validate(spec: Path = SpecArg, overrides: Optional[List[str]] = Overrides,
             allow_path: Optional[List[Path]] = AllowPath) -> None:
    """Check the spec against the schemas and rules (fast; no model is loaded)."""
    from compiler.frontend import load_spec

    _allow_paths(allow_path)
    s = load_spec(spec, overrides or [])
    console.print(f"{spec}: valid ({s.name} {s.version} for {s.target.name})")


@app.command()
@guarded
def explain(spec: Path = SpecArg, overrides: Optional[List[str]] = Overrides,
            allow_path: Optional[List[Path]] = AllowPath,
            as_json: bool = typer.Option(False, "--json", help="print the plan as JSON (no resolved spec)")) -> None:
    """Show the resolved spec and the plan `build` runs on this host: each step, why, and its config."""
    import yaml

    _allow_paths(allow_path)
    from compiler.frontend import load_spec
    from compiler.planner import host_plan

    s = load_spec(spec, overrides or [])
    p = host_plan(s)  # the same call, and the same GPU probe, as build's
    if as_json:
        console.print(json.dumps(plan_json(p), indent=2, sort_keys=True), markup=False)
        return
    console.print(yaml.safe_dump(s.resolved, sort_keys=True), end="", markup=False)
    table = Table(title=f"plan for {s.target.name} (GPU on this host: {'yes' if p.gpu_on_host else 'no'})")
    for col in ("step", "kind", "runs", "makes", "why"):
        table.add_column(col)
    for kind, steps in (("pass", p.passes), ("emitter", p.emitters)):
        for step in steps:
            table.add_row(step.name, kind, "yes" if step.run else "no", _makes(step.config), step.reason)
    console.print(table)
    console.print(f"latency: {p.measure_note}", markup=False)
    if p.engine_plan is not None:  # serve.engine vllm: the capacity plan's arithmetic
        console.print("capacity:\n  " + "\n  ".join(p.engine_plan.capacity.lines), markup=False)
    if p.notes:  # text-generation: the model's size and a build's rough cost
        console.print("model:\n  " + "\n  ".join(p.notes), markup=False)


def _makes(config) -> str:
    if config is None:
        return ""
    extra = [x for x in (config.backend, config.device if config.device != "cpu" else "", config.variant) if x]
    return f"{config.candidate} ({config.precision}; {', '.join(extra)})"


def plan_json(p) -> dict:
    """The plan as plain data: report.json's rows (name, run, reason), plus each pass step's config."""
    from dataclasses import asdict

    def step(s) -> dict:
        return {**s.row(), "config": asdict(s.config) if s.config else None}
    return {"target": p.target, "gpu_on_host": p.gpu_on_host, "measured": p.measure, "latency_note": p.measure_note,
            "passes": [step(s) for s in p.passes], "emitters": [step(s) for s in p.emitters],
            "target_engine": asdict(p.target_engine) if p.target_engine else None,
            **({"engine_plan": asdict(p.engine_plan)} if p.engine_plan else {})}


@app.command()
@guarded
def targets() -> None:
    """List the hardware target profiles."""
    from compiler.frontend.yamlsafe import read_yaml
    from compiler.resources import target_names, targets_dir

    for name in target_names():
        data = read_yaml(targets_dir() / f"{name}.yaml", "target profile")  # with limits, like the specs
        console.print(f"{name:15} {data['kind']:7} {data['runtime']:12} {data['description']}", markup=False)


@app.command()
def schema() -> None:
    """Print a JSON Schema of the spec (for editors: yaml-language-server)."""
    from compiler.frontend.jsonschema import spec_json_schema

    sys.stdout.write(json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n")


@app.command()
@guarded
def build(
    spec: Path = SpecArg,
    overrides: Optional[List[str]] = Overrides,
    out: Path = typer.Option(Path("out"), "-o", "--out", help="output folder; one subfolder per target"),
    image: Optional[bool] = typer.Option(None, "--image/--no-image", help="build the Docker image (default: image.build)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="ignore the pass cache (results are still stored)"),
    multirun: bool = typer.Option(False, "-m", "--multirun", help="sweep: one job per combination of "
                                  "comma-separated override values, through Hydra's launcher"),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="with -m: run N jobs at once (Hydra's joblib launcher)"),
    check: bool = typer.Option(False, "--check", help="build into a temp folder and exit 1 with the diff "
                               "if OUT is stale; OUT is never modified"),
    allow_path: Optional[List[Path]] = AllowPath,
    locked: Optional[Path] = typer.Option(None, "--locked", metavar="LOCK", help="model.source mlflow: build the "
                                          "registry version a previous build recorded (its deployc.lock.json, "
                                          "or its target folder), not what the URI means now"),
) -> None:
    """Build the spec: verified model artifacts, image context, manifests, rules, report."""
    _allow_paths(allow_path)
    _lock_model(locked)
    if multirun or check or jobs is not None:
        raise typer.Exit(_build_sweep_or_check(spec, overrides or [], out, image, no_cache, multirun, jobs, check))
    from compiler.build import build as run_build
    from compiler.frontend import load_spec
    from compiler.passes.cache import Cache
    from compiler.progress import Progress

    s = load_spec(spec, overrides or [])
    if s.serve.engine == "vllm":  # no pass and no selection: vLLM loads the model folder itself
        from compiler.build import build_engine

        target_dir, _ = build_engine(s, out)
        console.print(f"serve.engine vllm: wrote {target_dir} (capacity.json holds the plan)", markup=False)
        return
    with Progress(console) as progress:
        result = run_build(s, out, Cache(enabled=not no_cache), progress.event, image, on_progress=progress.step)
    progress.summary(result)
    if result.model_change:
        err.print(f"note: {result.model_change}", markup=False)


def _lock_model(locked: Optional[Path]) -> None:
    """Through the environment, like --allow-path, so sweep jobs pin the same version."""
    from compiler.errors import SpecError, SpecIssue
    from compiler.frontend.mlflow_source import LOCK_ENV

    if locked is None:
        return
    path = locked / "deployc.lock.json" if locked.is_dir() else locked
    if not path.is_file():
        raise SpecError(SpecIssue("--locked", f"{locked}: no such lock (give a build's deployc.lock.json or its "
                                              "target folder)"))
    os.environ[LOCK_ENV] = str(path.resolve())


def _build_sweep_or_check(spec: Path, overrides: list[str], out: Path, image: Optional[bool], no_cache: bool,
                          multirun: bool, jobs: Optional[int], check: bool) -> int:
    """`build -m` (compiler.sweep) and `build --check` (compiler.check); returns the exit code."""
    from compiler.errors import SpecError

    if jobs is not None and not multirun:
        raise SpecError("--jobs runs sweep jobs in parallel; add -m", "--jobs")
    if check:
        from compiler.check import check as run_check

        result = run_check(spec, overrides, out, multirun=multirun, jobs=jobs, build_image=image,
                           cache_enabled=not no_cache)
        if result.diff_markdown:
            sys.stdout.write(result.diff_markdown)
        (console if result.exit_code == 0 else err).print(result.message, markup=False, soft_wrap=True)
        return result.exit_code
    from compiler.sweep import run_sweep
    from compiler.sweep.summary import print_summary

    result = run_sweep(spec, overrides, out, jobs=jobs, build_image=image, cache_enabled=not no_cache)
    print_summary(console, result)
    return result.exit_code


@app.command()
@guarded
def diff(
    old: Path = typer.Argument(..., help="the old output tree, or a folder of trees (e.g. a sweep's -o)"),
    new: Path = typer.Argument(..., help="the new output tree, or a folder of trees"),
) -> None:
    """Semantic diff of two output trees as Markdown (objects, rules, models); always exits 0."""
    from compiler.diff import diff_paths, render

    sys.stdout.write(render(diff_paths(old, new)))


@app.command()
@guarded
def serve(
    tree: Path = typer.Argument(..., help="a built target folder, e.g. out/cpu-x86"),
    host: str = typer.Option("127.0.0.1", help="address to bind (loopback by default)"),
    port: int = typer.Option(8080, help="Open Inference Protocol v2 port"),
    metrics_port: Optional[int] = typer.Option(None, help="also serve /metrics on this port"),
    grpc_port: Optional[int] = typer.Option(None, help="also serve the protocol over gRPC on this port"),
) -> None:
    """Serve a built tree locally with the runtime (no Docker needed)."""
    from compiler.errors import SpecError, SpecIssue
    from compiler.runtime.server import serve as run_server

    root = next((tree / d for d in ("image", "bundle") if (tree / d / "runtime.json").is_file()), None)
    if root is None:
        raise SpecError(SpecIssue("TREE", f"{tree} has no image/runtime.json or bundle/runtime.json; "
                                          "run `deployc build` first"))
    err.print(f"serving {root} on http://{host}:{port}/v2", markup=False)
    if grpc_port is not None:
        err.print(f"serving gRPC on {host}:{grpc_port}", markup=False)
    run_server(root, host, port, metrics_port, grpc_port)


@app.command()
@guarded
def register(
    tree: Path = typer.Argument(..., help="a built target folder, e.g. out/cpu-x86"),
    name: Optional[str] = typer.Option(None, "--name", help="registered model to add a version to "
                                       "(default: <spec name>-<target>)"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="MLflow tracking server (default: "
                                               "MLFLOW_TRACKING_URI, else the server the model came from)"),
) -> None:
    """Record a build in the MLflow model registry: a version with the artifacts, gates and image links."""
    from compiler.actions.register import register as run_register

    r = run_register(tree, name, tracking_uri)
    state = "registered" if r.created else "already registered"
    console.print(f"{state}: models:/{r.name}/{r.version} (run {r.run_id}) on {r.tracking_uri}", markup=False)


@app.command()
@guarded
def lock(
    upgrade: bool = typer.Option(False, "--upgrade", help="re-resolve every package to the newest version the "
                                 "direct pins allow (default: keep what the locks pin)"),
    python: Optional[List[str]] = typer.Option(None, "--python", help="CPython major.minor (repeatable; default: all)"),
    platform: Optional[List[str]] = typer.Option(None, "--platform", help="e.g. linux/arm64 (repeatable; default: all)"),
) -> None:
    """Maintainers: write the image dependency locks that ship in compiler/locks/ (asks the index)."""
    from compiler.locks import make

    outcomes = make.make_locks(tuple(python or make.PYTHONS), tuple(platform or make.PLATFORMS), upgrade=upgrade)
    for o in outcomes:
        state = "no wheels: " + o.error if o.error else ("updated" if o.changed else "unchanged")
        console.print(f"{o.file:52} {state}", markup=False)
    if all(o.error for o in outcomes):
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
