"""Can this host build TensorRT engines for the target? Engines are specific to the GPU they are
built on, so the answer needs both `import tensorrt` and a GPU with the target's compute capability."""

from __future__ import annotations

from pathlib import Path

from compiler.frontend.spec import TargetProfile


def tensorrt_status(target: TargetProfile, gpu_on_host: bool) -> tuple[bool, str]:
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
