"""optimize.distill rules that the per-field schema cannot express (schemas/spec.yaml)."""

from __future__ import annotations

import math

from compiler.errors import SpecIssue
from compiler.frontend.spec import Spec

KEY = "optimize.distill"


def check(spec: Spec):
    d = spec.optimize.distill
    if d is None:
        return
    if d.student is not None and d.layers is not None:
        yield SpecIssue(KEY, "give 'student' (a factory) or 'layers' (a depth reduction), not both")
    if d.student is None and d.layers is None:
        yield SpecIssue(KEY, "needs 'student' (a factory, e.g. model.py:build_student) or 'layers' "
                             "(a huggingface source's depth reduction)")
    if d.layers is not None and spec.model.source != "huggingface":
        yield SpecIssue(f"{KEY}.layers", f"a depth reduction reads the teacher's config.json: it needs "
                                         f"model.source huggingface (the source is {spec.model.source}); "
                                         "give a student factory instead")
    # The schema's min is inclusive; a temperature or a learning rate of 0 (or NaN) trains nothing.
    for name in ("temperature", "learning_rate"):
        value = getattr(d, name)
        if not (math.isfinite(value) and value > 0):
            yield SpecIssue(f"{KEY}.{name}", f"must be a finite number > 0 (got {value})")
    if spec.model.source == "onnx":
        yield SpecIssue(KEY, "the teacher must be a torch module (model.source pytorch or huggingface) to "
                             "train a student against it; the source is onnx")
    if spec.model.task == "text-generation":
        yield SpecIssue(KEY, "distillation of text-generation models is not supported")
    if d.data is None and spec.model.calibration is None:
        yield SpecIssue(f"{KEY}.data", "the student trains on the teacher's outputs on inputs: give "
                                       "optimize.distill.data (npz or factory) or model.calibration")
    if d.data is not None and bool(d.data.npz) == bool(d.data.factory):
        yield SpecIssue(f"{KEY}.data", "needs one of 'npz' or 'factory'" + (", not both" if d.data.npz else ""))
