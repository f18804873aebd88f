"""GPU facts every stage agrees on: which half precision a CUDA target runs, the TensorRT
optimization profile (built by the tensorrt pass, written by the emitters into runtime.json and
Triton's config for engines built on the target), and what this host can build.

Below the planner, the passes and the emitters, so each reads the same answer without importing
another stage (docs/architecture.md, "Layering")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.dims import OTHER_DIM_MAX, SYNTH_DIMS
from compiler.frontend.spec import Spec, TargetProfile

WORKSPACE_BYTES = 1 << 30  # TensorRT builder scratch memory; also Triton's max_workspace_size_bytes


def cuda_precision(spec: Spec) -> str:
    """fp16 keeps more mantissa than bf16 (better parity), so it wins where both are allowed."""
    for precision in ("fp16", "bf16"):
        if precision in spec.optimize.precisions and precision in spec.target.precisions:
            return precision
    return "fp32"


@dataclass(frozen=True)
class Profile:
    """The shapes an engine is built for: min / opt / max per input that has a dynamic dim."""

    min: dict[str, tuple[int, ...]]
    opt: dict[str, tuple[int, ...]]
    max: dict[str, tuple[int, ...]]


def profile_for(spec: Spec, data=None) -> Profile:
    """Batch: 1 / serve.batching.max_batch_size / the same. Other symbolic dims: 1 / the data's
    length (int8 calibration runs at the opt shape) or SYNTH_DIMS / OTHER_DIM_MAX. `data`: a
    passes.data.Dataset (its inputs' shapes are read), or None."""
    low, opt, high = {}, {}, {}
    for t in spec.model.inputs:
        if not t.dynamic_dims:
            continue
        seen = data.inputs[t.name].shape if data is not None else None
        ranges = [_dim_range(axis, dim, spec.serve.batching.max_batch_size, seen, _dim_max(spec, dim))
                  for axis, dim in enumerate(t.shape)]
        low[t.name], opt[t.name], high[t.name] = (tuple(r[i] for r in ranges) for i in range(3))
    return Profile(low, opt, high)


def _dim_max(spec: Spec, dim) -> int | None:
    """A text model's sequence runs up to model.max_length (the runtime's limit too)."""
    return spec.model.max_length if spec.model.source == "huggingface" and dim == "seq" else None


def _dim_range(axis: int, dim, max_batch: int, seen, high: int | None = None) -> tuple[int, int, int]:
    if isinstance(dim, int):
        return dim, dim, dim
    if axis == 0:
        return 1, max_batch, max_batch
    typical = int(seen[axis]) if seen is not None else SYNTH_DIMS
    if high is not None:
        return 1, min(typical, high), high
    return 1, typical, max(OTHER_DIM_MAX, typical)


def ort_profile_options(profile: Profile) -> dict[str, str]:
    """The same profile as onnxruntime TensorRT EP options (Triton's accelerator takes the same keys),
    so one engine covers every batch the server forms instead of a rebuild per new shape."""
    def shapes(which: dict[str, tuple[int, ...]]) -> str:
        return ",".join(f"{name}:{'x'.join(map(str, dims))}" for name, dims in which.items())
    if not profile.min:
        return {}
    return {"trt_profile_min_shapes": shapes(profile.min), "trt_profile_opt_shapes": shapes(profile.opt),
            "trt_profile_max_shapes": shapes(profile.max)}


def tensorrt_status(target: TargetProfile, gpu_on_host: bool) -> tuple[bool, str]:
    """Can this host build TensorRT engines for the target? Engines are specific to the GPU they are
    built on, so the answer needs both `import tensorrt` and a GPU with the target's compute capability."""
    try:
        import tensorrt  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install missing its *_libs wheels
        return False, f"tensorrt does not import on this host ({type(exc).__name__})"
    if not gpu_on_host:
        return False, "no GPU on this host"
    cc = host_compute_capability()
    want = target.gpu.compute_capability if target.gpu else "?"
    if cc != want:
        return False, f"the host GPU is sm {cc}, the target's is {want}"
    return True, f"tensorrt {tensorrt.__version__} and a matching GPU (sm {cc})"


def host_compute_capability() -> str | None:
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(0)
            return f"{major}.{minor}"
    except Exception:
        return None
    return None


def gpu_on_host() -> bool:
    # Without the driver's device node there is no GPU; don't pay torch's import to learn that.
    if not Path("/dev/nvidiactl").exists():
        return False
    return host_compute_capability() is not None
