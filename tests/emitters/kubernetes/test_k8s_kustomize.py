"""`kubectl kustomize` renders the emitted folder as is (what `kubectl apply -k` would send)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from k8s_helpers import CASES, emit_case, manifests

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH (it bundles kustomize)")


def _render(files: dict[str, bytes], tmp_path) -> list[dict]:
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    proc = subprocess.run([KUBECTL, "kustomize", str(tmp_path / "k8s")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.mark.parametrize("case", sorted(CASES))
def test_kustomize_renders_every_resource_unchanged(case, tmp_path):
    files = emit_case(case)
    rendered = _render(files, tmp_path)
    ours = manifests(files)
    kustomization = ours.pop("kustomization.yaml")
    assert len(rendered) == len(ours)
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    expected = {key(o): o for o in ours.values()}
    for obj in rendered:
        assert obj["metadata"]["namespace"] == kustomization["namespace"]
        # kustomize adds nothing and drops nothing: the objects apply exactly as emitted.
        assert obj == expected[key(obj)], f"{key(obj)} changed by kustomize"


def test_kustomize_rejects_a_missing_resource(tmp_path):
    """The render check can fail: a kustomization naming an absent file is an error."""
    files = emit_case("rolling")
    del files["k8s/pdb.yaml"]
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    proc = subprocess.run([KUBECTL, "kustomize", str(tmp_path / "k8s")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "pdb.yaml" in proc.stderr
