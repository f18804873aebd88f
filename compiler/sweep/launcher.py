"""Run sweep jobs through a Hydra launcher, without `@hydra.main`.

`@hydra.main` would own the process (argv parsing, chdir, outputs/ folders). Instead this
does what Hydra's BasicSweeper does after expanding the overrides: compose the primary config
in MULTIRUN mode with Hydra's compose machinery, build a HydraContext, instantiate the
launcher named by `hydra/launcher` (basic by default; joblib, ray, submitit when their plugins
are installed) through `Plugins.instantiate_launcher`, and call `launcher.launch(jobs)`.
Each job runs in Hydra's `run_job` (with the job's own composed config and HydraConfig) and
calls the normal per-target build.

Hydra must not touch the user's tree: `hydra.job.chdir=False`, `hydra.output_subdir=null`
(no .hydra/), logging left alone (no .log files), and `hydra.sweep.dir`/`hydra.run.dir`
point at a temp folder that is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from compiler.errors import SpecError, SpecIssue

# Hydra settings every sweep forces, after the user's own hydra overrides (last one wins).
HYDRA_FIXED = ("hydra.job.chdir=False", "hydra.output_subdir=null",
               "hydra/job_logging=none", "hydra/hydra_logging=none")


@dataclass(frozen=True)
class LaunchResult:
    launcher: str  # the class Hydra instantiated, e.g. BasicLauncher, JoblibLauncher
    returns: list[Any]  # what each job's task returned, in job order


def normalize(spec_path: Path, overrides: Sequence[str]) -> list[str]:
    """The overrides exactly as load_spec hands them to Hydra (`a.b=c` -> `++a.b=c`, ...), so
    the launcher composes each job the way a single build would."""
    # The front end's own helpers, so a sweep job and `deployc build` never disagree.
    from compiler.frontend.compose import normalize_overrides, read_yaml

    return normalize_overrides(read_yaml(spec_path), list(overrides))


def launch(spec_path: Path, jobs: list[list[str]], hydra_overrides: Sequence[str],
           task: Callable[[Any], Any]) -> LaunchResult:
    """Run `task(cfg)` once per job through the configured Hydra launcher."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException

    from compiler.frontend.compose import register_targets
    from compiler.sweep.hydra_internal import hydra_context

    spec_path = Path(spec_path).resolve()
    register_targets()
    scratch = tempfile.mkdtemp(prefix="deployc-hydra-")
    overrides = [*hydra_overrides, *HYDRA_FIXED, f"hydra.sweep.dir={scratch}", f"hydra.run.dir={scratch}",
                 *normalize(spec_path, [])]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(spec_path.parent), version_base="1.3", job_name="deployc"):
            gh = GlobalHydra.instance().hydra
            cfg = gh.compose_config(spec_path.stem, overrides, run_mode=RunMode.MULTIRUN)
            context = hydra_context(gh.config_loader, cfg)
            launcher = Plugins.instance().instantiate_launcher(hydra_context=context, task_function=task, config=cfg)
            returns = launcher.launch([list(j) for j in jobs], initial_job_idx=0)
    except (HydraException, OmegaConfBaseException) as exc:
        raise SpecError(SpecIssue("hydra", _first_line(exc))) from None
    finally:
        GlobalHydra.instance().clear()
        shutil.rmtree(scratch, ignore_errors=True)
    return LaunchResult(type(launcher).__name__, [r.return_value for r in returns])


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def job_number() -> int:
    """Inside a task: this job's index in the list given to `launch` (set by the launcher)."""
    from hydra.core.hydra_config import HydraConfig

    return int(HydraConfig.get().job.num)


def job_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task)


@dataclass
class JobTimes:
    """Wall-clock start/end and process of a job: run-specific, kept out of the trees."""

    started: float = field(default_factory=time.time)
    finished: float = 0.0
    pid: int = field(default_factory=os.getpid)

    def stop(self) -> "JobTimes":
        self.finished = time.time()
        return self
