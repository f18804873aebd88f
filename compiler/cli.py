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
def validate(spec: Path = SpecArg, overrides: Optional[List[str]] = Overrides) -> None:
    """Check the spec against the schemas and rules (fast; no model is loaded)."""
    from compiler.frontend import load_spec

    s = load_spec(spec, overrides or [])
    console.print(f"{spec}: valid ({s.name} {s.version} for {s.target.name})")


@app.command()
@guarded
def explain(spec: Path = SpecArg, overrides: Optional[List[str]] = Overrides) -> None:
    """Show the resolved spec and the plan: which passes and emitters run, and why."""
    import yaml

    from compiler.frontend import load_spec
    from compiler.planner import plan

    s = load_spec(spec, overrides or [])
    console.print(yaml.safe_dump(s.resolved, sort_keys=True), end="", markup=False)
    p = plan(s)
    table = Table(title=f"plan for {s.target.name}")
    for col in ("step", "kind", "runs", "why"):
        table.add_column(col)
    for kind, steps in (("pass", p.passes), ("emitter", p.emitters)):
        for step in steps:
            table.add_row(step.name, kind, "yes" if step.run else "no", step.reason)
    console.print(table)
    console.print(f"latency: {p.measure_note}", markup=False)


@app.command()
def targets() -> None:
    """List the hardware target profiles."""
    import yaml

    from compiler.resources import target_names, targets_dir

    for name in target_names():
        data = yaml.safe_load((targets_dir() / f"{name}.yaml").read_text())
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
) -> None:
    """Build the spec: verified model artifacts, image context, manifests, rules, report."""
    from compiler.build import build as run_build
    from compiler.frontend import load_spec
    from compiler.passes.cache import Cache
    from compiler.progress import Progress

    s = load_spec(spec, overrides or [])
    with Progress(console) as progress:
        result = run_build(s, out, Cache(enabled=not no_cache), progress.event, image)
    progress.summary(result)


@app.command()
@guarded
def serve(
    tree: Path = typer.Argument(..., help="a built target folder, e.g. out/cpu-x86"),
    host: str = typer.Option("127.0.0.1", help="address to bind (loopback by default)"),
    port: int = typer.Option(8080, help="Open Inference Protocol v2 port"),
    metrics_port: Optional[int] = typer.Option(None, help="also serve /metrics on this port"),
) -> None:
    """Serve a built tree locally with the runtime (no Docker needed)."""
    from compiler.errors import SpecError, SpecIssue
    from compiler.runtime.server import serve as run_server

    root = next((tree / d for d in ("image", "bundle") if (tree / d / "runtime.json").is_file()), None)
    if root is None:
        raise SpecError(SpecIssue("TREE", f"{tree} has no image/runtime.json or bundle/runtime.json; "
                                          "run `deployc build` first"))
    err.print(f"serving {root} on http://{host}:{port}/v2", markup=False)
    run_server(root, host, port, metrics_port)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
