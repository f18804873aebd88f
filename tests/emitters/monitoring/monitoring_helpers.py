"""Shared by the monitoring emitter tests: a hand-built EmitContext per example, promtool."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from compiler.emitters.base import EmitContext
from compiler.emitters.monitoring import MonitoringEmitter, Options
from compiler.frontend import load_spec
from compiler.passes.baseline import compute_baseline
from tests.runtime.helpers import runtime as make_runtime


REPO = Path(__file__).resolve().parents[3]
TESTS = REPO / "tests"
if str(TESTS) not in sys.path:  # for crd_validate, the shared strict CRD validator
    sys.path.insert(0, str(TESTS))

EXAMPLES = ("digits-cnn", "text-encoder")
PROMTOOL = shutil.which("promtool")
NO_PROMTOOL = "promtool not on PATH (Debian package 'prometheus' provides /usr/bin/promtool)"


def calibration(example: str) -> dict:
    if example == "digits-cnn":
        pytest.importorskip("sklearn", reason="digits-cnn's calibration data comes from scikit-learn")
    path = REPO / "examples" / example / "data.py"
    module_spec = importlib.util.spec_from_file_location(f"_data_{example.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.calibration()


def context(example: str, overrides: list[str] | tuple[str, ...] = (), drift: bool = True) -> EmitContext:
    spec = load_spec(REPO / "examples" / example / "deploy.yaml", list(overrides))
    baseline = compute_baseline(calibration(example), spec.monitoring.drift.buckets) if drift else {}
    runtime = make_runtime(model_name=spec.name, model_version=spec.version, artifact="model.onnx",
                            backend="onnxruntime", inputs=[], outputs=[], drift=baseline)
    return EmitContext(spec=spec, selected=None, runtime=runtime)


def emit(example: str, overrides=(), options: Options | None = None, drift: bool = True) -> dict[str, bytes]:
    return MonitoringEmitter(options).emit(context(example, overrides, drift))


def write(files: dict[str, bytes], root: Path) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root / "monitoring"


def load(files: dict[str, bytes], name: str):
    return yaml.safe_load(files[f"monitoring/{name}"])


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    if PROMTOOL is None:
        pytest.skip(NO_PROMTOOL)
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
