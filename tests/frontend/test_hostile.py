"""Hostile and wrong specs: each kind is a spec error with its key path (and file:line), found
before any pass runs. The CLI side (exit 2, no traceback, timing) is in tests/test_cli.py."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from compiler.frontend import load_spec
from compiler.frontend.files import ALLOW_ENV
from tests.conftest import EXAMPLES
from tests.frontend.test_load import DIGITS, spec_error, write_spec

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


def digits(tmp_path: Path, old: str = "", new: str = "") -> Path:
    text = DIGITS.read_text()
    assert old in text
    return write_spec(tmp_path, text.replace(old, new, 1) if old else text)


def digits_in(folder: Path) -> Path:
    folder.mkdir()
    return write_spec(folder, DIGITS.read_text())


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# ---- YAML structure ------------------------------------------------------------------------

def test_alias_bomb_in_spec_fails_fast(tmp_path):
    path = write_spec(tmp_path, BOMB)
    start = time.monotonic()
    issue = spec_error(path).issues[0]
    assert time.monotonic() - start < 3
    assert "alias" in issue.message and issue.file == "deploy.yaml" and issue.line is not None


@pytest.mark.parametrize("layout, overrides", [
    ({"base.yaml": BOMB}, []),  # a defaults-list entry next to the spec
    ({"extra/big.yaml": BOMB}, ["+extra=big"]),  # a config group option picked on the command line
    ({"target/mine.yaml": BOMB}, ["target=mine"]),  # the spec folder's own target profile
])
def test_alias_bomb_in_any_file_hydra_loads(tmp_path, layout, overrides):
    path = digits(tmp_path, "  - _self_", "  - _self_\n  - base" if "base.yaml" in layout else "  - _self_")
    for name, text in layout.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    start = time.monotonic()
    issue = spec_error(path, overrides).issues[0]
    assert time.monotonic() - start < 3
    assert "alias" in issue.message and issue.file == Path(next(iter(layout))).name


@pytest.mark.parametrize("text, words", [
    ("a: " + "[" * 200 + "]" * 200 + "\n", "nested deeper"),
    ("a: [" + ", ".join(["*x"] * 100) + "]\nx: &x 1\n".replace("a: [", "x0: &x 1\na: ["), "aliases"),
    ("description: '" + "x" * (2 * 1024 * 1024) + "'\n", "bytes"),
])
def test_yaml_limits(tmp_path, text, words):
    issue = spec_error(write_spec(tmp_path, text)).issues[0]
    assert words in issue.message and issue.file == "deploy.yaml"


# ---- resolvers -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["${oc.env:HOME}", "x-${oc.env:USER,nobody}", "${oc.decode:'1'}",
                                   "${oc.create:{a: 1}}", "${now:%Y}", "${hydra:runtime.cwd}",
                                   "${python_version:}", "${oc.select:name,${oc.env:HOME}}"])
def test_resolvers_that_read_the_host_are_refused(tmp_path, value):
    path = digits(tmp_path, "description: Handwritten", f'description: "{value}" # Handwritten')
    issue = spec_error(path).issues[0]
    assert issue.path == "description" and "not allowed" in issue.message
    assert issue.file == "deploy.yaml" and issue.line == line_of(path, "description:")


def test_resolvers_in_overrides_and_defaults_list_are_refused(tmp_path):
    for override in ("description=${oc.env:HOME}", "target=${oc.env:HOME}", "+x='${oc.env:HOME}'"):
        issue = spec_error(DIGITS, [override]).issues[0]
        assert "oc.env" in issue.message and "command-line override" in issue.message
    path = digits(tmp_path, "  - target: cpu-x86", "  - target: ${oc.env:DEPLOYC_T}")
    issue = spec_error(path).issues[0]
    assert issue.path == "defaults[0].target" and issue.line == line_of(path, "${oc.env")


def test_pure_interpolation_is_allowed(tmp_path):
    path = digits(tmp_path, "description: Handwritten", 'description: "${oc.select:nope,${name}}" # ')
    assert load_spec(path).description == "digits-cnn"


def test_unresolvable_interpolation_names_key_and_cause(tmp_path):
    path = digits(tmp_path, "description: Handwritten", 'description: "${nope.missing}" # ')
    issue = spec_error(path).issues[0]
    assert issue.path == "description" and "nope.missing" in issue.message and issue.file == "deploy.yaml"
    issue = spec_error(digits(tmp_path, "  - target: cpu-x86", "  - target: ${nope.missing}")).issues[0]
    assert issue.path == "defaults" and "nope.missing" in issue.message
    assert "ConfigCompositionException" not in issue.message


# ---- non-finite and null -------------------------------------------------------------------

@pytest.mark.parametrize("override, path, words", [
    ("optimize.gates.min_cosine=nan", "optimize.gates.min_cosine", "finite"),
    ("monitoring.drift.threshold=inf", "monitoring.drift.threshold", "finite"),
    ("serve.request_timeout_s=-inf", "serve.request_timeout_s", "finite"),
    ("optimize.prune.amount=nan", "optimize.prune.amount", "finite"),
    ("target.gates.max_abs_error=nan", "target.gates.max_abs_error", "finite"),
    ("optimize.target_gates.cpu-x86.min_cosine=nan", "optimize.target_gates.cpu-x86.min_cosine", "finite"),
    ("serve=null", "serve", "null"),
    ("serve.batching=null", "serve.batching", "null"),
    ("monitoring.slo=null", "monitoring.slo", "null"),
    ("optimize.gates=null", "optimize.gates", "null"),
    ("model.labels=null", "model.labels", "null"),
    ("target.resources=null", "target.resources", "null"),
])
def test_non_finite_and_null_are_spec_errors(override, path, words):
    issues = spec_error(DIGITS, [override]).issues
    assert any(i.path == path and words in i.message for i in issues), issues


def test_non_finite_in_a_list_in_the_file(tmp_path):
    path = digits(tmp_path, "range: [0.0, 1.0]", "range: [0.0, .inf]")
    issue = spec_error(path).issues[0]
    assert issue.path == "model.inputs[0].range[1]" and "finite" in issue.message and issue.line is not None


def test_nullable_keys_still_take_null():
    spec = load_spec(DIGITS, ["optimize.quantize=int8-dynamic", "model.calibration=null"])
    assert spec.model.calibration is None


# ---- checks that used to run late ----------------------------------------------------------

def test_monitoring_label_value_is_checked_in_validation():
    issue = spec_error(DIGITS, ["monitoring.labels.team='not ok!'"]).issues[0]
    assert issue.path == "monitoring.labels.team" and "label value" in issue.message
    assert issue.file == "deploy.yaml" and issue.line == line_of(DIGITS, "labels: {team")


def test_edge_symbolic_dim_needs_fixed_dims():
    issues = spec_error(EXAMPLES / "text-encoder" / "deploy.yaml", ["target=android-arm64", "~optimize.edge.fixed_dims"]).issues
    assert any(i.path == "optimize.edge.fixed_dims" and "'seq'" in i.message for i in issues), issues


def _encoder_with_npz(tmp_path: Path, seq: int, rows: int = 16) -> Path:
    for f in ("model.py", "data.py", "deploy.yaml"):
        (tmp_path / f).write_bytes((EXAMPLES / "text-encoder" / f).read_bytes())
    np.savez(tmp_path / "calib.npz", input_ids=np.zeros((rows, seq), dtype=np.int64))
    path = tmp_path / "deploy.yaml"
    text = path.read_text()
    assert "calibration: {factory: data.py:calibration, samples: 128}" in text
    path.write_text(text.replace("calibration: {factory: data.py:calibration, samples: 128}", "calibration: {npz: calib.npz}"))
    return path


def test_calibration_that_cannot_fit_the_edge_shapes(tmp_path):
    path = _encoder_with_npz(tmp_path, seq=16)
    overrides = ["target=android-arm64", "optimize.quantize=int8-static"]
    start = time.monotonic()
    issue = spec_error(path, overrides).issues[0]
    assert time.monotonic() - start < 5  # no conversion ran
    assert issue.path == "model.calibration" and "optimize.edge.fixed_dims" in issue.message
    assert "[16]" in issue.message and "[32]" in issue.message and issue.line == line_of(path, "calibration:")
    assert load_spec(path, overrides + ["optimize.edge.fixed_dims.seq=16"])


def test_npz_arrays_against_the_signature(tmp_path):
    path = write_spec(tmp_path, DIGITS.read_text())
    np.savez(tmp_path / "calibration.npz", image=np.zeros((4, 1, 8, 8), dtype=np.float32))
    assert "signature's inputs" in spec_error(path).issues[0].message
    np.savez(tmp_path / "calibration.npz", pixels=np.zeros((4, 1, 7, 8), dtype=np.float32))
    issue = spec_error(path).issues[0]
    assert issue.path == "model.calibration" and "[4, 1, 7, 8]" in issue.message
    np.savez(tmp_path / "holdout.npz", pixels=np.zeros((4, 1, 8, 8), dtype=np.float32), labels=np.zeros(3))
    np.savez(tmp_path / "calibration.npz", pixels=np.zeros((4, 1, 8, 8), dtype=np.float32))
    issue = spec_error(path).issues[0]
    assert issue.path == "model.evaluation" and "labels" in issue.message


# ---- files the spec names ------------------------------------------------------------------

@pytest.mark.parametrize("override, path, words", [
    ("model.weights=../outside.safetensors", "model.weights", "outside the spec's folder"),
    ("model.weights=/etc/hostname", "model.weights", "outside the spec's folder"),
    ("model.factory=../outside.py:build_model", "model.factory", "outside the spec's folder"),
    ("model.calibration.npz=../outside.npz", "model.calibration.npz", "outside the spec's folder"),
    ("model.weights=missing.safetensors", "model.weights", "file not found"),
    ("model.weights=model.py", "model.weights", "weights are a safetensors file"),
    ("model.weights=notes.pt", "model.weights", "not a torch.save file"),
    ("model.weights=fake.safetensors", "model.weights", "not a safetensors file"),
    ("model.weights=folder.safetensors", "model.weights", "not a regular file"),
    ("model.calibration.npz=data.py", "model.calibration.npz", "not a .npz archive"),
    ("model.evaluation.npz=fake.npz", "model.evaluation.npz", "not a .npz archive"),
    ("model.evaluation.npz=zip.npz", "model.evaluation.npz", "not a readable .npz"),
])
def test_named_files(tmp_path, override, path, words):
    spec = digits_in(tmp_path / "spec")
    (tmp_path / "outside.safetensors").write_bytes((EXAMPLES / "digits-cnn" / "weights.safetensors").read_bytes())
    (tmp_path / "spec" / "notes.pt").write_text("not weights\n")
    (tmp_path / "spec" / "fake.safetensors").write_text("not weights either\n")
    (tmp_path / "spec" / "folder.safetensors").mkdir()
    (tmp_path / "spec" / "fake.npz").write_text("no zip\n")
    import zipfile

    with zipfile.ZipFile(tmp_path / "spec" / "zip.npz", "w") as z:
        z.writestr("pixels.npy", b"not an npy header")
    issues = spec_error(spec, [override]).issues
    hit = [i for i in issues if i.path == path and words in i.message]
    assert hit and hit[0].file == "deploy.yaml" and hit[0].line is not None, issues


def test_symlink_out_of_the_folder_and_allow_path(tmp_path, monkeypatch):
    spec = digits_in(tmp_path / "spec")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "w.safetensors").write_bytes((EXAMPLES / "digits-cnn" / "weights.safetensors").read_bytes())
    (tmp_path / "spec" / "link.safetensors").symlink_to(shared / "w.safetensors")
    assert "outside" in spec_error(spec, ["model.weights=link.safetensors"]).issues[0].message
    monkeypatch.setenv(ALLOW_ENV, os.pathsep.join(["", str(shared)]))
    assert load_spec(spec, ["model.weights=link.safetensors"]).model.weights == "link.safetensors"
    assert load_spec(spec, [f"model.weights={shared / 'w.safetensors'}"])


def test_target_profiles_are_read_with_the_same_limits(tmp_path):
    """Packaged profiles go through preload.load_profile (a user may add one to targets/)."""
    from compiler.errors import SpecError
    from compiler.frontend.preload import load_profile

    (tmp_path / "bomb.yaml").write_text(BOMB)
    (tmp_path / "env.yaml").write_text("name: env\ndescription: ${oc.env:HOME}\n")
    for name, words in (("bomb.yaml", "alias"), ("env.yaml", "oc.env")):
        with pytest.raises(SpecError) as info:
            load_profile(tmp_path / name)
        assert words in str(info.value) and name in str(info.value)
