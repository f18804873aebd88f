"""On an NVIDIA GPU with vLLM installed: the emitted command line really serves, and the OpenAI
client talks to it as to deployc's runtime. Skipped elsewhere, with the reason."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compiler.emitters.vllm import server
from tests.emitters.vllm.vllm_helpers import TEST_DIGEST

pytestmark = pytest.mark.gpu
MODEL_ENV = "DEPLOYC_VLLM_MODEL"  # a small Hugging Face causal-LM folder (e.g. SmolLM2-135M-Instruct)


def _why_not() -> str:
    if shutil.which("nvidia-smi") is None or subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode:
        return "needs an NVIDIA GPU (nvidia-smi -L fails or is missing on this host)"
    try:
        import vllm  # noqa: F401
    except ImportError:
        return f"needs the vllm package ({server.VERSION}, the pinned image's version) in this environment"
    if _model() is None:
        return (f"needs {MODEL_ENV} (a Hugging Face causal-LM folder) or {SMOLLM2_GGUF.name} "
                "(`make smollm2` copies it)")
    return ""


SMOLLM2_GGUF = Path(__file__).resolve().parents[3] / "examples" / "smollm2-chat" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _model() -> Path | None:
    """The model to serve: $DEPLOYC_VLLM_MODEL's folder, else the SmolLM2 example's GGUF file."""
    folder = Path(os.environ.get(MODEL_ENV, "")).resolve() if os.environ.get(MODEL_ENV) else None
    if folder is not None and (folder / "config.json").is_file():
        return folder
    return SMOLLM2_GGUF if SMOLLM2_GGUF.is_file() else None


@pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "runs")
def test_the_emitted_command_serves_openai_chat(tmp_path):
    from openai import OpenAI

    from compiler.frontend import load_spec
    from compiler.planner import plan

    model = _model()
    name = "model.gguf" if model.is_file() else "model"
    shutil.copy(model, tmp_path / name) if model.is_file() else (tmp_path / name).symlink_to(model)
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text("defaults: [{target: nvidia-h100}, _self_]\nname: gpu-check\nversion: '1'\n"
                         f"model: {{source: huggingface, path: {name}, task: text-generation, "
                         "generation: {max_context: 1024, max_new_tokens: 32}}\n"
                         "serve: {engine: vllm, max_concurrency: 8, vllm: {gpu_memory_utilization: 0.5}}\n")
    spec = load_spec(spec_path, [f"serve.vllm.image_digest={TEST_DIGEST}"])
    folder = tmp_path / name
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = server.server_args(spec, plan(spec).engine_plan)
    args[args.index("--model") + 1] = str(folder)
    args[args.index("--port") + 1] = str(port)
    args[args.index("--host") + 1] = "127.0.0.1"
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", *args])
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none")
        deadline = time.time() + 600
        while time.time() < deadline:
            try:
                client.models.list()
                break
            except Exception:  # noqa: BLE001 (still loading)
                assert proc.poll() is None, "vLLM exited while loading"
                time.sleep(2)
        reply = client.chat.completions.create(model="gpu-check", temperature=0, max_tokens=16,
                                               messages=[{"role": "user", "content": "What is the capital of France?"}])
        assert reply.choices[0].message.content
    finally:
        proc.terminate()
        proc.wait(timeout=60)
