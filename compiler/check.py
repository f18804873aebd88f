"""`deployc build SPEC --check -o OUT`: is the committed OUT what the spec builds now?

The build runs into a temporary staging folder (never into OUT, which is only read), then the
staged trees are compared with the committed ones file by file. Byte equality is the rule,
with one exception that CI needs: latency is measured on the build host, so a CI runner's
numbers differ from the developer's. report.json is therefore compared without its
host-dependent fields (latency numbers, the measurement note, the selection reason), and the
files derived from it (report.md, the lock's entries for the reports, sweep.md/csv/png) are
compared byte for byte only when the two report.json files are identical. Everything else
(models, manifests, rules, image context) must match exactly. A spec whose selection depends
on timing (optimize.select: fastest on a measured target) may pick another artifact on another
host; commit outputs built with `smallest` or `most-accurate` when CI checks them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from compiler.diff.trees import LOCK, files_of
from compiler.digest import sha256_file
from compiler.report_model import Report, ReportFormatError

REPORT, REPORT_MD = "report.json", "report.md"
SWEEP_FILES = ("sweep.md", "sweep.csv", "sweep.png")


@dataclass(frozen=True)
class CheckResult:
    stale: list[str]  # paths (relative to OUT) that differ, are missing, or are extra
    diff_markdown: str
    exit_code: int  # 0 up to date, 1 stale or a job failed, 2 bad spec
    message: str


def check(spec_path: Path, overrides: list[str], out: Path, *, multirun: bool = False, jobs: int | None = None,
          build_image: bool | None = None, cache_enabled: bool = True, echo: bool = False) -> CheckResult:
    staging = Path(tempfile.mkdtemp(prefix="deployc-check-"))
    try:
        built = _build(spec_path, overrides, staging, multirun, jobs, build_image, cache_enabled, echo)
        if built.failed:
            return CheckResult([], "", built.exit_code, "the build failed, so OUT cannot be checked:\n" + built.failed)
        stale = compare(out, staging, built.trees, built.loose)
        if not stale:
            return CheckResult([], "", 0, f"{out} is up to date with {Path(spec_path).name}")
        return CheckResult(stale, _diff(out, staging, built.trees), 1,
                           f"{out} is stale: {len(stale)} file(s) differ from what {Path(spec_path).name} builds; "
                           "rebuild and commit it")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass(frozen=True)
class _Built:
    trees: list[str]  # tree folders relative to the staging root
    loose: tuple[str, ...]  # report files beside the trees
    failed: str
    exit_code: int


def _build(spec_path, overrides, staging, multirun, jobs, build_image, cache_enabled, echo) -> _Built:
    from compiler.build import build
    from compiler.frontend import load_spec
    from compiler.passes.cache import Cache

    if not multirun:
        spec = load_spec(spec_path, overrides)
        build(spec, staging, Cache(enabled=cache_enabled), build_image=build_image)
        return _Built([spec.target.name], (), "", 0)
    from compiler.sweep import run_sweep

    result = run_sweep(spec_path, overrides, staging, jobs=jobs, build_image=build_image,
                       cache_enabled=cache_enabled, echo=echo)
    failed = "\n".join(f"  {job.label}: {o.error}" for job, o in result.failed)
    return _Built([j.folder for j in result.jobs if not j.error], SWEEP_FILES, failed, result.exit_code)


def compare(committed: Path, fresh: Path, trees: list[str], loose: tuple[str, ...] = ()) -> list[str]:
    """Relative paths under OUT that are not what a fresh build produced."""
    stale: list[str] = []
    all_reports_identical = True
    for name in trees:
        tree_stale, identical = compare_tree(committed / name, fresh / name)
        stale += [f"{name}/{rel}" for rel in tree_stale]
        all_reports_identical &= identical
    for rel in loose if all_reports_identical else ():
        a, b = committed / rel, fresh / rel
        if not (a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()):
            stale.append(rel)
    return stale


def compare_tree(committed: Path, fresh: Path) -> tuple[list[str], bool]:
    """(stale paths, whether the two report.json files are byte-identical)."""
    old, new = files_of(committed if committed.is_dir() else None), files_of(fresh)
    identical = _same(old.get(REPORT), new.get(REPORT))
    stale = []
    for rel in sorted(set(old) | set(new)):
        a, b = old.get(rel), new.get(rel)
        if a is None or b is None:
            stale.append(rel)
        elif rel == REPORT:
            if not identical and not _same_but_host(a, b):
                stale.append(rel)
        elif rel == REPORT_MD:
            if identical and not _same(a, b):
                stale.append(rel)
        elif rel == LOCK:
            if _lock(a, strict=identical) != _lock(b, strict=identical):
                stale.append(rel)
        elif not _same(a, b):
            stale.append(rel)
    return stale, identical


def portable(report: Report | None) -> Report | None:
    """The report without what depends on the host that measured it: latency (and which of its
    cells were NaN or Inf), the measurement note, and the selection's wording (it quotes a p50)."""
    if report is None:
        return None
    candidates = tuple(replace(c, latency=(), non_finite={k: v for k, v in c.non_finite.items()
                                                          if not k.startswith("latency.")})
                       for c in report.candidates)
    return replace(report, latency_note="", measured=False, candidates=candidates,
                   baseline=replace(report.baseline, latency=()) if report.baseline else None,
                   selected=replace(report.selected, reason=""))


def _same_but_host(committed: Path, fresh: Path) -> bool:
    old = portable(_report(committed))
    return old is not None and old == portable(_report(fresh))


def _report(path: Path) -> Report | None:
    """None for a report.json this deployc would not write: it is stale, whatever it says."""
    data = _json(path)
    try:
        return None if data is None else Report.from_json_dict(data, str(path))
    except ReportFormatError:
        return None


def _lock(path: Path, strict: bool) -> dict | None:
    data = _json(path)
    if data is None or strict or not isinstance(data.get("files"), dict):
        return data
    data["files"] = {k: v for k, v in data["files"].items() if k not in (REPORT, REPORT_MD)}
    return data


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _same(a: Path | None, b: Path | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.stat().st_size == b.stat().st_size and sha256_file(a) == sha256_file(b)


def _diff(committed: Path, fresh: Path, trees: list[str]) -> str:
    from compiler.diff import render
    from compiler.diff.core import Diff, tree_diff

    parts = [tree_diff(name, committed / name if (committed / name).is_dir() else None, fresh / name)
             for name in trees]
    return render(Diff(f"{committed} (committed)", "what the spec builds now", parts, []))
