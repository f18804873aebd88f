"""PrometheusRule and ServiceMonitor against the upstream CRDs (strict), and what they select."""

from __future__ import annotations

import pytest
import yaml

from monitoring_helpers import EXAMPLES, emit, load

import crd_validate  # tests/crd_validate.py, put on sys.path by monitoring_helpers

needs_crds = pytest.mark.skipif(crd_validate.crds_dir() is None, reason=crd_validate.skip_reason())


@pytest.fixture(scope="module", params=EXAMPLES)
def files(request):
    return emit(request.param)


@needs_crds
@pytest.mark.parametrize("name", ["prometheusrule.yaml", "servicemonitor.yaml"])
def test_validates_strictly_against_the_crd(files, name):
    crd_validate.validate_custom(load(files, name))


@needs_crds
def test_the_strict_validator_rejects_an_undeclared_field(files):
    import jsonschema

    rule = load(files, "prometheusrule.yaml")
    rule["spec"]["groups"][0]["rules"][0]["severity"] = "page"  # belongs under labels
    with pytest.raises(jsonschema.ValidationError):
        crd_validate.validate_custom(rule)


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
