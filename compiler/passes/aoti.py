"""AOTInductor: torch.export then compile into a self-contained `.pt2` package for the torch backend.

CPU: the build host's ISA, fp32. CUDA (a GPU build host whose GPU is the target's, see the
planner): fp16, else bf16, where both the spec and the target allow it. A CUDA package holds
kernels for the build GPU's architecture, so its compute capability is recorded with it.
"""

from __future__ import annotations

import copy
import io
import logging
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from compiler.errors import PassError
from compiler.frontend.spec import Spec, TensorSpec
from compiler.passes.base import Artifact, PassContext, library_versions
from compiler.digest import sha256_file
from compiler.candidates import Candidate
from compiler.passes.data import synthesize
from compiler.passes.load import LoadedModel

NAME = "aoti"
NOTE_HALF = ("the module runs in {precision} inside the package (weights and activations cast with "
             ".to(); Inductor keeps reductions in fp32); inputs and outputs keep the signature's types")


def compile_aoti(model: LoadedModel, ctx: PassContext, device: str = "cpu", precision: str = "fp32") -> Artifact:
    """`device` and `precision` come from the plan's aoti step (planner.py decides them)."""
    spec = ctx.spec
    config = {"device": device, "batch": spec.model.example_batch, "inputs": [t.__dict__ for t in spec.model.inputs]}
    if device != "cpu":  # the CPU key stays as it was: existing caches remain valid
        config["precision"] = precision
    key = ctx.cache.key(NAME, config, {"model": model.digest}, library_versions("torch"))
    with ctx.timed(f"{NAME} ({device})") as event:
        entry = ctx.cache.get_or_run(key, lambda d: _compile(model, spec, d / "model.pt2", device, precision))
        event.cached = entry.hit
    path = entry.file("model.pt2")
    if device == "cpu":
        return Artifact(Candidate.AOTI_CPU.value, "pt2", "fp32", path, sha256_file(path), (NAME,))
    # The GPU architecture goes into the pass chain, so report.json (and the lock) record it.
    arch = entry.meta.get("compute_capability", "?")
    return Artifact(Candidate.aoti_cuda(precision).value, "pt2", precision, path, sha256_file(path),
                    (f"{NAME} ({device} sm {arch})",))


def _compile(model: LoadedModel, spec: Spec, out: Path, device: str, precision: str) -> dict:
    import torch

    logging.getLogger("torch._inductor").setLevel(logging.ERROR)
    example = synthesize(spec, spec.model.example_batch)
    args = tuple(torch.from_numpy(example.inputs[t.name]).to(device) for t in spec.model.inputs)
    shapes = _dynamic_shapes(spec.model.inputs)
    module = model.module
    if precision != "fp32":
        # The wrapper takes *args: torch.export sees one tuple argument, so the shapes nest once.
        module, shapes = _Cast.wrap(model.module, precision), (shapes,)
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            program = torch.export.export(module.to(device), args, dynamic_shapes=shapes)
            torch._inductor.aoti_compile_and_package(program, package_path=str(out))
    except Exception as exc:
        raise PassError(NAME, f"AOTInductor compile failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    finally:
        model.module.to("cpu")
    meta = {"device": device, "precision": precision}
    if device == "cuda":
        major, minor = torch.cuda.get_device_capability(0)
        meta.update(compute_capability=f"{major}.{minor}", gpu=torch.cuda.get_device_name(0),
                    note=NOTE_HALF.format(precision=precision) if precision != "fp32" else "")
    return meta


def _dynamic_shapes(inputs: tuple[TensorSpec, ...]):
    """The batch dim as the ONNX export has it (1..65536); other symbolic dims as Dim.DYNAMIC, so
    torch.export infers their range from the model (a positional table of 128 caps `seq` at 128,
    and a fixed guess such as 1024 would fail the export)."""
    from torch.export import Dim

    named: dict[str, object] = {}
    shapes = []
    for t in inputs:
        dims = {}
        for axis, name in t.dynamic_dims.items():
            if axis == 0:
                dims[axis] = named.setdefault(name, Dim(name, min=1, max=65536))
            else:
                dims[axis] = Dim.DYNAMIC
        shapes.append(dims or None)
    return tuple(shapes)


class _Cast:
    """Builds a module that runs a copy of the user's module in half precision.

    Why a cast wrapper and not torch.autocast during export: the exported graph is then explicit
    (every cast is in it) and the package keeps the signature's float32 inputs and outputs, like
    the fp16 ONNX candidate (keep_io_types), so the runtime and clients are unchanged.
    """

    @staticmethod
    def wrap(module, precision: str):
        import torch

        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]

        class HalfPrecision(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                # A copy: the user's module stays fp32 for the reference and the other passes.
                self.inner = copy.deepcopy(module).to(dtype)

            def forward(self, *args):
                out = self.inner(*[a.to(dtype) if a.is_floating_point() else a for a in args])
                if isinstance(out, (tuple, list)):
                    return tuple(o.float() if o.is_floating_point() else o for o in out)
                return out.float() if out.is_floating_point() else out

        return HalfPrecision().eval()
