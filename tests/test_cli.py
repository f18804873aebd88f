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


def test_usage_error_exits_2_and_names_what_is_missing():
    """Exit 2 alone is the CLI library's; the message must name the missing argument, untraced."""
    r = run_cli("build")
    assert r.returncode == 2
    assert "Missing argument" in r.stderr and "SPEC" in r.stderr.upper() and "Traceback" not in r.stderr
    r = run_cli("explain", DIGITS, "--no-such-flag")
    assert r.returncode == 2 and "--no-such-flag" in r.stderr and "Traceback" not in r.stderr


def test_targets_lists_profiles():
    r = run_cli("targets")
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert {"cpu-x86", "cpu-arm64", "nvidia-t4", "nvidia-a100", "nvidia-h100", "jetson-orin", "android-arm64"} <= set(names)


def test_schema_is_json_schema_that_every_example_meets():
    """Editors validate specs with it: it must be a valid JSON Schema, accept every example, and
    refuse what the spec schema refuses (an unknown key, an empty path)."""
    import jsonschema
    import yaml

    schema = json.loads(run_cli("schema").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for spec in sorted(EXAMPLES.glob("*/deploy.yaml")):
        doc = {k: v for k, v in yaml.safe_load(spec.read_text()).items() if k != "defaults"}
        doc.setdefault("target", {})
        assert [e.message for e in validator.iter_errors(doc)] == [], spec
    assert not validator.is_valid({**doc, "modle": {}})
    assert not validator.is_valid({**doc, "model": {**doc["model"], "weights": ""}})


def test_explain_shows_each_steps_decision_config_and_reason():
    """Which steps run, what they make, and why: fp16 runs on an A100, TensorRT does not build here."""
    plan = json.loads(run_cli("explain", "--json", DIGITS, "target=nvidia-a100").stdout)
    steps = {s["name"]: s for s in plan["passes"]}
    assert steps["fp16"]["run"] and steps["fp16"]["config"]["candidate"] == "onnx-fp16"
    assert not steps["tensorrt"]["run"] and "first load" in steps["tensorrt"]["reason"]
    assert steps["tensorrt"]["config"]["profile"]["max"] == {"pixels": [32, 1, 8, 8]}
    assert not steps["int8-dynamic"]["run"] and "does not run int8-dynamic" in steps["int8-dynamic"]["reason"]
    assert plan["target_engine"]["precision"] == "fp16" and not plan["measured"]
    r = run_cli("explain", DIGITS, "target=nvidia-a100")
    assert r.returncode == 0 and "onnx-fp16 (fp16" in r.stdout and "not measured on this host" in r.stdout


def test_explain_and_build_agree_on_a_gpu_target(cli, tmp_path):
    """`explain` prints the plan `build` runs: the same rows as the build's report.json."""
    planned = json.loads(cli("explain", "--json", DIGITS, "target=nvidia-h100", "optimize.select=smallest").stdout)
    r = cli("build", DIGITS, "target=nvidia-h100", "optimize.select=smallest", "-o", str(tmp_path), "--no-image")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "nvidia-h100" / "report.json").read_text())
    rows = {k: [{f: s[f] for f in ("name", "run", "reason")} for s in planned[k]] for k in ("passes", "emitters")}
    assert report["plan"] == rows
    made = {c["candidate"] for c in report["candidates"]}
    assert made == {s["config"]["candidate"] for s in planned["passes"] if s["run"]}


# ---- hostile and wrong specs (issue 11, item 7): exit 2, key path, file:line, no traceback ----

def _spec_dir(tmp_path, replace: tuple[str, str] | None = None):
    from tests.frontend.test_load import write_spec

    text = (EXAMPLES / "digits-cnn" / "deploy.yaml").read_text()
    if replace:
        assert replace[0] in text
        text = text.replace(*replace, 1)
    return write_spec(tmp_path, text)


def _refused(r, *words):
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    text = " ".join(r.stderr.split())  # the console wraps long lines
    for word in words:
        assert word in text, r.stderr


def test_alias_bomb_fails_fast_in_validate_and_build(tmp_path):
    import time

    from tests.frontend.test_hostile import BOMB

    spec = _spec_dir(tmp_path, ("  - _self_", "  - _self_\n  - base"))
    (tmp_path / "base.yaml").write_text(BOMB)
    for args in (("validate", str(spec)), ("build", str(spec), "-o", str(tmp_path / "out"))):
        start = time.monotonic()
        r = run_cli(*args, timeout=60)
        assert time.monotonic() - start < 15  # the process start and imports; the check itself is ms
        _refused(r, "base.yaml:", "alias")
    assert not (tmp_path / "out").exists()


def test_host_environment_resolver_is_refused(tmp_path):
    spec = _spec_dir(tmp_path, ("description: Handwritten", 'description: "${oc.env:HOME}" # Handwritten'))
    _refused(run_cli("validate", str(spec)), "description (deploy.yaml:", "oc.env")
    _refused(run_cli("validate", DIGITS, "serve.annotations.home=${oc.env:HOME}"), "serve.annotations.home", "oc.env")


def test_unresolvable_interpolation_prints_the_cause(tmp_path):
    spec = _spec_dir(tmp_path, ("  - target: cpu-x86", "  - target: ${nope.missing}"))
    r = run_cli("validate", str(spec))
    _refused(r, "defaults", "nope.missing")
    assert "ConfigCompositionException" not in r.stderr


def test_nan_inf_and_null_are_refused():
    _refused(run_cli("validate", DIGITS, "optimize.gates.min_cosine=nan"),
             "optimize.gates.min_cosine (deploy.yaml:", "finite")
    _refused(run_cli("validate", DIGITS, "monitoring.drift.threshold=inf"),
             "monitoring.drift.threshold (deploy.yaml:", "finite")
    _refused(run_cli("validate", DIGITS, "serve.batching=null"), "serve.batching (deploy.yaml:", "null")


def test_monitoring_label_value_fails_validate():
    _refused(run_cli("validate", DIGITS, "monitoring.labels.team='two words'"),
             "monitoring.labels.team (deploy.yaml:", "label value")


def test_files_outside_the_spec_folder_need_allow_path(tmp_path):
    inner = tmp_path / "spec"
    inner.mkdir()
    spec = _spec_dir(inner)
    (tmp_path / "w.safetensors").write_bytes((inner / "weights.safetensors").read_bytes())
    _refused(run_cli("validate", str(spec), "model.weights=../w.safetensors"),
             "model.weights (deploy.yaml:", "outside the spec's folder")
    r = run_cli("validate", str(spec), "model.weights=../w.safetensors", "--allow-path", str(tmp_path))
    assert r.returncode == 0, r.stderr
    (inner / "weights.txt").write_text("not weights")
    _refused(run_cli("validate", str(spec), "model.weights=weights.txt"), "model.weights (deploy.yaml:", "weights.txt")


def test_edge_calibration_shape_is_checked_before_any_pass(tmp_path):
    import numpy as np

    for f in ("model.py", "data.py"):
        (tmp_path / f).write_bytes((EXAMPLES / "text-encoder" / f).read_bytes())
    np.savez(tmp_path / "calib.npz", input_ids=np.zeros((8, 16), dtype=np.int64))
    text = (EXAMPLES / "text-encoder" / "deploy.yaml").read_text()
    old = "calibration: {factory: data.py:calibration, samples: 128}"
    assert old in text
    (tmp_path / "deploy.yaml").write_text(text.replace(old, "calibration: {npz: calib.npz}"))
    r = run_cli("build", str(tmp_path / "deploy.yaml"), "target=android-arm64", "optimize.quantize=int8-static",
                "-o", str(tmp_path / "out"), timeout=120)
    _refused(r, "model.calibration (deploy.yaml:", "optimize.edge.fixed_dims")
    assert not (tmp_path / "out").exists()
