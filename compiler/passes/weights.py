"""Load `model.weights` into the factory's module with torch's own semantics, checked first.

Read safely: safetensors, or a state dict through `torch.load(weights_only=True)` (a pickle of
anything else is refused, never executed). Before loading, every problem is collected and
named with the tensor: missing parameters or persistent buffers, truly unknown keys, shapes and
dtypes that do not fit. A key naming a non-persistent buffer of the module (`position_ids`,
saved by older transformers when it was persistent) is accepted and not loaded: torch keeps
such buffers out of state dicts because the module computes them itself.
"""

from __future__ import annotations

from pathlib import Path

from compiler.errors import SpecError, SpecIssue

KEY = "model.weights"
_SHOWN = 8  # keys listed per problem; the count says how many more


def load_weights(module, path: Path, written: str) -> None:
    state = read_state(path, written)
    expected = module.state_dict()
    persistent = set(expected)
    non_persistent = {n for n, _ in module.named_buffers(remove_duplicate=False)} - persistent
    state = {k: v for k, v in state.items() if k not in non_persistent}
    problems = _shape_and_dtype_problems(state, expected)
    try:
        result = module.load_state_dict(state, strict=False) if not problems else None
    except Exception as exc:  # a module's own load hook: its message is the reason
        problems.append(f"{type(exc).__name__}: {_first_line(exc)}")
        result = None
    if result is not None:
        if result.missing_keys:
            problems.append(f"missing keys: {_listed(result.missing_keys)} (the module has them, the file does not)")
        if result.unexpected_keys:
            problems.append(f"unexpected keys: {_listed(result.unexpected_keys)} (the file has them, the module does not)")
    if problems:
        raise SpecError(SpecIssue(KEY, f"{written} does not fit the module from model.factory: " + "; ".join(problems)))


def read_state(path: Path, written: str) -> dict:
    import torch

    if not path.is_file():
        raise SpecError(SpecIssue(KEY, f"weights file not found: {written}"))
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        kind = "a safetensors file" if path.suffix == ".safetensors" else "a torch state dict (weights_only=True)"
        raise SpecError(SpecIssue(KEY, f"cannot read {written} as {kind}: {type(exc).__name__}: "
                                       f"{_first_line(exc)}")) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):  # a training checkpoint
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SpecError(SpecIssue(KEY, f"{written} holds a {type(state).__name__}, not a state dict "
                                       "(a mapping of tensor names to tensors)"))
    not_tensors = sorted(str(k) for k, v in state.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise SpecError(SpecIssue(KEY, f"{written}: entries that are not tensors: {_listed(not_tensors)}"))
    return state


def _shape_and_dtype_problems(state: dict, expected: dict) -> list[str]:
    shapes, dtypes = [], []
    for name in sorted(set(state) & set(expected)):
        got, want = state[name], expected[name]
        if tuple(got.shape) != tuple(want.shape):
            shapes.append(f"{name} (module {list(want.shape)}, file {list(got.shape)})")
        elif not _castable(got.dtype, want.dtype):
            dtypes.append(f"{name} (module {_dtype(want.dtype)}, file {_dtype(got.dtype)})")
    out = []
    if shapes:
        out.append(f"shape mismatch: {_listed(shapes)}")
    if dtypes:
        out.append(f"dtype mismatch: {_listed(dtypes)}")
    return out


def _castable(got, want) -> bool:
    """What torch's copy would convert without changing meaning: float to float (an fp16
    checkpoint into an fp32 module), or the same kind of integer. Integers into floats (quantized
    codes) or floats into integer buffers would load numbers that mean something else."""
    if got == want:
        return True
    if got.is_floating_point and want.is_floating_point:
        return True
    return not (got.is_floating_point or want.is_floating_point or got.is_complex or want.is_complex
                or "bool" in (str(got), str(want)))


def _dtype(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _listed(items: list[str]) -> str:
    more = f" (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
