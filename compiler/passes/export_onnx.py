"""Export the PyTorch model to ONNX (torch.onnx) and check it against the signature.

The dynamo exporter silently fixes a symbolic dim that it traced at size 1, so the example
batch is >= 2 and every dim of the exported graph is compared with the spec's signature.
`optimize.export.exporter: auto` (the default) falls back to the TorchScript exporter when the
dynamo exporter fixed a declared dim (it does so for nn.GRU/LSTM, and in torch 2.13 a second
dynamo export of a GRU in one process specializes the input's sequence too); the fallback is run
at other sizes than the traced ones, so a dim the model really specializes fails either way, with
both exporters' reasons. The setting is in the cache key; the exporter used is in the report's
pass chain.
"""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import redirect_stdout
from pathlib import Path

from compiler.candidates import Candidate
from compiler.errors import PassError
from compiler.frontend.spec import Spec, TensorSpec
from compiler.passes.base import Artifact, PassContext, library_versions
from compiler.digest import sha256_file
from compiler.passes.data import SYNTH_DIMS, synthesize
from compiler.passes import export_attention
from compiler.passes.export_torchscript import export_torchscript, probe_dynamic
from compiler.passes.load import LoadedModel

NAME = "onnx-export"


def export(model: LoadedModel, ctx: PassContext, candidate: str = Candidate.ONNX_FP32.value, digest: str | None = None,
           exporter: str | None = None) -> Artifact:
    """`exporter`: the plan's choice when it overrides optimize.export.exporter (huggingface sources)."""
    spec = ctx.spec
    digest = digest or model.digest
    exporter = (exporter or spec.optimize.export.exporter) if model.onnx_path is None else "none"
    config = {"opset": spec.optimize.opset, "batch": spec.model.example_batch, "exporter": exporter,
              "attention": export_attention.VERSION, "inputs": [t.__dict__ for t in spec.model.inputs],
              "outputs": [t.__dict__ for t in spec.model.outputs]}
    key = ctx.cache.key(NAME, config, {"model": digest}, library_versions("torch", "onnx", "onnxscript"))
    with ctx.timed(f"{NAME} ({candidate})") as event:
        entry = ctx.cache.get_or_run(key, lambda d: _export(model, spec, d / "model.onnx", exporter))
        event.cached = entry.hit
        event.detail = "; ".join(_details(entry.meta))
    path = entry.file("model.onnx")
    return Artifact(candidate, "onnx", "fp32", path, sha256_file(path), (_pass_label(entry.meta),))


def _details(meta: dict) -> list[str]:
    """What the report's pass chain says of the export besides its name: the exporter when it is
    not the default dynamo one, and how many attention modules went out in their export form
    (passes/export_attention.py)."""
    details = []
    if meta.get("exporter") == "torchscript":
        details.append("torchscript" + (f"; {meta['fallback']}" if meta.get("fallback") else ""))
    if meta.get("attention_export_form"):
        details.append(f"{meta['attention_export_form']} nn.MultiheadAttention in export form")
    return details


def _pass_label(meta: dict) -> str:
    details = _details(meta)
    return f"{NAME} ({'; '.join(details)})" if details else NAME


def _export(model: LoadedModel, spec: Spec, out: Path, exporter: str) -> dict:
    import onnx
    import torch

    if model.module is None:  # the source is ONNX already: normalize it into one file
        proto = onnx.load(str(model.onnx_path))
        onnx.save(proto, str(out))
        check_signature(out, spec)
        return {"source": "onnx"}
    example = synthesize(spec, spec.model.example_batch)
    args = tuple(torch.from_numpy(example.inputs[t.name]) for t in spec.model.inputs)
    fallback = ""
    if exporter != "torchscript":
        try:
            with export_attention.export_form(model.module) as attention:
                _export_dynamo(model.module, spec, args, out)
            return {"source": "pytorch", "exporter": "dynamo", "attention_export_form": len(attention)}
        except ExporterFixedDim as exc:
            if exporter == "dynamo":
                raise PassError(NAME, f"{exc.message}; optimize.export.exporter: torchscript (or auto) "
                                      "tries the TorchScript exporter") from None
            fallback, dynamo_error = f"dynamo {exc.short}", exc.message
    try:
        with export_attention.export_form(model.module) as attention:
            export_torchscript(model.module, spec, args, out)
        _finish(out, spec, rename=False)
        if any(t.dynamic_dims for t in spec.model.inputs):  # a trace can bake a size in: run it at others
            probe_dynamic(model.module, spec, out, spec.model.example_batch, SYNTH_DIMS)
    except PassError as exc:
        if not fallback:
            raise
        raise PassError(NAME, f"{dynamo_error}; the TorchScript exporter fails too: "
                              f"{str(exc).removeprefix(f'pass {NAME}: ')}") from None
    return {"source": "pytorch", "exporter": "torchscript", "fallback": fallback,
            "attention_export_form": len(attention)}


class ExporterFixedDim(PassError):
    """The dynamo exporter fixed a dim that torch.export kept symbolic: the exporter's doing."""

    def __init__(self, message: str, short: str):
        super().__init__(NAME, message)
        self.message, self.short = message, short


def _export_dynamo(module, spec: Spec, args: tuple, out: Path) -> None:
    import torch

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" noise
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, args, dynamo=True, opset_version=spec.optimize.opset,
                input_names=[t.name for t in spec.model.inputs],
                dynamic_shapes=_dynamic_shapes(spec.model.inputs), external_data=False, verbose=False)
            program.save(str(out), external_data=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PassError(NAME, f"torch.onnx.export failed: {type(exc).__name__}: {first}") from None
    try:
        _finish(out, spec, rename=True)
    except FixedDim as exc:
        raise _why_fixed(exc, program, module, spec) from None


def _why_fixed(exc: "FixedDim", program, module, spec: Spec) -> "ExporterFixedDim":
    """Name the real reason a declared dim came out fixed: the model, or the exporter."""
    culprit = _recurrent_layers(module)
    where = f"{exc.kind} '{exc.tensor}' dim {exc.axis} ('{exc.dim}') was exported fixed at {exc.fixed} by the dynamo exporter"
    if _symbolic_in_torch_export(program, spec, exc.dim):
        why = f"although torch.export kept '{exc.dim}' symbolic in the inputs: the export of {culprit} declares the traced size"
    elif culprit:
        why = f"the dynamo exporter specializes it in {culprit} (it traces the recurrence at the example's length)"
    else:
        why = "the model specializes it (e.g. a reshape with a constant size)"
    return ExporterFixedDim(f"{where}, {why}", f"fixed '{exc.dim}' at {exc.fixed}" + (f" ({culprit})" if culprit else ""))


def _finish(out: Path, spec: Spec, rename: bool) -> None:
    import onnx

    proto = onnx.load(str(out))
    if rename:
        _rename_outputs(proto, [t.name for t in spec.model.outputs])
    _name_dims(proto, spec)
    _strip_debug_info(proto.graph)
    onnx.save(proto, str(out))
    check_signature(out, spec)


def _symbolic_in_torch_export(program, spec: Spec, dim: str) -> bool:
    """Whether torch.export kept the named dim symbolic on every input that carries it. Then the
    model does not specialize it; an op's shape rule (aten.gru's output) or translation fixed it."""
    import torch

    ep = program.exported_program
    nodes = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    user = ep.graph_signature.user_inputs
    seen = False
    for t, name in zip(spec.model.inputs, user):
        shape = getattr(nodes[name].meta.get("val"), "shape", None) if name in nodes else None
        for axis, d in t.dynamic_dims.items():
            if d == dim:
                if shape is None or axis >= len(shape) or not isinstance(shape[axis], torch.SymInt):
                    return False
                seen = True
    return seen


def _recurrent_layers(module) -> str:
    import torch

    layers = [f"nn.{type(m).__name__} '{n}'" for n, m in module.named_modules() if isinstance(m, torch.nn.RNNBase)]
    return ", ".join(layers[:3])


def _dynamic_shapes(inputs: tuple[TensorSpec, ...]):
    from torch.export import Dim

    dims: dict[str, object] = {}
    shapes = []
    for t in inputs:
        spec_dims = {}
        for axis, name in t.dynamic_dims.items():
            if name not in dims:
                # min 2: torch.export specializes size-1 dims; max keeps positional tables legal.
                dims[name] = Dim(name, min=2, max=SYNTH_DIMS * 64) if axis else Dim(name, min=1, max=65536)
            spec_dims[axis] = dims[name]
        shapes.append(spec_dims or None)
    return tuple(shapes)


def _strip_debug_info(graph) -> None:
    """The exporter records each node's Python stack trace, with absolute paths of the user's
    files: the same model would give other bytes in another folder. Debug info only; drop it."""
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
        for attr in node.attribute:
            if attr.HasField("g"):
                _strip_debug_info(attr.g)
            for sub in attr.graphs:
                _strip_debug_info(sub)


def _rename_outputs(proto, names: list[str]) -> None:
    """Name outputs after the signature. Done here, not by the exporter's output_names, because
    the exporter then clashes with an internal value of the same name (e.g. an Embedding's)."""
    outputs = list(proto.graph.output)
    if len(outputs) != len(names):
        raise PassError(NAME, f"the model returns {len(outputs)} outputs, the signature lists {len(names)}")
    mapping = {}
    taken = {v for n in proto.graph.node for v in list(n.input) + list(n.output)}
    taken |= {i.name for i in proto.graph.initializer} | {i.name for i in proto.graph.input}
    for value, name in zip(outputs, names):
        if value.name != name and name in taken:
            mapping[name] = f"{name}__internal"
        mapping[value.name] = name
    for node in proto.graph.node:
        node.input[:] = [mapping.get(v, v) for v in node.input]
        node.output[:] = [mapping.get(v, v) for v in node.output]
    for value in list(proto.graph.output) + list(proto.graph.value_info):
        value.name = mapping.get(value.name, value.name)
    for init in proto.graph.initializer:
        init.name = mapping.get(init.name, init.name)


def _name_dims(proto, spec: Spec) -> None:
    """Give exported symbolic dims the signature's names (the exporter invents s0, s1...)."""
    signature = {t.name: t for t in spec.model.inputs + spec.model.outputs}
    for value in list(proto.graph.input) + list(proto.graph.output):
        t = signature.get(value.name)
        if t is None:
            continue
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if axis < len(t.shape) and isinstance(t.shape[axis], str) and dim.HasField("dim_param"):
                dim.dim_param = t.shape[axis]


def check_signature(path: Path, spec: Spec) -> None:
    import onnx

    proto = onnx.load(str(path))
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise PassError(NAME, f"onnx.checker rejected the exported model: {exc}") from None
    for kind, values, expected in (("input", proto.graph.input, spec.model.inputs),
                                   ("output", proto.graph.output, spec.model.outputs)):
        by_name = {v.name: v for v in values}
        for index, t in enumerate(expected):
            if t.name not in by_name:
                raise PassError(NAME, f"the exported model has no {kind} '{t.name}' "
                                      f"(it has {sorted(by_name)}); fix model.{kind}s")
            _check_dims(kind, t, by_name[t.name], index)


class FixedDim(PassError):
    """A dim the signature names was exported as a constant."""

    def __init__(self, kind: str, tensor: str, index: int, axis: int, dim: str, fixed: int):
        self.kind, self.tensor, self.index, self.axis, self.dim, self.fixed = kind, tensor, index, axis, dim, fixed
        super().__init__(NAME, f"{kind} '{tensor}' dim {axis} ('{dim}') was exported fixed at {fixed}; "
                               "the model specializes it (e.g. a reshape with a constant size)")


def _check_dims(kind: str, t: TensorSpec, value, index: int) -> None:
    import onnx

    dims = value.type.tensor_type.shape.dim
    dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name
    if dtype != t.dtype:
        raise PassError(NAME, f"{kind} '{t.name}' is {dtype} in the model, the signature says {t.dtype}")
    if len(dims) != len(t.shape):
        raise PassError(NAME, f"{kind} '{t.name}' has rank {len(dims)} in the model, the signature says {list(t.shape)}")
    for axis, (dim, want) in enumerate(zip(dims, t.shape)):
        fixed = dim.dim_value if dim.HasField("dim_value") else None
        if isinstance(want, str) and fixed is not None:
            raise FixedDim(kind, t.name, index, axis, want, fixed)
        if isinstance(want, int) and fixed is not None and fixed != want:
            raise PassError(NAME, f"{kind} '{t.name}' dim {axis} is {fixed} in the model, the signature says {want}")
