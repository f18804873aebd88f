"""Calibration, evaluation and verification inputs: from a factory, an .npz, or synthesized.

A factory returns {input_name: array} (calibration) or ({input_name: array}, labels)
(evaluation); an .npz has one array per input and, for evaluation, `labels`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from compiler.dims import SYNTH_DIMS  # noqa: F401 (also read from here by the export pass)
from compiler.errors import SpecError, SpecIssue
from compiler.frontend.spec import DataSource, Spec
from compiler.passes import data_checks
from compiler.passes.load import call_factory, load_factory


@dataclass
class Dataset:
    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None
    origin: str  # "evaluation", "calibration" or "synthetic"
    texts: list[str] | None = None  # the sentences the ids came from (text data of huggingface sources)

    @property
    def size(self) -> int:
        return len(next(iter(self.inputs.values())))

    def take(self, n: int) -> "Dataset":
        return Dataset({k: v[:n] for k, v in self.inputs.items()},
                       None if self.labels is None else self.labels[:n], self.origin,
                       None if self.texts is None else self.texts[:n])

    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.inputs):
            h.update(name.encode() + np.ascontiguousarray(self.inputs[name]).tobytes())
        if self.labels is not None:
            h.update(np.ascontiguousarray(self.labels).tobytes())
        for text in self.texts or ():
            h.update(text.encode() + b"\0")
        return h.hexdigest()


def load_dataset(spec: Spec, key: str) -> Dataset | None:
    source: DataSource | None = getattr(spec.model, key)
    if source is None:
        return None
    path = f"model.{key}"
    if source.text:
        from compiler.passes.text_data import load_text

        inputs, labels, texts = load_text(spec, key)
        return Dataset(inputs, labels, key, texts)
    if source.npz:
        file = spec.resolve_path(source.npz)
        if not file.is_file():
            raise SpecError(SpecIssue(f"{path}.npz", f"file not found: {source.npz}"))
        with np.load(file, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        labels = arrays.pop("labels", None)
    else:
        result = call_factory(load_factory(spec, source.factory, f"{path}.factory"), f"{path}.factory")
        arrays, labels = result if isinstance(result, tuple) else (result, None)
        if not isinstance(arrays, dict):
            raise SpecError(SpecIssue(f"{path}.factory", "must return {input_name: array} (and labels for evaluation)"))
    data = Dataset({k: np.asarray(v) for k, v in arrays.items()},
                   None if labels is None else np.asarray(labels), key)
    check_dataset(spec, data, path)
    return data.take(source.samples) if key == "calibration" else data


def check_dataset(spec: Spec, data: Dataset, path: str) -> None:
    names = [t.name for t in spec.model.inputs]
    if sorted(data.inputs) != sorted(names):
        raise SpecError(SpecIssue(path, f"has inputs {sorted(data.inputs)}, the signature has {sorted(names)}"))
    for t in spec.model.inputs:
        arr = data.inputs[t.name]
        if arr.ndim != len(t.shape) or any(isinstance(d, int) and d != a for d, a in zip(t.shape, arr.shape)):
            raise SpecError(SpecIssue(path, f"input '{t.name}' has shape {list(arr.shape)}, "
                                            f"the signature says {list(t.shape)} (dim 0 is the sample axis)"))
    data_checks.check_values(spec, data.inputs, path)  # before the cast: NaN cast to an int hides
    for t in spec.model.inputs:
        if data.inputs[t.name].dtype != np.dtype(t.dtype):
            data.inputs[t.name] = data.inputs[t.name].astype(t.dtype)
    data_checks.check_values(spec, data.inputs, path)  # and after: float64 beyond float32 is Inf
    if data.labels is not None and len(data.labels) != data.size:
        raise SpecError(SpecIssue(path, f"{len(data.labels)} labels for {data.size} samples"))
    if data.labels is not None:
        data.labels = data_checks.check_labels(spec, data.labels, path, *data_checks.declared_classes(spec))
    if spec.target.is_edge:
        _check_fixed_dims(spec, data, path)


def _check_fixed_dims(spec: Spec, data: Dataset, path: str) -> None:
    """TFLite shapes are fixed: data from a factory (an .npz is checked at validation) must have
    the edge target's fixed dims, found here before any conversion runs."""
    fixed = spec.optimize.edge.fixed_dims
    for t in spec.model.inputs:
        shape = data.inputs[t.name].shape
        for i, dim in list(t.dynamic_dims.items())[1:]:  # dim 0 is the sample axis
            if dim in fixed and shape[i] != fixed[dim]:
                raise SpecError([
                    SpecIssue(path, f"input '{t.name}' has {dim} = {shape[i]} (shape {list(shape)}), but the "
                                    f"edge target's model is fixed at {dim} = {fixed[dim]}"),
                    SpecIssue(f"optimize.edge.fixed_dims.{dim}", f"set it to {shape[i]}, or make the data "
                                                                  f"{fixed[dim]} long")])


def synthesize(spec: Spec, samples: int) -> Dataset:
    rng = np.random.default_rng(spec.model.seed)
    fixed = spec.optimize.edge.fixed_dims if spec.target.is_edge else {}  # TFLite shapes are fixed
    inputs = {}
    for t in spec.model.inputs:
        shape = t.concrete(samples, {d: fixed.get(d, SYNTH_DIMS) for d in t.dynamic_dims.values()})
        low, high = t.range or ((0, 100) if "int" in t.dtype else (-1.0, 1.0))
        if "int" in t.dtype:
            inputs[t.name] = rng.integers(int(low), int(high) + 1, size=shape).astype(t.dtype)
        elif t.dtype == "bool":
            inputs[t.name] = rng.random(shape) > 0.5
        else:
            inputs[t.name] = rng.uniform(low, high, size=shape).astype(t.dtype)
    return Dataset(inputs, None, "synthetic")


def verification_set(spec: Spec, evaluation: Dataset | None, calibration: Dataset | None) -> Dataset:
    """The inputs every candidate is compared on: all of the labelled holdout when given (accuracy
    is measured on it), else optimize.verify_samples of calibration or synthesized data."""
    if evaluation is not None:
        return evaluation
    if calibration is not None:
        return calibration.take(spec.optimize.verify_samples)
    return synthesize(spec, spec.optimize.verify_samples)
