"""The original model's outputs on the verification set: what every candidate is judged against.

A reference that is not finite judges nothing (every comparison with NaN is false), so NaN or
Inf in the verification inputs or in the original model's outputs stops the build as a spec
error (exit 2): the model, weights or data that the spec names must change, not a pass.
"""

from __future__ import annotations

import numpy as np

from compiler.errors import SpecError, SpecIssue
from compiler.passes.base import PassContext, library_versions
from compiler.passes.data import Dataset
from compiler.passes import data_checks
from compiler.passes.load import LoadedModel, reference_outputs

# Where each kind of verification data comes from in the spec.
DATA_KEYS = {"evaluation": "model.evaluation", "calibration": "model.calibration", "synthetic": "model.inputs"}
LABEL_GATES = ("min_accuracy", "max_accuracy_drop")


def reference(model: LoadedModel, data: Dataset, ctx: PassContext) -> list[np.ndarray]:
    """Cached like any pass result; checked finite on every build, cached or not."""
    check_inputs(data)
    key = ctx.cache.key("reference", {"max_length": ctx.spec.model.max_length} if data.texts else {},
                        {"model": model.digest, "data": data.digest()},
                        library_versions("torch", "onnxruntime", *(("sentence-transformers", "transformers")
                                                                    if data.texts else ())))

    def produce(folder):
        outputs = reference_outputs(model, data.inputs, ctx.spec, data.texts)
        np.savez(folder / "outputs.npz", *outputs)
        return {"outputs": len(outputs)}

    entry = ctx.cache.get_or_run(key, produce)
    with np.load(entry.file("outputs.npz")) as npz:
        outputs = [npz[f"arr_{i}"] for i in range(entry.meta["outputs"])]
    check_outputs(outputs, data, [t.name for t in ctx.spec.model.outputs])
    if data.labels is not None and outputs and outputs[0].ndim > 1:  # the class count the model really has
        width = outputs[0].shape[-1]
        data_checks.check_labels(ctx.spec, data.labels, DATA_KEYS[data.origin], width,
                                 f"the model outputs {width} scores")
    return outputs


def check_inputs(data: Dataset) -> None:
    for name in sorted(data.inputs):
        sample = _first_non_finite(data.inputs[name])
        if sample is not None:
            value = _bad_value(data.inputs[name][sample])
            raise SpecError(SpecIssue(DATA_KEYS[data.origin], f"input '{name}' of sample {sample} holds {value}: "
                                                             "verification data must be finite"))


def check_outputs(outputs: list[np.ndarray], data: Dataset, names: list[str]) -> None:
    for i, out in enumerate(outputs):
        sample = _first_non_finite(out)
        if sample is not None:
            name = names[i] if i < len(names) else f"#{i}"
            where = "synthetic sample" if data.origin == "synthetic" else f"{data.origin} sample"
            hint = (" (synthesized from model.inputs: set each input's range, or give model.calibration)"
                    if data.origin == "synthetic" else "")
            raise SpecError(SpecIssue(DATA_KEYS[data.origin],
                                      f"the original model outputs {_bad_value(out[sample])} in '{name}' for "
                                      f"{where} {sample}{hint}; no candidate can be checked against a non-finite "
                                      "reference: fix the model, its weights or this data"))


def check_labels(spec, data: Dataset) -> None:
    """Accuracy gates need labels; the spec rules require model.evaluation, only loading shows labels."""
    wanted = [g for g in LABEL_GATES if getattr(spec.gates, g) is not None]
    if wanted and data.labels is None:
        raise SpecError(SpecIssue("model.evaluation", f"has no labels, and the {', '.join(wanted)} gate needs them "
                                                      "(an .npz needs a `labels` array; a factory returns (inputs, labels))"))


def _first_non_finite(array: np.ndarray) -> int | None:
    if not np.issubdtype(array.dtype, np.inexact) or array.size == 0:
        return None  # integer and bool tensors cannot hold NaN or Inf
    bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def _bad_value(sample: np.ndarray) -> str:
    flat = np.asarray(sample).ravel()
    return "NaN" if np.isnan(flat).any() else "Inf"
