"""Spec rules that only matter when the target emits Kubernetes manifests.

Each is a limit the API server or a rollout controller would enforce at apply time, checked
here so that a bad spec fails the build with a path instead of a half-applied release.
"""

from __future__ import annotations

import re
from typing import Iterator

from compiler.errors import SpecIssue
from compiler.frontend import rules_experiment, rules_traffic
from compiler.frontend.spec import Spec

# Services are DNS-1035 labels (start with a letter); the longest suffix added to the name is
# 8 characters ("-preview", "-metrics", Flagger's "-primary"; "-canary" and "-stable" are 7).
MAX_NAME = 63 - len("-preview")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# A label value that is also a valid image tag (the version is both).
_VERSION = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NAME_PART = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
RESERVED_LABELS = frozenset(f"app.kubernetes.io/{k}" for k in
                            ("name", "instance", "version", "component", "part-of", "managed-by"))


def check(spec: Spec) -> Iterator[SpecIssue]:
    if "kubernetes" not in spec.target.emitters:
        return
    for rule in (_names, _ports, _replicas, _labels, _namespaces, _canary_controller, rules_traffic.check,
                 rules_experiment.check):
        yield from rule(spec)


def _names(spec: Spec):
    if not _DNS1035.match(spec.name) or len(spec.name) > MAX_NAME:
        yield SpecIssue("name", f"{spec.name!r} must start with a letter and be at most {MAX_NAME} characters "
                                "(Kubernetes Service names, with the '-preview'/'-primary' suffixes)")
    if not _VERSION.match(spec.version):
        yield SpecIssue("version", f"{spec.version!r} must be a valid label value and image tag: "
                                   "letters, digits, '-', '_', '.', at most 63, alphanumeric at both ends")


def _ports(spec: Spec):
    if spec.serve.port == spec.serve.metrics_port:
        yield SpecIssue("serve.metrics_port", f"must differ from serve.port ({spec.serve.port})")
    if spec.serve.grpc_port in (spec.serve.port, spec.serve.metrics_port):
        yield SpecIssue("serve.grpc_port", f"must differ from serve.port ({spec.serve.port}) and "
                                           f"serve.metrics_port ({spec.serve.metrics_port})")


def _replicas(spec: Spec):
    if spec.serve.replicas.min < 1:
        yield SpecIssue("serve.replicas.min", "must be at least 1 (a HorizontalPodAutoscaler cannot scale to zero "
                                              "without the HPAScaleToZero alpha feature)")


def _labels(spec: Spec):
    for key, value in spec.serve.labels.items():
        yield from key_issues(f"serve.labels.{key}", key)
        if key in RESERVED_LABELS:
            yield SpecIssue(f"serve.labels.{key}", "set by deployc (recommended labels); choose another key")
        yield from label_value_issue(f"serve.labels.{key}", value, " (put free text in serve.annotations)")
    for key in spec.serve.annotations:
        yield from key_issues(f"serve.annotations.{key}", key)


def label_value_issue(path: str, value: str, hint: str = ""):
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        yield SpecIssue(path, f"label value {value!r} is invalid: at most 63 characters, letters, digits, '-', '_', "
                              f"'.', alphanumeric at both ends{hint}")


def key_issues(path: str, key: str):
    """A label or annotation key (also a toleration's key): [DNS-subdomain prefix '/'] name."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not all(_DNS1123.match(p) for p in prefix.split("."))):
        yield SpecIssue(path, f"key prefix {prefix!r} must be a DNS subdomain (e.g. example.com)")
    if not name or len(name) > 63 or not _NAME_PART.match(name):
        yield SpecIssue(path, f"key name {name!r} must be 1-63 letters, digits, '-', '_', '.', "
                              "alphanumeric at both ends")


def _namespaces(spec: Spec):
    for i, ns in enumerate(spec.serve.allow_from_namespaces):
        if not _DNS1123.match(ns) or len(ns) > 63:
            yield SpecIssue(f"serve.allow_from_namespaces[{i}]", f"{ns!r} is not a namespace name (DNS-1123 label)")
    ns = spec.monitoring.namespace
    if spec.monitoring.enabled and (not _DNS1123.match(ns) or len(ns) > 63):
        yield SpecIssue("monitoring.namespace", f"{ns!r} is not a namespace name (DNS-1123 label)")


def _canary_controller(spec: Spec):
    r = spec.rollout
    if r.strategy != "canary":
        return
    if not any(step.set_weight is not None for step in r.canary.steps):
        yield SpecIssue("rollout.canary.steps", "a canary needs at least one set_weight step")
    for i, step in enumerate(r.canary.steps if r.controller == "flagger" else ()):
        if step.pause is not None:  # flagger.py would have nowhere to put it: no silent drop
            yield SpecIssue(f"rollout.canary.steps[{i}].pause",
                            f"controller flagger has no pause step: it moves to the next set_weight every "
                            f"rollout.analysis.interval ({r.analysis.interval}) once the checks pass; remove the "
                            "pause steps and set rollout.analysis.interval to how long each weight should hold, "
                            "or use controller argo")
    if r.controller == "flagger" and r.analysis.on_no_data == "inconclusive":
        yield SpecIssue("rollout.analysis.on_no_data",
                        "Flagger has no 'inconclusive' outcome (a query without data counts as a failed "
                        "check); choose 'fail' or 'pass' for controller flagger")
