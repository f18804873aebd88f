"""What the spec's own data must hold, checked when it is loaded, before any pass runs.

Calibration and evaluation data are the user's input, like the spec: a NaN calibrates int8 on
garbage, a value outside an input's declared `range` is one the generated server refuses (so the
data and the declared contract disagree), and a label that is no class index silently lowers the
measured accuracy. Each is a spec error (exit 2) naming the data key, the input (or labels), the
sample and its value.
"""

from __future__ import annotations

import numpy as np

from compiler.errors import SpecError, SpecIssue

CLASSIFICATION_TASKS = ("classification", "text-classification")


def check_values(spec, inputs: dict[str, np.ndarray], path: str) -> None:
    """Every input of every sample finite, and inside model.inputs[i].range when one is declared."""
    for i, t in enumerate(spec.model.inputs):
        arr = inputs[t.name]
        if arr.size == 0 or arr.dtype == bool:
            continue
        flat = arr.reshape(len(arr), -1)
        if np.issubdtype(arr.dtype, np.inexact):
            sample = _first(~np.isfinite(flat))
            if sample is not None:
                value = "NaN" if np.isnan(flat[sample]).any() else "Inf"
                raise SpecError(SpecIssue(path, f"input '{t.name}' of sample {sample} holds {value}: "
                                                "calibration and evaluation data must be finite"))
        if t.range:
            low, high = t.range
            outside = (flat < low) | (flat > high)
            sample = _first(outside)
            if sample is not None:
                value = flat[sample][outside[sample]][0].item()
                raise SpecError([
                    SpecIssue(path, f"input '{t.name}' of sample {sample} holds {value:g}, outside the declared "
                                    f"range [{low:g}, {high:g}] ({int(outside.sum())} values outside)"),
                    SpecIssue(f"model.inputs[{i}].range", "the server refuses inputs outside it: widen the "
                                                          "range to what the model takes, or fix the data")])


def check_labels(spec, labels: np.ndarray, path: str, classes: int | None, source: str) -> np.ndarray:
    """Classification labels as int64 class indices in [0, classes): one per sample, whole numbers.
    `source` says where `classes` comes from (model.labels, or the model's output width)."""
    if spec.model.task not in CLASSIFICATION_TASKS:
        return labels
    if labels.ndim != 1:
        raise SpecError(SpecIssue(path, f"labels have shape {list(labels.shape)}: one class index per sample "
                                        "is needed (shape [samples])"))
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)):
        raise SpecError(SpecIssue(path, f"labels are {labels.dtype}: they must be integer class indices"))
    if np.issubdtype(labels.dtype, np.floating):
        sample = _first(~np.isfinite(labels) | (labels != np.round(labels)))
        if sample is not None:
            raise SpecError(SpecIssue(path, f"label of sample {sample} is {labels[sample]!r}: labels must be "
                                            "integer class indices"))
        labels = labels.astype(np.int64)
    if classes is not None:
        sample = _first((labels < 0) | (labels >= classes))
        if sample is not None:
            raise SpecError(SpecIssue(path, f"label of sample {sample} is {int(labels[sample])}: labels must be "
                                            f"class indices in [0, {classes}) ({source})"))
    return labels.astype(np.int64, copy=False)


def declared_classes(spec) -> tuple[int | None, str]:
    """The class count the spec itself states: model.labels, else a fixed last dim of the first output."""
    if spec.model.labels:
        return len(spec.model.labels), f"model.labels names {len(spec.model.labels)} classes"
    outputs = spec.model.outputs
    width = outputs[0].shape[-1] if outputs and outputs[0].shape else None
    return (width, f"model.outputs[0] has {width} scores") if isinstance(width, int) else (None, "")


def _first(bad: np.ndarray) -> int | None:
    rows = bad.reshape(len(bad), -1).any(axis=1) if bad.ndim > 1 else bad
    return int(np.argmax(rows)) if rows.any() else None
