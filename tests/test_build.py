"""End-to-end builds of the examples through the CLI, as users run them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT, run_cli

pytestmark = pytest.mark.slow


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(cache_dir, tmp_path_factory):
    """Each example built twice for cpu-x86, into separate folders, in separate processes."""
    out = {}
    for example in ("digits-cnn", "text-encoder"):
        trees = []
        for n in (1, 2):
            dest = tmp_path_factory.mktemp(f"{example}-{n}")
            r = run_cli("build", str(EXAMPLES / example / "deploy.yaml"), "-o", str(dest))
            assert r.returncode == 0, r.stderr + r.stdout
            trees.append(dest / "cpu-x86")
        out[example] = trees
    return out


@pytest.mark.parametrize("example", ["digits-cnn", "text-encoder"])
def test_rebuild_is_byte_identical(built, example):
    first, second = built[example]
    assert (first / "deployc.lock.json").read_bytes() == (second / "deployc.lock.json").read_bytes()
    assert tree_bytes(first) == tree_bytes(second)


@pytest.mark.parametrize("example", ["digits-cnn", "text-encoder"])
def test_tree_layout_and_lock(built, example):
    tree = built[example][0]
    for part in ("deployc.lock.json", "report.md", "report.json", "model/model.json", "image/Dockerfile",
                 "k8s/kustomization.yaml", "monitoring/rules.yaml"):
        assert (tree / part).is_file(), part
    lock = json.loads((tree / "deployc.lock.json").read_text())
    files = {k for k in tree_bytes(tree) if k != "deployc.lock.json"}
    assert set(lock["files"]) == files
    assert lock["spec"]["name"] == example and len(lock["spec"]["digest"]) == 64


@pytest.mark.parametrize("example", ["digits-cnn", "text-encoder"])
def test_no_absolute_paths_or_timestamps(built, example):
    stamp = re.compile(rb"20\d\d-\d\d-\d\dT\d\d:\d\d")
    for rel, data in tree_bytes(built[example][0]).items():
        if rel.endswith((".whl", ".gz")):  # third-party wheels; the bundle archive is compressed
            continue
        assert str(ROOT).encode() not in data, rel
        assert b"/tmp/" not in data, rel
        assert not stamp.search(data), rel


def test_digits_report_has_real_holdout_accuracy(built):
    report = json.loads((built["digits-cnn"][0] / "report.json").read_text())
    assert report["verification"]["origin"] == "evaluation" and report["verification"]["samples"] == 450
    assert report["verification"]["reference_accuracy"] > 0.95
    for c in report["candidates"]:
        assert 0.9 < c["accuracy"] <= 1.0, c["candidate"]
        assert c["passed"] == (not c["gate_failures"])
    assert report["selected"]["candidate"] in {c["candidate"] for c in report["candidates"] if c["passed"]}
    assert "Original model accuracy: 0.99" in (built["digits-cnn"][0] / "report.md").read_text()


def test_warm_rebuild_reuses_every_pass(built):
    log = json.loads((built["digits-cnn"][1].parent / ".deployc" / "cpu-x86.build.json").read_text())
    assert log and all(e["cached"] for e in log if e["pass"] != "load")


def test_failed_gate_exits_1_and_keeps_previous_output(built, tmp_path):
    tree = built["digits-cnn"][0]
    before = tree_bytes(tree)
    r = run_cli("build", str(EXAMPLES / "digits-cnn" / "deploy.yaml"), "-o", str(tree.parent),
                "optimize.gates.min_accuracy=0.9999")
    assert r.returncode == 1
    assert "no artifact passed the gates" in r.stderr and "accuracy = " in r.stderr and ">= 0.9999" in r.stderr
    assert "Traceback" not in r.stderr
    assert tree_bytes(tree) == before


def test_manifests_run_the_image_this_context_builds(built):
    """The workload's image is the content tag that `--image` gives the image built from image/."""
    from compiler.actions.docker_image import context_digest

    tree = built["digits-cnn"][0]
    tag = f"digits-cnn:sha-{context_digest(tree / 'image')[:12]}"
    assert f"image: {tag}" in (tree / "k8s" / "rollout.yaml").read_text()


@pytest.mark.parametrize("target, artifact", [("cpu-x86", "model/model.onnx"),
                                              ("android-arm64", "bundle/model/model.tflite")])
def test_same_model_in_another_folder_gives_the_same_artifact(tmp_path, target, artifact):
    """Cold builds (separate caches) of one example copied to two folders. Exporters like to
    record where the user's code lives (stack traces, module names); none of it may leak."""
    import shutil

    if target == "android-arm64":
        pytest.importorskip("litert_torch", reason="edge toolchain not installed: pip install -e '.[edge]'")
    built = []
    for where in ("a", "bb/deeper"):
        folder = tmp_path / where / "text-encoder"
        shutil.copytree(EXAMPLES / "text-encoder", folder, ignore=shutil.ignore_patterns("__pycache__"))
        r = run_cli("build", str(folder / "deploy.yaml"), f"target={target}", "optimize.select=smallest",
                    "-o", str(tmp_path / where / "out"), env={"DEPLOYC_CACHE": str(tmp_path / where / "cache")})
        assert r.returncode == 0, r.stderr
        built.append((tmp_path / where / "out" / target / artifact).read_bytes())
    assert built[0] == built[1]
