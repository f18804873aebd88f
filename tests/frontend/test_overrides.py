"""Command-line overrides and file values that Hydra or Python would refuse with a bare ValueError:
each is a spec error naming its key (compiler/frontend/overrides.py, yamlsafe.py)."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.frontend.test_hostile import digits
from tests.frontend.test_load import DIGITS, spec_error

HUGE = "1" + "0" * 5000  # past Python's 4300-digit int/str conversion limit


@pytest.mark.parametrize("override, path", [
    (f"serve.port={HUGE}", "serve.port"),
    ("serve.port=1" + "0" * 25, "serve.port"),  # parses, but no spec value has that many digits
    (f"serve.replicas={{min: 1, max: {HUGE}}}", "serve.replicas.max"),
    ("model.inputs.0.shape=[batch, 1, 8, 1" + "0" * 30 + "]", "model.inputs[0].shape[3]"),
])
def test_long_integer_override_names_its_key(override, path):
    issue = spec_error(DIGITS, [override]).issues[0]
    assert (issue.path, issue.file) == (path, "command line") and "digits" in issue.message


@pytest.mark.parametrize("value", [HUGE, "0x" + "f" * 30, "-" + "9" * 25])
def test_long_integer_in_the_file_names_key_and_line(tmp_path, value):
    path = digits(tmp_path, "replicas: {min: 2, max: 6}", f"replicas: {{min: 2, max: {value}}}")
    issue = spec_error(path).issues[0]
    assert (issue.path, issue.file) == ("serve.replicas.max", "deploy.yaml")
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "replicas: {min: 2" in text)
    assert issue.line == line and "digits" in issue.message


def test_long_integer_in_a_target_profile(tmp_path):
    path = digits(tmp_path)
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "big.yaml").write_text(
        (DIGITS.parents[2] / "targets" / "cpu-x86.yaml").read_text().replace("gpu: 0", f"gpu: {HUGE}"))
    issue = spec_error(path, ["target=big"]).issues[0]
    assert issue.file == "big.yaml" and "digits" in issue.message


@pytest.mark.parametrize("value", ["nan", "inf", "1", "true", "null", "[a, b]"])
def test_target_override_that_is_not_a_name(value):
    issue = spec_error(DIGITS, [f"target={value}"]).issues[0]
    assert issue.path == "target" and issue.file == "command line"
    assert "available: android-arm64, cpu-arm64, cpu-x86" in issue.message


@pytest.mark.parametrize("value", ["../../v/deploy", "/etc/passwd", "a/b"])
def test_target_override_with_a_path_lists_the_real_profiles(tmp_path, value):
    path = digits(tmp_path)
    (tmp_path / "target").mkdir()  # the spec folder's own profiles are listed as well
    (tmp_path / "target" / "mine.yaml").write_text((DIGITS.parents[2] / "targets" / "cpu-x86.yaml").read_text())
    issue = spec_error(path, [f"target={value}"]).issues[0]
    assert issue.path == "target" and "no path" in issue.message
    assert "cpu-x86" in issue.message and "mine" in issue.message


def test_unknown_target_lists_the_profiles():
    message = str(spec_error(DIGITS, ["target=nosuch"]))
    assert "unknown target 'nosuch'; available: android-arm64" in message


def test_cli_exit_2_without_traceback():
    for override in (f"serve.port={HUGE}", "target=nan"):
        result = run_cli("validate", str(DIGITS), override)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert override.split("=")[0] in result.stdout + result.stderr
