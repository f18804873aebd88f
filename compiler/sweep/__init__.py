"""Multirun builds: one spec across targets (and any other keys) through Hydra's launcher."""

from compiler.sweep.run import SweepResult, run_sweep

__all__ = ["SweepResult", "run_sweep"]
