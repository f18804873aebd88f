"""One text-generation candidate: onnxruntime-genai's model builder on the Hugging Face folder, at
the step's precision and execution provider, into the pass cache.

The builder runs as a child process (`python -m onnxruntime_genai.models.builder`): it loads the
whole fp32 model, and its memory goes back to the system when it exits. Its output was byte-
identical across two builds here; deployc changes one value:
genai_config.json's search.max_length becomes model.generation.max_context, because the generator
sizes each stream's KV cache buffer (past_present_share_buffer) from it, and the memory plan
counts max_context tokens, not the model's full context_length. (It was not byte-stable at first:
see _run_builder on producer_version.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from compiler.digest import files_digest
from compiler.errors import PassError
from compiler.passes.base import Artifact, PassContext, library_versions

PASS = "genai-build"
EP = {"cpu": "cpu", "cuda": "cuda"}


def folder_digest(folder: Path) -> str:
    return files_digest({p.name: p for p in sorted(folder.iterdir()) if p.is_file()})


def build(step, source: Path, source_digest: str, ctx: PassContext) -> Artifact:
    cfg = step.config
    max_context = ctx.spec.model.generation.max_context
    config = {"precision": cfg.precision, "device": cfg.device, "max_context": max_context}
    key = ctx.cache.key(PASS, config, {"model": source_digest},
                        library_versions("onnxruntime-genai", "onnxruntime", "onnx", "onnx-ir", "transformers", "torch"))
    with ctx.timed(f"{PASS} ({cfg.candidate})") as event:
        entry = ctx.cache.get_or_run(key, lambda d: _run_builder(source, d, cfg.precision, cfg.device, max_context))
        event.cached = entry.hit
        event.detail = f"{cfg.precision} for {cfg.device}"
    folder = entry.file("genai")
    return Artifact(cfg.candidate, "genai", cfg.precision, folder, folder_digest(folder), (PASS,))


def _run_builder(source: Path, entry: Path, precision: str, device: str, max_context: int) -> dict:
    out, scratch = entry / "genai", entry / "scratch"
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(source), "-o", str(out),
           "-p", precision, "-e", EP[device], "-c", str(scratch)]
    # The builder stamps model.onnx's producer_version with `git rev-parse HEAD` of its working
    # folder (meant for its own checkout): run inside deployc's repository, every commit changed
    # the model's bytes. No git there: it falls back to the wheel's own commit.
    env = {**os.environ, "PYTHONHASHSEED": "0", "TQDM_DISABLE": "1", "GIT_DIR": str(entry / "no-git")}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=entry)
    shutil.rmtree(scratch, ignore_errors=True)
    if done.returncode != 0 or not (out / "genai_config.json").is_file():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise PassError(PASS, f"onnxruntime-genai's builder failed for {precision} ({device}), exit "
                              f"{done.returncode}: {tail}")
    _set_max_length(out / "genai_config.json", max_context)
    return {"files": sorted(p.name for p in out.iterdir())}


def _set_max_length(path: Path, max_context: int) -> None:
    config = json.loads(path.read_text(encoding="utf-8"))
    config.setdefault("search", {})["max_length"] = max_context
    path.write_text(json.dumps(config, indent=4) + "\n", encoding="utf-8")
