"""int8 SmoothQuant: onnxruntime's dynamic int8 after the activations' outlier channels are moved
into the weights (Xiao et al., "SmoothQuant", ICML 2023), with calibration data.

Why (docs/architecture.md, "int8 for transformer encoders"): dynamic int8 quantizes each MatMul's
activations with one scale per tensor. BERT-class encoders carry a few hidden channels far wider
than the rest, so that scale crushes the others: all-MiniLM-L6-v2's worst evaluation sentence came
out at cosine 0.80 to the original (0.96 with per-channel weights), under any 0.99 gate.

For each MatMul with a constant weight W and activation X, X·W = (X / s)·(s W) for any per-channel
s; s_j = max|X_j|^alpha / max|W_j|^(1-alpha) evens the activation ranges at the weights' cost.
Each s_j is rounded to a power of two, so the division and the product are exact in fp32: the
smoothed fp32 graph computes what the original computes, bit for bit (a test checks), and the
scales do not move with the last bits of the calibration run. MatMuls sharing an input (Q, K, V)
share one s and one Mul. Down projections (more rows than columns: the FFN's output, whose input
is GELU's, widest of all) stay fp32. Measured on MiniLM's 322 sentences: worst cosine 0.981 with
them int8, 0.996 without (docs/architecture.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from compiler.candidates import Candidate
from compiler.passes.base import Artifact, PassContext, onnx_transform
from compiler.passes.data import Dataset
from compiler.passes.quantize import LIBS, preprocess

NAME = "int8-smoothquant"
ALPHA = 0.8  # migration strength: the SmoothQuant paper's range is 0.5-0.9; 0.8 measured best on MiniLM
CALIBRATION_ROWS = 128  # activation maxima settle well before this many sentences
BATCH = 32  # calibration rows per run, padded as the serving batches are
RECIPE = 2  # bump when the graph this pass writes changes for the same inputs (a new cache key)


def int8_smoothquant(source: Artifact, calibration: Dataset, ctx: PassContext) -> Artifact:
    data = calibration.take(CALIBRATION_ROWS)
    config = {"alpha": ALPHA, "per_channel": True, "fp32": "down-projections", "scales": "power-of-two",
              "calibration_batch": BATCH, "recipe": RECIPE, "data": data.digest()}
    return onnx_transform(ctx, NAME, Candidate.ONNX_INT8_SMOOTHQUANT.value, "int8", source, config,
                          lambda src, dst: _quantize(src, dst, data), LIBS)


def _quantize(src: Path, dst: Path, data: Dataset) -> dict:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src))
    name_nodes(model)
    groups, kept = weight_matmuls(model)
    amax = activation_maxima(model, sorted(groups), data)
    smooth(model, groups, amax, ALPHA)
    smoothed = dst.with_name("smoothed.onnx")
    onnx.save(model, str(smoothed))
    pre = preprocess(smoothed, dst.with_name("pre.onnx"))
    quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=kept)
    smoothed.unlink()
    pre.unlink()
    return {"smoothed_inputs": len(groups), "fp32_matmuls": len(kept), "calibration_rows": data.size}


def name_nodes(model) -> None:
    """In place: a unique name for every node that has none or shares one. The fp32 exclusion goes
    to onnxruntime by node name, and an empty name there would exclude every unnamed node."""
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"smoothquant/{node.op_type}_{i}"
        seen.add(node.name)


def _readers(graph) -> Counter:
    """How many times each tensor name is read: by nodes, subgraphs (If, Loop, Scan) included, and
    as a graph output."""
    from onnx import AttributeProto

    count = Counter(o.name for o in graph.output)
    for node in graph.node:
        count.update(node.input)
        for attr in node.attribute:
            subgraphs = [attr.g] if attr.type == AttributeProto.GRAPH else list(attr.graphs)
            for sub in subgraphs:
                count.update(_readers(sub))
    return count


def weight_matmuls(model) -> tuple[dict[str, list], list[str]]:
    """MatMuls with a constant 2-D weight, grouped by activation tensor name; and the names of the
    down projections (rows > columns), which stay fp32 and are not smoothed. A weight that anything
    else also reads (tied embeddings: a Gather and a MatMul) is left unscaled: its MatMul is still
    quantized, but reads the activation as it is."""
    from onnx import TensorProto

    # fp32 weights only: the inserted Mul's scale is fp32, and a half-precision graph is not this pass's.
    weights = {i.name: tuple(i.dims) for i in model.graph.initializer if i.data_type == TensorProto.FLOAT}
    readers = _readers(model.graph)
    groups: dict[str, list] = defaultdict(list)
    kept = []
    for node in model.graph.node:
        dims = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if dims is None or len(dims) != 2 or node.input[0] in weights:
            continue
        if dims[0] > dims[1]:
            kept.append(node.name)
        elif readers[node.input[1]] == 1:
            groups[node.input[0]].append(node)
    return dict(groups), kept


def activation_maxima(model, names: list[str], data: Dataset) -> dict[str, np.ndarray]:
    """max |X| per channel (the last axis) of each named tensor of `model` (an onnx.ModelProto, left
    as it is) over the calibration rows, run in batches as they are padded. Padding stays in:
    dynamic int8 takes its range over the whole batch tensor, padding positions included, and on
    MiniLM those carry wider channels than the real tokens (measured once: worst sentence at batch
    64 0.983 with padding cut from the maxima, 0.995 with it kept). One thread: the same maxima on
    every build host."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)  # in memory: the file was parsed once already
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep the tensors named
    session = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    amax: dict[str, np.ndarray] = {}
    for start in range(0, data.size, BATCH):
        feed = {k: v[start:start + BATCH] for k, v in data.inputs.items() if k in wanted}
        for name, value in zip(names, session.run(names, feed)):
            flat = np.abs(value.astype(np.float32)).reshape(-1, value.shape[-1]).max(axis=0)
            amax[name] = flat if name not in amax else np.maximum(amax[name], flat)
    return amax


def smooth(model, groups: dict[str, list], amax: dict[str, np.ndarray], alpha: float) -> None:
    """In place: one Mul by 1/s before each group's MatMuls, and each weight's rows times s."""
    from onnx import helper, numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    nodes = list(model.graph.node)
    for activation, matmuls in groups.items():
        ws = [numpy_helper.to_array(inits[m.input[1]]) for m in matmuls]
        wmax = np.max([np.abs(w).max(axis=1) for w in ws], axis=0)
        s = scales(amax[activation], wmax, alpha)
        for m, w in zip(matmuls, ws):
            inits[m.input[1]].CopyFrom(numpy_helper.from_array((w * s[:, None]).astype(w.dtype), m.input[1]))
        inv = f"{activation}/smoothquant_inv_scale"
        model.graph.initializer.append(numpy_helper.from_array((1.0 / s).astype(np.float32), inv))
        out = f"{activation}/smoothquant"
        mul = helper.make_node("Mul", [activation, inv], [out], name=f"{activation}/smoothquant_mul")
        for m in matmuls:
            m.input[0] = out
        first = min(nodes.index(m) for m in matmuls)
        nodes.insert(first, mul)
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def scales(amax: np.ndarray, wmax: np.ndarray, alpha: float) -> np.ndarray:
    """s_j = amax_j^alpha / wmax_j^(1-alpha), rounded to the nearest power of two (exact to divide
    by); channels never active in calibration, or with a non-finite maximum, keep s = 1. float32,
    shape (channels,)."""
    live = (amax > 0) & (wmax > 0) & np.isfinite(amax) & np.isfinite(wmax)
    raw = np.ones_like(amax, dtype=np.float64)
    raw[live] = amax[live].astype(np.float64) ** alpha / wmax[live].astype(np.float64) ** (1 - alpha)
    return np.exp2(np.round(np.log2(raw))).astype(np.float32)
