"""Sweep expansion (Hydra's parser and BasicSweeper), job folders, and per-job spec checks. Fast: no model."""

from __future__ import annotations

import pytest

from compiler.errors import SpecError
from compiler.sweep.jobs import Job, all_failed, expand, is_hydra_override, preflight
from tests.conftest import EXAMPLES

DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"


def test_cartesian_product_in_hydra_order():
    jobs = expand(["target=cpu-x86,nvidia-a100", "optimize.quantize=none,int8-dynamic", "serve.replicas.max=4"])
    assert [j.overrides for j in jobs] == [
        ("target=cpu-x86", "optimize.quantize=none", "serve.replicas.max=4"),
        ("target=cpu-x86", "optimize.quantize=int8-dynamic", "serve.replicas.max=4"),
        ("target=nvidia-a100", "optimize.quantize=none", "serve.replicas.max=4"),
        ("target=nvidia-a100", "optimize.quantize=int8-dynamic", "serve.replicas.max=4"),
    ]
    # Only swept keys name the folder; a fixed override does not.
    assert jobs[1].swept == (("optimize.quantize", "int8-dynamic"),)


def test_hydra_sweep_functions_work():
    jobs = expand(["serve.replicas.max=range(2,5)"])
    assert [j.overrides for j in jobs] == [("serve.replicas.max=2",), ("serve.replicas.max=3",), ("serve.replicas.max=4",)]


def test_a_key_set_twice_keeps_its_last_setting_like_hydra():
    jobs = expand(["serve.replicas.max=3", "optimize.quantize=none,int8-dynamic", "serve.replicas.max=5,6"])
    assert [j.overrides for j in jobs] == [
        ("serve.replicas.max=5", "optimize.quantize=none"), ("serve.replicas.max=5", "optimize.quantize=int8-dynamic"),
        ("serve.replicas.max=6", "optimize.quantize=none"), ("serve.replicas.max=6", "optimize.quantize=int8-dynamic"),
    ]


def test_an_interval_sweep_is_a_spec_error_naming_the_key():
    with pytest.raises(SpecError, match=r"serve\.replicas\.max: an interval sweep has no list of values"):
        expand(["serve.replicas.max=interval(1,4)"])


def test_folder_names_are_target_first_flat_and_safe():
    assert Job(0, (), (), target="cpu-x86").folder == "cpu-x86"
    job = Job(0, (), (("serve.replicas.max", "3"), ("optimize.quantize", "none")), target="cpu-x86")
    assert job.folder == "cpu-x86,optimize.quantize=none,serve.replicas.max=3"  # keys sorted
    odd = Job(0, (), (("model.weights", "a/b c,d.safetensors"), ("optimize.quantize", "[none]")), target="cpu-x86")
    assert odd.folder == "cpu-x86,model.weights=a_b_c_d.safetensors,optimize.quantize=_none_"
    assert "/" not in odd.folder


def test_hydra_overrides_are_told_apart():
    assert is_hydra_override("hydra/launcher=joblib")
    assert is_hydra_override("hydra.launcher.n_jobs=2")
    assert is_hydra_override("++hydra.job.chdir=True")
    assert not is_hydra_override("target=cpu-x86")
    assert not is_hydra_override("serve.replicas.max=3")


def test_bad_sweep_syntax_is_a_usage_error():
    with pytest.raises(SpecError, match="bad sweep override"):
        expand(["serve.replicas.max=[3"])


def test_preflight_resolves_targets_and_keeps_bad_combinations_as_rows():
    jobs = preflight(DIGITS, expand(["target=cpu-x86,no-such-target,android-arm64"]))
    assert [j.target for j in jobs] == ["cpu-x86", "", "android-arm64"]
    bad = jobs[1]
    assert bad.exit_code == 2 and "unknown target" in bad.error and bad.label == "target=no-such-target"
    assert all_failed(jobs) is None  # the others still run


def test_preflight_default_target_names_the_folder():
    jobs = preflight(DIGITS, expand(["serve.replicas.max=3,4"]))
    assert [j.folder for j in jobs] == ["cpu-x86,serve.replicas.max=3", "cpu-x86,serve.replicas.max=4"]


def test_a_spec_error_in_every_job_is_one_plain_error():
    jobs = preflight(DIGITS, expand(["serve.replicas.max=zero,none"]))
    error = all_failed(jobs)
    assert error is not None and error.exit_code == 2
    assert "serve.replicas.max" in str(error) and "<spec>: <spec>" not in str(error)


def test_jobs_that_would_share_a_folder_are_refused():
    with pytest.raises(SpecError, match="would both write"):
        preflight(DIGITS, expand(["description=a/b,a_b"]))
