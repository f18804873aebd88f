"""Writes a sweep's files: sweep.md, sweep.csv, sweep.png and the run log .deployc/sweep.json.

Apart from run.py (which launches the jobs) and report.py / plot.py (which render the rows), so
the three import one way only: run -> output -> report, plot (docs/architecture.md, "Layering")."""

from __future__ import annotations

import os
from pathlib import Path

from compiler.serialize import dumps
from compiler.sweep.plot import png
from compiler.sweep.report import csv_text, markdown, rows


def write_reports(result) -> None:
    table = rows(result)
    _write(result.out / "sweep.md", markdown(result, table).encode())
    _write(result.out / "sweep.csv", csv_text(table).encode())
    _write(result.out / "sweep.png", png(table))
    _write(result.out / ".deployc" / "sweep.json", sweep_log(result))


def _write(path: Path, data: bytes) -> None:
    """Write beside, then rename: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def sweep_log(result) -> bytes:
    """Run-specific facts (launcher, times, processes, cache hits): beside the trees, not in them."""
    rows = []
    for job, o in zip(result.jobs, result.outcomes):
        t = o.times
        rows.append({"folder": job.folder, "overrides": list(job.overrides), "ok": o.ok, "error": o.error,
                     "started": t.started if t else None, "finished": t.finished if t else None,
                     "pid": t.pid if t else None, "passes_run": sum(not e["cached"] for e in o.events),
                     "passes_cached": sum(e["cached"] for e in o.events)})
    return dumps({"launcher": result.launcher, "jobs": rows})
