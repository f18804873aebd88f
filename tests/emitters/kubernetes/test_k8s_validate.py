"""Every emitted object validates strictly: built-in kinds with kubernetes-validate for each
claimed Kubernetes version, custom resources against the upstream CRD schemas."""

from __future__ import annotations

import copy
from functools import lru_cache

import jsonschema
import kubernetes_validate
import pytest
from k8s_helpers import CASES, emit_case, manifests

import crd_validate
from compiler.emitters.kubernetes import SUPPORTED_KUBERNETES_VERSIONS

CUSTOM_GROUPS = ("argoproj.io/", "flagger.app/", "gateway.networking.k8s.io/", "networking.istio.io/")


@lru_cache(maxsize=None)
def _objects(case: str) -> dict:
    objs = manifests(emit_case(case))
    objs.pop("kustomization.yaml")  # kustomize's own config, not an API object
    return objs


def _builtin(case: str) -> dict:
    return {n: o for n, o in _objects(case).items() if not o["apiVersion"].startswith(CUSTOM_GROUPS)}


def _custom(case: str) -> dict:
    return {n: o for n, o in _objects(case).items() if o["apiVersion"].startswith(CUSTOM_GROUPS)}


def _k8s_validate(obj: dict, version: str) -> None:
    # SchemaNotFoundError is not caught: an object the schemas do not know is a failure.
    kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_builtin_objects_validate_strictly(case, version):
    objs = _builtin(case)
    assert objs, "no built-in objects emitted"
    for name, obj in objs.items():
        try:
            _k8s_validate(obj, version)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{case}/{name} invalid for Kubernetes {version}: {exc}")


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
@pytest.mark.parametrize("case", ["canary", "blue-green"])
def test_rollout_pod_template_is_a_valid_deployment_template(case, version):
    """The Rollout's pod template, wrapped in a Deployment, passes the Kubernetes schema too."""
    rollout = _custom(case)["rollout.yaml"]
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "probe"},
                  "spec": {"selector": rollout["spec"]["selector"], "template": rollout["spec"]["template"]}}
    _k8s_validate(deployment, version)


def test_strict_mode_rejects_unknown_fields():
    deployment = copy.deepcopy(_builtin("rolling")["deployment.yaml"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _k8s_validate(deployment, SUPPORTED_KUBERNETES_VERSIONS[-1])


def test_unknown_version_is_an_error_not_a_pass():
    with pytest.raises(kubernetes_validate.utils.VersionNotSupportedError):
        _k8s_validate(_builtin("rolling")["pdb.yaml"], "1.99")


@pytest.mark.parametrize("case", ["canary", "blue-green", "flagger-canary"])
def test_custom_resources_validate_against_crds(case):
    objs = _custom(case)
    assert objs, "no custom resources emitted"
    for name, obj in objs.items():
        try:
            crd_validate.validate_custom(obj)
        except jsonschema.ValidationError as exc:
            pytest.fail(f"{case}/{name} invalid against its CRD: {exc.message} at {list(exc.absolute_path)}")


@pytest.mark.parametrize("case, file, path", [
    ("canary", "rollout.yaml", ("spec", "strategy", "canary")),
    ("canary", "rollout.yaml", ("spec", "template", "spec", "containers", 0)),
    ("canary", "analysistemplate.yaml", ("spec", "metrics", 0, "provider", "prometheus")),
    ("canary", "analysistemplate.yaml", ("spec", "args", 0)),
    ("canary", "rollout.yaml", ("spec", "strategy", "canary", "steps", 2, "analysis", "args", 0, "valueFrom")),
    ("blue-green", "rollout.yaml", ("spec", "strategy", "blueGreen", "prePromotionAnalysis", "args", 0)),
    ("flagger-canary", "canary.yaml", ("spec", "analysis")),
    ("flagger-canary", "metrictemplate-error-ratio.yaml", ("spec",)),
])
def test_crd_validator_rejects_unknown_fields(case, file, path):
    obj = copy.deepcopy(_custom(case)[file])
    node = obj
    for key in path:
        node = node[key]
    node["notAField"] = True
    with pytest.raises(jsonschema.ValidationError):
        crd_validate.validate_custom(obj)


def test_crd_validator_refuses_kinds_it_has_no_schema_for():
    with pytest.raises(LookupError):
        crd_validate.validate_custom({"apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment"})
