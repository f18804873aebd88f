"""Checks of spec values that passes and emitters used to make only once they ran.

Each one needs nothing but the spec, so it belongs in `deployc validate`: a bad value fails in
a second, with its key path and line, instead of after every pass has run. The passes and
emitters keep their own checks as a last line of defence for callers that skip the front end.
"""

from __future__ import annotations

import re

from compiler.errors import SpecError, SpecIssue
from compiler.frontend.spec import Spec

# Same patterns as compiler/emitters/monitoring/rules.py (Prometheus label names; Kubernetes
# label values, since monitoring labels also go on the PrometheusRule's metadata).
_PROM_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_K8S_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_DEPLOYC_ALERT_LABELS = ("model", "severity", "alertname")


def check(spec: Spec) -> list[SpecIssue]:
    return [*_monitoring_labels(spec), *_edge_fixed_dims(spec), *_base_image(spec)]


def _monitoring_labels(spec: Spec):
    if not spec.monitoring.enabled:
        return
    for key, value in spec.monitoring.labels.items():
        path = f"monitoring.labels.{key}"
        if not _PROM_LABEL.match(key) or key.startswith("__"):
            yield SpecIssue(path, "not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)")
        elif key in _DEPLOYC_ALERT_LABELS:
            yield SpecIssue(path, f"'{key}' is set by deployc on every alert; choose another name")
        if not _K8S_LABEL_VALUE.match(value):
            yield SpecIssue(path, f"label value {value!r} is invalid: at most 63 characters, letters, digits, "
                                  "'-', '_', '.', alphanumeric at both ends (a Kubernetes label value)")
    if "{{" in spec.monitoring.runbook_url:
        # Alert annotations are Go templates: a literal {{ would be read as one.
        yield SpecIssue("monitoring.runbook_url", "must not contain '{{'")


def _edge_fixed_dims(spec: Spec):
    """TFLite converts at fixed shapes: every symbolic dim after the batch needs its size."""
    t = spec.target
    if not (t.is_edge and "tflite" in t.passes):
        return
    dims = spec.optimize.edge.fixed_dims
    missing: dict[str, str] = {}
    for tensor in spec.model.inputs:  # outputs follow from the inputs (the pass fixes only inputs)
        for axis, d in tensor.dynamic_dims.items():
            if axis > 0 and d not in dims:
                missing.setdefault(d, f"input '{tensor.name}' dim {axis}")
    for d, where in missing.items():
        yield SpecIssue("optimize.edge.fixed_dims", f"{where} ('{d}') is symbolic and TFLite needs fixed shapes: "
                                                    f"set optimize.edge.fixed_dims.{d} to its size on the device")
    known = {d for tensors in (spec.model.inputs, spec.model.outputs) for x in tensors for d in x.shape
             if isinstance(d, str)}
    for d in dims:
        if d not in known:
            yield SpecIssue(f"optimize.edge.fixed_dims.{d}", f"no input or output has a dim named '{d}' "
                                                             f"(symbolic dims: {', '.join(sorted(known)) or 'none'})")


def _base_image(spec: Spec):
    """The image emitter must know which Python the base image runs to pick wheels."""
    if "image" not in spec.target.emitters:
        return
    from compiler.locks import base_image  # light: no torch, no model

    try:
        base_image(spec.target.image.base)
    except SpecError as exc:
        for issue in exc.issues:
            yield SpecIssue("target.image.base", issue.message)
