"""GPU benchmark: torch eager fp32 vs AOTInductor CUDA fp16 vs onnxruntime CUDA EP fp16.

    .venv/bin/python bench/gpu_bench.py [example ...]      (default: text-encoder digits-cnn)

On a CUDA host, for each example: the three variants are built the way the compiler builds
them (export -> fp16 ONNX; AOTInductor CUDA with the fp16 cast wrapper), then timed side by
side, interleaved call by call, at batch 1 and 32. Every call takes host (numpy) arrays and
returns host arrays, as a server does, so copies to and from the GPU are in every number.
Prints one table with p50 latencies and the speedup over eager. On a host without CUDA it
prints one line saying so and exits 0.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BATCHES = (1, 32)
ROUNDS, WARMUP = 200, 20


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def target_for_host() -> str:
    from compiler.passes.tensorrt_probe import host_compute_capability

    cc = host_compute_capability()
    return {"9.0": "nvidia-h100", "8.0": "nvidia-a100", "7.5": "nvidia-t4"}.get(cc, "nvidia-h100")


def eager(module):
    import torch

    module = module.to("cuda").eval()

    def run(inputs):
        with torch.inference_mode():
            out = module(*[torch.from_numpy(v).to("cuda") for v in inputs.values()])
        return [out.cpu().numpy()]
    return run


def ort_cuda(path: Path):
    """None, with the reason, when this onnxruntime has no CUDA execution provider."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return None, "onnxruntime here has no CUDAExecutionProvider (onnxruntime-gpu is not installed)"
    sess = ort.InferenceSession(str(path), providers=["CUDAExecutionProvider"])
    if sess.get_providers()[0] != "CUDAExecutionProvider":
        return None, f"onnxruntime fell back to {sess.get_providers()}"
    return (lambda inputs: sess.run(None, inputs)), ""


def variants(example: str, cache: Path) -> tuple[dict, dict[str, str], object]:
    from compiler.frontend import load_spec
    from compiler.passes import aoti, export_onnx, fp16
    from compiler.passes.base import PassContext
    from compiler.passes.cache import Cache
    from compiler.passes.load import load_model

    spec = load_spec(ROOT / "examples" / example / "deploy.yaml", [f"target={target_for_host()}"])
    ctx = PassContext(spec, Cache(cache))
    model = load_model(spec)
    half = fp16.to_fp16(export_onnx.export(model, ctx), ctx)
    compiled = aoti.compile_aoti(model, ctx, "cuda")
    runs = {"eager fp32": eager(model.module)}
    notes = {}
    runs[f"AOTI CUDA {compiled.precision}"] = aoti.pt2_runner(compiled.path, spec.serve.threads)
    ort_run, why = ort_cuda(half.path)
    if ort_run is None:
        notes["ORT CUDA fp16"] = why
    else:
        runs["ORT CUDA fp16"] = ort_run
    return runs, notes, spec


def interleaved_p50(runs: dict, inputs: dict) -> dict[str, float]:
    """Alternate the variants call by call so clock and thermal drift hit all of them alike."""
    for run in runs.values():
        for _ in range(WARMUP):
            run(inputs)
    times = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, run in runs.items():
            start = time.perf_counter()
            run(inputs)  # returns host arrays: the GPU work is finished when it returns
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) * 1000 for name, t in times.items()}


def main(examples: list[str]) -> int:
    if not cuda_available():
        print("gpu_bench: no CUDA device on this host (torch.cuda.is_available() is False); nothing to measure")
        return 0
    import torch
    from rich.console import Console
    from rich.table import Table

    from compiler.passes.data import synthesize

    table = Table(title=f"p50 ms per call, host arrays in and out ({torch.cuda.get_device_name(0)})")
    for col in ("example", "batch", "variant", "p50 ms", "vs eager"):
        table.add_column(col)
    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="deployc-gpu-bench-") as cache:
        for example in examples:
            runs, why, spec = variants(example, Path(cache))
            notes.update({f"{example}: {k}": v for k, v in why.items()})
            for batch in BATCHES:
                p50 = interleaved_p50(runs, synthesize(spec, batch).inputs)
                base = p50["eager fp32"]
                for name, ms in p50.items():
                    table.add_row(example, str(batch), name, f"{ms:.3f}", f"{base / ms:.2f}x")
    console = Console()
    console.print(table)
    for what, why in notes.items():
        console.print(f"not measured: {what}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["text-encoder", "digits-cnn"]))
