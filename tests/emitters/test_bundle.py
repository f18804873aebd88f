"""The edge bundle: real builds of the examples for android-arm64, the archive's bytes across
rebuilds, the emitter on a hand-built context, and the runtime serving the bundle over HTTP."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from compiler.emitters.base import EmitContext, SelectedArtifact
from compiler.errors import DeploycError
from compiler.frontend import load_spec
from compiler.runtime.config import RuntimeConfig

from tests.conftest import EXAMPLES, ROOT, run_cli

MISSING = [m for m in ("litert_torch", "ai_edge_quantizer", "ai_edge_litert") if importlib.util.find_spec(m) is None]
pytestmark = [pytest.mark.edge, pytest.mark.skipif(
    bool(MISSING), reason=f"edge toolchain not installed ({', '.join(MISSING)}): pip install -e '.[edge]'")]

DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"
TEXT = EXAMPLES / "text-encoder" / "deploy.yaml"
# "fastest" picks by latency measured in this run; two candidates within noise of each other
# could swap between builds. The byte-identity tests pin the choice to a measured-free policy.
STABLE = "optimize.select=smallest"


def build(spec: Path, out: Path, cache: Path, *overrides: str) -> Path:
    result = run_cli("build", str(spec), "target=android-arm64", *overrides, "-o", str(out),
                     env={"DEPLOYC_CACHE": str(cache)})
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "android-arm64"


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("bundle-digits")
    return build(DIGITS, tmp / "out", tmp / "cache", STABLE)


def test_tree_has_the_bundle_and_no_server_outputs(digits):
    bundle = digits / "bundle"
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()) == [
        "README.md", "metadata.json", "model/model.tflite", "runtime.json"]
    assert (digits / "bundle.tar.gz").is_file()
    assert not (digits / "image").exists() and not (digits / "k8s").exists()
    lock = json.loads((digits / "deployc.lock.json").read_text())
    assert lock["files"]["bundle.tar.gz"] == hashlib.sha256((digits / "bundle.tar.gz").read_bytes()).hexdigest()


def test_metadata_describes_the_shipped_model(digits):
    bundle = digits / "bundle"
    meta = json.loads((bundle / "metadata.json").read_text())
    report = json.loads((digits / "report.json").read_text())
    assert meta["candidate"] == report["selected"]["candidate"]
    assert meta["sha256"]["model/model.tflite"] == hashlib.sha256((bundle / "model/model.tflite").read_bytes()).hexdigest()
    assert meta["sha256"]["runtime.json"] == hashlib.sha256((bundle / "runtime.json").read_bytes()).hexdigest()
    sig = meta["signature"]
    assert sig["inputs"] == [{"name": "pixels", "dtype": "float32", "shape": [1, 1, 8, 8], "quantization": None}]
    assert sig["outputs"] == [{"name": "logits", "dtype": "float32", "shape": [1, 10], "quantization": None}]
    assert meta["labels"] == [str(i) for i in range(10)]
    assert meta["verification"]["accuracy_drop"] <= 0.02
    runtime = RuntimeConfig.load(bundle / "runtime.json")
    assert (runtime.backend, runtime.artifact) == ("litert", "model.tflite")
    readme = (bundle / "README.md").read_text()
    assert 'interpreter.runSignature(' in readme and 'mapOf("pixels" to pixels)' in readme
    assert 'run = interpreter.get_signature_runner("serving_default")' in readme
    assert meta["sha256"]["model/model.tflite"] in readme


def test_archive_is_the_bundle_with_fixed_metadata(digits):
    data = (digits / "bundle.tar.gz").read_bytes()
    assert data[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        root = "digits-cnn-1.0.0-android-arm64"
        assert names == [root, f"{root}/README.md", f"{root}/metadata.json", f"{root}/model",
                         f"{root}/model/model.tflite", f"{root}/runtime.json"]
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
        for m in members:
            if m.isfile():
                rel = m.name.split("/", 1)[1]
                assert tar.extractfile(m).read() == (digits / "bundle" / rel).read_bytes(), rel


def test_rebuild_with_a_separate_cache_gives_the_same_archive_bytes(digits, tmp_path):
    again = build(DIGITS, tmp_path / "out", tmp_path / "cache", STABLE)
    assert (again / "bundle.tar.gz").read_bytes() == (digits / "bundle.tar.gz").read_bytes()


def test_text_encoder_bundle_at_fixed_seq_32(tmp_path):
    out = build(TEXT, tmp_path / "out", tmp_path / "cache")
    meta = json.loads((out / "bundle" / "metadata.json").read_text())
    assert meta["signature"]["inputs"] == [{"name": "input_ids", "dtype": "int64", "shape": [1, 32], "quantization": None}]
    assert meta["signature"]["outputs"][0]["shape"] == [1, 128]
    assert meta["signature"]["fixed_dims"] == {"seq": 32}
    assert "putLong" in (out / "bundle" / "README.md").read_text()


# ---- the emitter on a hand-built context -----------------------------------------------------

def _context(digits: Path, **kw) -> EmitContext:
    spec = load_spec(str(DIGITS), ["target=android-arm64"])
    path = digits / "bundle" / "model" / "model.tflite"
    sel = SelectedArtifact("tflite-fp32", "model.tflite", path, "tflite", "fp32",
                           hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size)
    runtime = RuntimeConfig.load(digits / "bundle" / "runtime.json")
    return EmitContext(**{"spec": spec, "selected": sel, "runtime": runtime, **kw})


def test_emitter_is_pure_and_honours_source_date_epoch(digits, monkeypatch):
    from compiler.emitters.bundle import BundleEmitter

    first, second = BundleEmitter().emit(_context(digits)), BundleEmitter().emit(_context(digits))
    assert first == second
    assert first["bundle/model/model.tflite"] == digits / "bundle" / "model" / "model.tflite"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    dated = BundleEmitter().emit(_context(digits))["bundle.tar.gz"]
    with tarfile.open(fileobj=io.BytesIO(dated)) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}
    assert gzip.decompress(dated) != gzip.decompress(first["bundle.tar.gz"])


def test_emitter_without_selection_or_runtime(digits):
    from compiler.emitters.bundle import BundleEmitter

    assert BundleEmitter().emit(_context(digits, selected=None)) == {}
    files = BundleEmitter().emit(_context(digits, runtime=None))
    assert "bundle/runtime.json" not in files and "runtime.json" not in (files["bundle/README.md"]).decode()


def test_emitter_refuses_a_non_tflite_artifact(digits):
    from dataclasses import replace

    from compiler.emitters.bundle import BundleEmitter

    ctx = _context(digits)
    with pytest.raises(DeploycError, match="ships a .tflite"):
        BundleEmitter().emit(replace(ctx, selected=replace(ctx.selected, format="onnx", file="model.onnx")))


# ---- the runtime serves the bundle -----------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_runtime_serves_the_bundle_over_v2(digits):
    for module, why in (("tritonclient.http", "tritonclient[http]"), ("uvicorn", "the runtime's uvicorn"),
                        ("starlette", "the runtime's starlette")):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            pytest.skip(f"{why} is not installed: pip install -e '.[serve,test]'")
    import tritonclient.http as httpclient

    from compiler.passes.data import load_dataset
    from compiler.passes.runners import runner_for
    import compiler.passes.tflite  # noqa: F401  registers the tflite runner

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "compiler.runtime", "--root", str(digits / "bundle"),
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.is_model_ready("digits-cnn"):
                    break
            except Exception:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the runtime did not get ready in 60 s"
            time.sleep(0.2)
        spec = load_spec(str(DIGITS), ["target=android-arm64"])
        x = load_dataset(spec, "evaluation").inputs["pixels"][:3]
        inp = httpclient.InferInput("pixels", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        got = client.infer("digits-cnn", [inp], outputs=[httpclient.InferRequestedOutput("logits")]).as_numpy("logits")
        want = runner_for("tflite", digits / "bundle" / "model" / "model.tflite", 1)({"pixels": x})[0]
        assert got.shape == (3, 10)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
