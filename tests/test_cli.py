"""The command line as users run it: fresh processes, exit codes, no tracebacks."""

from __future__ import annotations

import json

from tests.conftest import EXAMPLES, run_cli

DIGITS = str(EXAMPLES / "digits-cnn" / "deploy.yaml")


def test_validate_ok():
    r = run_cli("validate", DIGITS)
    assert r.returncode == 0 and "valid (digits-cnn 1.0.0 for cpu-x86)" in r.stdout


def test_validate_bad_spec_exits_2_with_path_and_no_traceback(tmp_path):
    bad = tmp_path / "deploy.yaml"
    bad.write_text((EXAMPLES / "digits-cnn" / "deploy.yaml").read_text().replace("max: 6", "max: six"))
    r = run_cli("validate", str(bad))
    assert r.returncode == 2
    assert "serve.replicas.max (deploy.yaml:" in r.stderr and "must be of integer type" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_debug_env_shows_traceback(tmp_path):
    r = run_cli("validate", str(tmp_path / "missing.yaml"), env={"DEPLOYC_DEBUG": "1"})
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_validate_does_not_import_torch():
    r = run_cli("validate", DIGITS, env={"PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0
    code = "import sys; from compiler.cli import app; from compiler.frontend import load_spec; " \
           f"load_spec({DIGITS!r}); print('torch' in sys.modules)"
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_usage_error_exits_2():
    r = run_cli("build")
    assert r.returncode == 2


def test_targets_lists_profiles():
    r = run_cli("targets")
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert {"cpu-x86", "cpu-arm64", "nvidia-t4", "nvidia-a100", "nvidia-h100", "jetson-orin", "android-arm64"} <= set(names)


def test_schema_is_json_schema():
    schema = json.loads(run_cli("schema").stdout)
    assert schema["properties"]["model"]["required"] == ["inputs", "outputs"]


def test_explain_shows_plan_and_reasons():
    r = run_cli("explain", DIGITS, "target=nvidia-a100")
    assert r.returncode == 0
    assert "fp16" in r.stdout and "tensorrt" in r.stdout
    assert "not measured on this host" in r.stdout
