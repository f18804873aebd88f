"""Target profile values that land in the Kubernetes manifests, checked as the API server would.

A profile is data like the spec (the spec's own `target/` folder may add one), and its resources,
node selector, tolerations and runtime class are copied into the Deployment/Rollout verbatim:
`cpu: lots` would be emitted and refused only at apply time.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from compiler.errors import SpecIssue
from compiler.frontend.rules_kubernetes import key_issues, label_value_issue
from compiler.frontend.spec import Spec

# resource.Quantity (k8s.io/apimachinery): a number, then a binary or decimal SI suffix or an
# exponent. Signs are legal there but a negative request is not, so none is accepted here.
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
                       r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check(spec: Spec) -> list[SpecIssue]:
    return [*_resources(spec), *_node_selector(spec), *_tolerations(spec), *_runtime_class(spec)]


def _resources(spec: Spec):
    res = spec.target.resources
    for key, example in (("cpu", "500m, 2"), ("memory", "512Mi, 4Gi")):
        value = getattr(res, key)
        match = _QUANTITY.match(value)
        try:
            positive = match is not None and Decimal(match.group("number")) > 0
        except InvalidOperation:
            positive = False
        if not positive:
            yield SpecIssue(f"target.resources.{key}", f"{value!r} is not a positive Kubernetes quantity "
                                                       f"(e.g. {example})")


def _node_selector(spec: Spec):
    for key, value in spec.target.node_selector.items():
        path = f"target.node_selector.{key}"
        yield from key_issues(path, key)
        yield from label_value_issue(path, value)


def _tolerations(spec: Spec):
    for i, t in enumerate(spec.target.tolerations):
        path = f"target.tolerations[{i}]"
        yield from key_issues(f"{path}.key", t.key)
        if t.value is not None:
            yield from label_value_issue(f"{path}.value", t.value)
        if t.operator == "Exists" and t.value:
            yield SpecIssue(f"{path}.value", "must be empty when operator is Exists (use operator Equal to match "
                                             "a value)")


def _runtime_class(spec: Spec):
    name = spec.target.runtime_class
    if name is not None and (len(name) > 253 or not _SUBDOMAIN.match(name)):
        yield SpecIssue("target.runtime_class", f"{name!r} is not a RuntimeClass name (DNS-1123 subdomain: "
                                                "lower-case letters, digits, '-' and '.')")
