"""The image dependency locks that ship with deployc (compiler/locks/)."""

from __future__ import annotations

import re

import pytest

from compiler import locks
from compiler.errors import DeploycError
from compiler.locks import make


def test_every_target_that_builds_a_hermetic_image_has_its_lock():
    """Each shipped profile with a hermetic image finds its ONNX Runtime lock (CPU or GPU)."""
    import yaml

    from compiler.emitters.image import base_image
    from compiler.resources import target_names, targets_dir

    for name in target_names():
        profile = yaml.safe_load((targets_dir() / f"{name}.yaml").read_text())
        image = profile.get("image") or {}
        if not image or image.get("hermetic") is False or profile.get("kind") == "edge":
            continue
        gpu = "CUDAExecutionProvider" in profile.get("execution_providers", [])
        lock = locks.load("onnxruntime-gpu" if gpu else "onnxruntime", image["platform"],
                          base_image(image["base"]).python)
        assert lock.pins, name


@pytest.mark.parametrize("file", locks.shipped())
def test_shipped_lock_pins_every_wheel_by_version_and_sha256(file):
    m = re.fullmatch(r"(?P<engine>.+)-(?P<tag>manylinux_2_28_(x86_64|aarch64))-cp3(?P<minor>\d+)\.txt", file)
    text = locks.resources.files("compiler.locks").joinpath(file).read_text()
    lock = locks.parse(m["engine"], m["tag"], f"3.{m['minor']}", text)
    body = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert len(body) == 2 * len(lock.pins)  # every line parsed: nothing is silently dropped
    names = [p.name for p in lock.pins]
    assert names == sorted(set(names))
    for direct in locks.requirements(m["engine"]):
        assert direct in {f"{p.name}=={p.version}" for p in lock.pins}, direct
    assert not any("+" in p.version for p in lock.pins)  # no local builds: an image must find them


def test_a_missing_combination_is_a_clear_error_naming_it():
    with pytest.raises(DeploycError, match=r"no dependency lock for onnxruntime on manylinux_2_28_x86_64 / "
                                           r"CPython 3\.9 .*deployc lock --python 3\.9"):
        locks.load("onnxruntime", "linux/amd64", "3.9")


def test_unknown_platform_names_the_key():
    with pytest.raises(DeploycError, match=r"target\.image\.platform: 'linux/s390x'"):
        locks.load("onnxruntime", "linux/s390x", "3.11")


def test_lock_without_upgrade_keeps_every_pin():
    """`deployc lock` (no --upgrade) re-resolves against the index and must reproduce the
    shipped lock: the pins are still served, and nothing moves unless asked."""
    tag, python = "manylinux_2_28_x86_64", "3.11"
    shipped = locks.load("onnxruntime", "linux/amd64", python)
    keep = [f"{p.name}=={p.version}" for p in shipped.pins]
    assert make.lock_pins("onnxruntime", tag, python, keep) == shipped.pins


def test_no_deps_packages_are_locked_without_their_download_clients():
    lock = locks.load("onnxruntime", "linux/amd64", "3.11")
    names = {p.name for p in lock.pins}
    assert "tokenizers" in names and "huggingface-hub" not in names


def test_pip_platforms_list_every_older_manylinux_tag():
    tags = locks.pip_platforms("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64" and "manylinux_2_17_x86_64" in tags and "manylinux2014_x86_64" in tags
    assert all(t.endswith("aarch64") for t in locks.pip_platforms("manylinux_2_28_aarch64"))


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
def test_generation_lock_pins_onnxruntime_genai_and_the_tested_onnxruntime(platform, python):
    engine = locks.engine_for("onnxruntime-genai", ["CPUExecutionProvider"])
    pins = {p.name: p.version for p in locks.load(engine, platform, python).pins}
    assert pins["onnxruntime-genai"] == locks.PINS["onnxruntime-genai"]
    assert pins["onnxruntime"] == locks.PINS["onnxruntime"]  # not whatever the index had newest
