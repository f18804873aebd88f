"""PrometheusRule and ServiceMonitor against the upstream CRDs (strict), and what they select."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from compiler.emitters import catalog_check
from compiler.emitters.catalog_check import series_label
from compiler.emitters.monitoring import manifests
from monitoring_helpers import EXAMPLES, emit, load

import crd_validate  # tests/crd_validate.py, put on sys.path by monitoring_helpers


@pytest.fixture(scope="module", params=EXAMPLES)
def files(request):
    return emit(request.param)


@pytest.mark.parametrize("name", ["prometheusrule.yaml", "servicemonitor.yaml"])
def test_validates_strictly_against_the_crd(files, name):
    crd_validate.validate_custom(load(files, name))


def test_the_strict_validator_rejects_an_undeclared_field(files):
    import jsonschema

    rule = load(files, "prometheusrule.yaml")
    rule["spec"]["groups"][0]["rules"][0]["severity"] = "page"  # belongs under labels
    with pytest.raises(jsonschema.ValidationError):
        crd_validate.validate_custom(rule)


def test_the_strict_validator_rejects_a_misspelled_pod_target_labels(files):
    import jsonschema

    monitor = load(files, "servicemonitor.yaml")
    monitor["spec"]["podTargetLabel"] = monitor["spec"].pop("podTargetLabels")
    with pytest.raises(jsonschema.ValidationError):
        crd_validate.validate_custom(monitor)


def test_servicemonitor_adds_exactly_the_scrape_labels_the_cross_check_accepts(files):
    """The canary analysis filters on the Argo hash: the ServiceMonitor must put it on every series,
    and the cross-check may accept no pod label the ServiceMonitor does not copy."""
    monitor = load(files, "servicemonitor.yaml")
    assert monitor["spec"]["podTargetLabels"] == ["rollouts-pod-template-hash"]
    copied = {series_label(p) for p in monitor["spec"]["podTargetLabels"]}
    assert copied == {"rollouts_pod_template_hash"} == {catalog_check.CANARY_HASH_LABEL}
    assert catalog_check.SCRAPE_LABELS == {"job", "instance", "namespace", "pod"} | copied


def test_module_docs_show_the_relabel_configs_a_plain_prometheus_needs():
    rendered = yaml.safe_dump({"relabel_configs": manifests.relabel_configs()}, default_flow_style=None)
    assert textwrap.indent(rendered, "    ") in manifests.__doc__
    targets = {r["target_label"] for r in manifests.relabel_configs()}
    assert targets == catalog_check.SCRAPE_LABELS - catalog_check.TARGET_LABELS


def test_prometheusrule_carries_the_plain_rules_file(files):
    rule = load(files, "prometheusrule.yaml")
    assert rule["spec"] == load(files, "rules.yaml")
    assert rule["metadata"]["namespace"] == "monitoring"
    assert rule["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "deployc"


def test_servicemonitor_selects_the_metrics_port_of_the_models_service(files):
    monitor = load(files, "servicemonitor.yaml")
    name = monitor["metadata"]["name"]
    assert monitor["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
    assert monitor["spec"]["endpoints"] == [{"path": "/metrics", "port": "metrics"}]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["default"]}
    # job=<name>, which DeploycTargetDown selects.
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
    target_down = [r for g in load(files, "rules.yaml")["groups"] for r in g["rules"]
                   if r.get("alert") == "DeploycTargetDown"]
    assert target_down[0]["expr"] == f'up{{job="{name}"}} == 0'


def test_every_alert_has_model_severity_and_summary(files):
    rules = [r for g in load(files, "rules.yaml")["groups"] for r in g["rules"] if "alert" in r]
    model = load(files, "servicemonitor.yaml")["metadata"]["name"]
    assert len(rules) >= 10
    for rule in rules:
        assert rule["labels"]["model"] == model
        assert rule["labels"]["severity"] in ("page", "ticket")
        assert set(rule["annotations"]) >= {"summary", "description"}


def test_spec_labels_reach_alerts_and_metadata():
    files = emit("digits-cnn")
    assert load(files, "servicemonitor.yaml")["metadata"]["labels"]["team"] == "ml-platform"
    alerts = [r for g in load(files, "rules.yaml")["groups"] for r in g["rules"] if "alert" in r]
    assert {r["labels"]["team"] for r in alerts} == {"ml-platform"}


def test_yaml_is_sorted_and_reloads_identically(files):
    for name, data in files.items():
        if name.endswith(".yaml"):
            doc = yaml.safe_load(data)
            assert yaml.safe_dump(doc, sort_keys=True, allow_unicode=True).encode() == data
