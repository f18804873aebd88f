"""Expand a multirun command line into jobs, name each job's folder, and check each job's spec.

Expansion is Hydra's own: the overrides are parsed by Hydra's OverridesParser and split into
the cartesian product as Hydra's basic sweeper does (public Override API), so `a=1,2`, `a=range(1,3)`,
`a=choice(x,y)` and `hydra/launcher=joblib` mean what they mean in any Hydra app.

Folder layout (flat, one level under OUT, never a tree inside another tree):
  <OUT>/<target>/                              when only the target varies
  <OUT>/<target>,<key>=<value>[,...]/          other swept keys, sorted by key
In each part, characters outside [A-Za-z0-9._=+-] (commas too) become `_`; two jobs that would share a folder are a
usage error, reported before anything runs.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException, OverrideParseException

from compiler.errors import EXIT_USAGE, DeploycError, SpecError, SpecIssue

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")


@dataclass(frozen=True)
class Job:
    """One combination of the sweep. `overrides` are in the user's syntax, one value each."""

    index: int
    overrides: tuple[str, ...]
    swept: tuple[tuple[str, str], ...]  # (key, value) of every swept key but `target`
    varying: tuple[str, ...] = ()  # the overrides of every swept key, `target` included
    target: str = ""  # the resolved target profile; empty when the spec did not load
    error: str = ""  # why the job cannot run (its spec is wrong), found before launching
    exit_code: int = 0

    @property
    def folder(self) -> str:
        """The job's output folder name under OUT (also the name of its build log)."""
        parts = [self.target or "unknown-target"] + [f"{k}={v}" for k, v in sorted(self.swept)]
        return ",".join(_UNSAFE.sub("_", part) for part in parts)

    @property
    def label(self) -> str:
        """How the job is named in reports: its folder, or its swept overrides when it never loaded."""
        return self.folder if self.target else " ".join(self.varying or self.overrides) or "(no overrides)"


def is_hydra_override(item: str) -> bool:
    """`hydra/launcher=joblib`, `hydra.launcher.n_jobs=2`: for Hydra, not for the spec."""
    key = item.lstrip("+~").split("=", 1)[0]
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def expand(overrides: list[str]) -> list[Job]:
    """The sweep's jobs in Hydra's order (the cartesian product, first key slowest)."""
    parsed = _parse(overrides)
    varying = {_key(o) for o in parsed if o.is_sweep_override()}
    jobs = []
    for index, combo in enumerate(_product(parsed)):
        pairs = tuple((k, v) for k, v in map(_split, combo) if k in varying and k != "target")
        jobs.append(Job(index, tuple(combo), pairs, tuple(i for i in combo if _split(i)[0] in varying)))
    return jobs


def _product(parsed: list[Override]) -> list[list[str]]:
    """Hydra's basic sweep, through Override's public API (BasicSweeper.split_arguments, which does
    the same, is internal): one list per key, the last setting of a key wins, then the product."""
    choices: dict[str, list[str]] = {}
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override() and not o.is_discrete_sweep():
            kind = o.value_type.name.lower().replace("_", " ")  # e.g. "interval sweep"
            raise SpecError(SpecIssue("overrides", f"{key}: an {kind} has no list of values to build; "
                                                   "use a,b,c, range() or choice()"))
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        choices[key] = [f"{key}={v}" for v in values]
    return [list(combo) for combo in itertools.product(*choices.values())]


def _parse(overrides: list[str]) -> list[Override]:
    try:
        return OverridesParser.create().parse_overrides(overrides)
    except (OverrideParseException, HydraException) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(SpecIssue("overrides", f"bad sweep override: {text}")) from None


def _key(override: Override) -> str:
    return override.key_or_group


def _split(item: str) -> tuple[str, str]:
    key, _, value = item.partition("=")
    return key.lstrip("+~"), value


def preflight(spec_path, jobs: list[Job]) -> list[Job]:
    """Load every job's spec (fast: no model) so a bad combination becomes a failed row and
    the folder of every good one is known before any job runs."""
    from compiler.frontend import load_spec

    checked = []
    for job in jobs:
        try:
            spec = load_spec(spec_path, list(job.overrides))
        except DeploycError as exc:
            checked.append(_replace(job, error=str(exc), exit_code=exc.exit_code))
            continue
        checked.append(_replace(job, target=spec.target.name))
    _refuse_shared_folders(checked)
    return checked


def _replace(job: Job, **changes) -> Job:
    from dataclasses import replace

    return replace(job, **changes)


def _refuse_shared_folders(jobs: list[Job]) -> None:
    seen: dict[str, Job] = {}
    for job in jobs:
        if job.error:
            continue
        other = seen.setdefault(job.folder, job)
        if other is not job:
            raise SpecError(SpecIssue("overrides", f"sweep jobs `{' '.join(other.overrides)}` and "
                                          f"`{' '.join(job.overrides)}` would both write {job.folder}/; "
                                          "make the swept values differ in more than punctuation"))


def all_failed(jobs: list[Job]) -> SpecError | None:
    """When no job's spec loads, the spec itself is wrong: one plain error, exit 2."""
    if not jobs or any(not j.error for j in jobs):
        return None
    if any(j.exit_code != EXIT_USAGE for j in jobs):
        return None
    messages = list(dict.fromkeys(j.error for j in jobs))
    return _JobsSpecError(messages[0] if len(messages) == 1 else "\n".join(
        f"[{' '.join(j.overrides)}] {j.error}" for j in jobs))


class _JobsSpecError(SpecError):
    """Carries messages that already name their place (SpecError would prefix `<spec>:`)."""

    def __init__(self, message: str):
        self.issues = []
        DeploycError.__init__(self, message)
