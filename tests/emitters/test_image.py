"""The image emitter on a hand-built EmitContext: the context's files, the Dockerfile, the lock.

The emitter is pure: requirements.lock comes from the lock deployc ships (compiler/locks/);
vendoring the wheels is an action (tests/actions/test_wheels.py). No Docker engine is needed
here: tests/actions/test_docker_image.py builds and runs the image.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest

from compiler import locks
from compiler.emitters.base import EmitContext, SelectedArtifact
from compiler.emitters.image import UID, ImageEmitter, base_image, image_lock
from compiler.emitters.runtime_config import runtime_config
from compiler.errors import DeploycError, SpecError
from compiler.frontend import load_spec
from tests.conftest import EXAMPLES, ROOT

BASE = "deployc-base/python:3.11-bookworm"


def _context(tmp_path: Path, overrides=(), **spec_changes) -> EmitContext:
    spec = load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", [f"target.image.base={BASE}", *overrides])
    spec = replace(spec, **spec_changes)
    model = tmp_path / "cached-model.onnx"
    model.write_bytes(b"not parsed by the emitter")
    selected = SelectedArtifact("onnx-fp32", "model.onnx", model, "onnx", "fp32",
                                hashlib.sha256(model.read_bytes()).hexdigest(), model.stat().st_size)
    return EmitContext(spec, selected, runtime_config(spec, selected, {}))


@pytest.fixture(scope="module")
def emitted(tmp_path_factory, cache_dir):
    ctx = _context(tmp_path_factory.mktemp("image"))
    return ctx, ImageEmitter().emit(ctx)


def _bytes(value) -> bytes:
    return value.read_bytes() if isinstance(value, Path) else value


def test_context_holds_runtime_model_config_and_lock(emitted):
    ctx, files = emitted
    runtime_src = sorted((ROOT / "compiler" / "runtime").glob("*.py"))
    assert {k for k in files if k.startswith("image/runtime/")} == {f"image/runtime/{p.name}" for p in runtime_src}
    for p in runtime_src:
        assert files[f"image/runtime/{p.name}"] == p.read_bytes()
    assert files["image/model/model.onnx"] == ctx.selected.path
    assert files["image/runtime.json"] == ctx.runtime.to_json().encode()
    assert {"image/Dockerfile", "image/.dockerignore", "image/requirements.lock"} <= set(files)


def test_lock_is_the_shipped_lock_for_the_platform_and_python(emitted):
    ctx, files = emitted
    lock = files["image/requirements.lock"].decode()
    shipped = image_lock(ctx.spec, ctx.runtime)
    assert shipped.file_name == "onnxruntime-manylinux_2_28_x86_64-cp311.txt"
    assert lock.endswith(shipped.body()) and "--hash=sha256:" in lock
    for direct in ("onnxruntime", "numpy", "starlette", "uvicorn", "prometheus-client"):
        assert f"{direct}=={locks.PINS[direct]} \\" in lock
    assert "torch" not in lock  # the CPU image stays small
    assert not any(k.startswith("image/wheels/") for k in files)  # vendoring is the build's action


def test_emit_is_deterministic(emitted, tmp_path):
    ctx, files = emitted
    again = ImageEmitter().emit(ctx)
    assert sorted(again) == sorted(files)
    assert all(_bytes(again[k]) == _bytes(files[k]) for k in files)


def test_dockerfile_orders_layers_deps_model_code(emitted):
    _, files = emitted
    text = files["image/Dockerfile"].decode()
    steps = ["COPY --from=deps /opt/venv", "COPY model/", "COPY runtime/", "COPY runtime.json"]
    positions = [text.index(s) for s in steps]
    assert positions == sorted(positions)
    assert text.count(f"FROM {BASE}") == 2
    assert "--no-index" in text and "--require-hashes" in text and "COPY wheels/" in text


def test_dockerfile_runs_unprivileged_read_only_and_stoppable(emitted):
    ctx, files = emitted
    text = files["image/Dockerfile"].decode()
    assert f"USER {UID}:{UID}" in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text and "HOME=/tmp" in text
    assert "STOPSIGNAL SIGTERM" in text
    assert "EXPOSE 8080 9090 9000" in text
    assert re.search(r"HEALTHCHECK .*\n.*urllib.*http://127\.0\.0\.1:8080/v2/health/ready", text)
    assert ('ENTRYPOINT ["python3", "-m", "runtime", "--root", "/srv", "--host", "0.0.0.0", '
            '"--port", "8080", "--metrics-port", "9090", "--grpc-port", "9000"]') in text
    # `created` is added at build time from SOURCE_DATE_EPOCH only; the context has no date.
    assert "ARG SOURCE_DATE_EPOCH" in text
    assert not any("image.created" in line for line in text.splitlines() if line.startswith("LABEL"))


def test_ports_come_from_the_spec(tmp_path, cache_dir):
    files = ImageEmitter().emit(_context(tmp_path, ["serve.port=8500", "serve.metrics_port=9500"]))
    text = files["image/Dockerfile"].decode()
    assert "EXPOSE 8500 9500" in text and '"--port", "8500", "--metrics-port", "9500"' in text
    assert "127.0.0.1:8500/v2/health/ready" in text


def test_oci_labels_are_quoted_so_spec_text_cannot_inject(tmp_path, cache_dir):
    probe = _context(tmp_path)
    ctx = _context(tmp_path, description='say "hi" $HOME\nRUN rm -rf /',
                   image=replace(probe.spec.image, revision="abc123", source="https://example.invalid/repo"))
    text = ImageEmitter().emit(ctx)["image/Dockerfile"].decode()
    labels = [line for line in text.splitlines() if line.startswith("LABEL ")]
    assert 'LABEL org.opencontainers.image.description="say \\"hi\\" \\$HOME RUN rm -rf /"' in labels
    assert 'LABEL org.opencontainers.image.revision="abc123"' in labels
    assert 'LABEL org.opencontainers.image.source="https://example.invalid/repo"' in labels
    assert 'LABEL org.opencontainers.image.title="digits-cnn"' in labels
    assert not any(line.startswith("RUN rm") for line in text.splitlines())


def test_not_hermetic_installs_from_the_index(tmp_path):
    files = ImageEmitter().emit(_context(tmp_path, ["image.hermetic=false"]))
    assert not any(k.startswith("image/wheels/") for k in files)
    lock = files["image/requirements.lock"].decode()
    assert f"onnxruntime=={locks.PINS['onnxruntime']}\n" in lock and "--hash" not in lock
    text = files["image/Dockerfile"].decode()
    assert "--no-index" not in text and "COPY wheels/" not in text


def test_gpu_base_without_python_gets_one_and_a_writable_engine_cache(tmp_path):
    spec = load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", ["target=nvidia-a100", "image.hermetic=false"])
    ctx = _context(tmp_path)
    ctx = EmitContext(spec, ctx.selected, runtime_config(spec, ctx.selected, {}))
    files = ImageEmitter().emit(ctx)
    text = files["image/Dockerfile"].decode()
    assert "apt-get install -y --no-install-recommends python3 python3-venv" in text
    assert f"onnxruntime-gpu=={locks.PINS['onnxruntime-gpu']}" in files["image/requirements.lock"].decode()
    assert f"VOLUME {ctx.runtime.trt_engine_cache}" in text


@pytest.mark.parametrize("ref, python, has_python", [
    ("python:3.11-slim", "3.11", True),
    ("deployc-base/python:3.12-bookworm", "3.12", True),
    ("nvcr.io/nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04", "3.12", False),
    ("nvcr.io/nvidia/l4t-jetpack:r36.4.0", "3.10", False),
])
def test_base_image_python(ref, python, has_python):
    assert (base_image(ref).python, base_image(ref).has_python) == (python, has_python)


def test_unknown_base_names_the_spec_key():
    with pytest.raises(SpecError, match=r"target\.image\.base: cannot tell which Python"):
        base_image("registry.example.invalid/team/serving:7")


def test_unknown_platform_is_a_clear_error(tmp_path):
    ctx = _context(tmp_path)
    target = replace(ctx.spec.target, image=replace(ctx.spec.target.image, platform="linux/s390x"))
    with pytest.raises(DeploycError, match=r"target\.image\.platform: 'linux/s390x'"):
        ImageEmitter().emit(replace(ctx, spec=replace(ctx.spec, target=target)))


def test_requirements_follow_backend_and_providers():
    assert locks.engine_for("onnxruntime", ["CUDAExecutionProvider"]) == "onnxruntime-gpu"
    assert locks.engine_for("onnxruntime", ["CPUExecutionProvider"]) == "onnxruntime"
    assert locks.engine_for("litert", []) == "ai-edge-litert"
    assert f"torch=={locks.PINS['torch']}" in locks.requirements("torch")
    with pytest.raises(DeploycError, match="no dependency set"):
        locks.engine_for("tensorflow", [])


def test_platform_without_pypi_wheels_is_never_hermetic(tmp_path):
    """Jetson's onnxruntime-gpu is not on PyPI: names only, and the index comes in as a build arg."""
    from compiler.build import build
    from compiler.frontend import load_spec
    from compiler.passes.cache import Cache

    spec = load_spec(ROOT / "examples" / "digits-cnn" / "deploy.yaml", ["target=jetson-orin"])
    tree = build(spec, tmp_path / "out", Cache(tmp_path / "cache")).target_dir
    lock = (tree / "image" / "requirements.lock").read_text()
    assert "onnxruntime-gpu\n" in lock and "==" not in lock
    assert not (tree / "image" / "wheels").exists()
    assert "ARG PIP_EXTRA_INDEX_URL" in (tree / "image" / "Dockerfile").read_text()
