"""rollout.strategy experiment: strictly valid objects for Argo and Flagger on every router, the
route to variant B where each controller reads it, the variant scrape label, the comparison
queries under real promtool, and the catalog cross-check."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from k8s_helpers import emit, manifests, spec_for

import crd_validate
from compiler.emitters.base import EmitContext
from compiler.emitters.catalog_check import EXPERIMENT_LABELS, known_series
from compiler.emitters.kubernetes import SUPPORTED_KUBERNETES_VERSIONS, crosscheck
from compiler.emitters.kubernetes import experiment_queries as eq
from compiler.emitters.monitoring import MonitoringEmitter

ROUTERS = {
    "gateway-api": "{router: gateway-api, gateway: {name: public, namespace: gateway-system}, hosts: [d.example.com]}",
    "nginx": "{router: nginx, hosts: [d.example.com]}",
    "istio": "{router: istio, gateway: {name: edge, namespace: istio-system}, hosts: [d.example.com]}",
    "smi": "{router: smi}",  # weights only
}
ROUTES = {"header": "rollout.experiment.header={name: X-Model-Variant, value: b}",  # emitted lower-case
          "cookie": "rollout.experiment.cookie=model_b", "weight": "rollout.experiment.weight=20"}
FLAGGER = ["+rollout.controller=flagger", "rollout.analysis.on_no_data=pass"]
CUSTOM = ("apiVersion",)


def overrides(router: str, how: str, controller: str = "argo") -> list[str]:
    return (["rollout.strategy=experiment", "~rollout.traffic", f"+rollout.traffic={ROUTERS[router]}", ROUTES[how]]
            + (FLAGGER if controller == "flagger" else []))


@lru_cache(maxsize=None)
def objects(router: str, how: str, controller: str = "argo") -> dict:
    return manifests(emit("digits-cnn", overrides(router, how, controller)))


MATCHING = [r for r in ROUTERS if r != "smi"]
CASES = ([(r, h, "argo") for r in MATCHING for h in ROUTES] + [("smi", "weight", "argo")]
         + [(r, h, "flagger") for r in MATCHING for h in ("header", "cookie")])


@pytest.mark.parametrize("router,how,controller", CASES)
def test_every_object_validates_strictly(router, how, controller):
    objs = dict(objects(router, how, controller))
    assert objs.pop("kustomization.yaml")["resources"] == sorted(objs)
    for obj in objs.values():
        if obj["apiVersion"].startswith(("argoproj.io/", "flagger.app/", "gateway.networking.k8s.io/",
                                          "networking.istio.io/")):
            crd_validate.validate_custom(obj)
        else:
            kubernetes_validate.validate(obj, SUPPORTED_KUBERNETES_VERSIONS[-1], strict=True)


def _canary(objs: dict) -> dict:
    return objs["rollout.yaml"]["spec"]["strategy"]["canary"]


@pytest.mark.parametrize("router", ["istio", "gateway-api"])
def test_argo_header_route_is_a_managed_route(router):
    c = _canary(objects(router, "header"))
    assert c["trafficRouting"]["managedRoutes"] == [{"name": "variant-b"}]
    route = next(s["setHeaderRoute"] for s in c["steps"] if "setHeaderRoute" in s)
    assert route["match"] == [{"headerName": "x-model-variant", "headerValue": {"exact": "b"}}]
    assert c["steps"][0] == {"setCanaryScale": {"replicas": 2}} and "analysis" in c["steps"][-1]
    assert c["stableMetadata"]["labels"] == {"deployc.dev/variant": "control"}
    assert c["canaryMetadata"]["labels"] == {"deployc.dev/variant": "candidate"}


def test_argo_cookie_and_nginx_routes():
    c = _canary(objects("istio", "cookie"))
    match = next(s["setHeaderRoute"] for s in c["steps"] if "setHeaderRoute" in s)["match"][0]
    assert match == {"headerName": "cookie", "headerValue": {"regex": "^(.*?;)?(model_b=always)(;.*)?$"}}
    nginx = _canary(objects("nginx", "header"))
    assert nginx["trafficRouting"]["nginx"]["additionalIngressAnnotations"] == {
        "canary-by-header": "x-model-variant", "canary-by-header-value": "b"}
    assert not any("setHeaderRoute" in s for s in nginx["steps"])
    assert _canary(objects("nginx", "cookie"))["trafficRouting"]["nginx"]["additionalIngressAnnotations"] == {
        "canary-by-cookie": "model_b"}
    weight = _canary(objects("gateway-api", "weight"))
    assert weight["steps"][0] == {"setWeight": 20} and "managedRoutes" not in weight["trafficRouting"]


def test_flagger_ab_analysis():
    analysis = objects("istio", "header", "flagger")["canary.yaml"]["spec"]["analysis"]
    assert analysis["match"] == [{"headers": {"x-model-variant": {"exact": "b"}}}]
    assert analysis["iterations"] == 5 and "stepWeights" not in analysis
    assert {m["name"] for m in analysis["metrics"]} == {"error-ratio", "slow-ratio", "quality"}
    nginx = objects("nginx", "cookie", "flagger")["canary.yaml"]["spec"]["analysis"]["match"]
    assert nginx == [{"headers": {"cookie": {"exact": "model_b"}}}]


def test_queries_compare_the_variants_and_pass_the_cross_check():
    template = objects("istio", "header")["analysistemplate.yaml"]
    for m in template["spec"]["metrics"]:
        q = m["provider"]["prometheus"]["query"]
        assert 'variant="control"' in q and 'variant="candidate"' in q and "> bool 1.96" in q
        assert ">= 1000" in q and q.rstrip().endswith("or vector(-1)")
        assert m["inconclusiveLimit"] == m["count"] - 1
    quality = next(m for m in template["spec"]["metrics"] if m["name"] == "quality")
    assert 'deployc_feedback_total{model="digits-cnn",correct="true",variant="control"}' in \
        quality["provider"]["prometheus"]["query"]
    assert quality["successCondition"] == "result[0] == 0" and quality["failureCondition"] == "result[0] == 2"


def test_cross_check_catches_a_wrong_metric_name():
    spec = spec_for("digits-cnn", overrides("istio", "header"))
    good = eq.checks(spec, "digits-cnn")[2].query
    bad = good.replace("deployc_feedback_total", "deployc_feedbacks_total")
    known = known_series(EXPERIMENT_LABELS)
    assert crosscheck.problems(good, known) == []
    with pytest.raises(crosscheck.MetricCrossCheckError, match="unknown metric 'deployc_feedbacks_total'"):
        crosscheck.check([crosscheck.NamedQuery("AnalysisTemplate/digits-cnn metric quality", bad)], known)
    wrong_label = good.replace('correct="true"', 'right="true"')
    assert any("unknown label 'right'" in p for p in crosscheck.problems(wrong_label, known))


def test_only_an_experiment_may_filter_on_variant():
    """A canary's ServiceMonitor adds no `variant`: a canary query filtering on it is refused."""
    query = eq.checks(spec_for("digits-cnn", overrides("istio", "header")), "digits-cnn")[0].query
    assert any("unknown label 'variant'" in p for p in crosscheck.problems(query))


def _monitoring(ovr: list[str]) -> dict[str, bytes]:
    ctx = EmitContext(spec=spec_for("digits-cnn", ovr), selected=None, runtime=None, report=None)
    return MonitoringEmitter().emit(ctx)


@pytest.mark.parametrize("controller", ["argo", "flagger"])
def test_service_monitor_adds_the_variant_label(controller):
    files = _monitoring(overrides("istio", "header", controller))
    endpoint = yaml.safe_load(files["monitoring/servicemonitor.yaml"])["spec"]["endpoints"][0]
    crd_validate.validate_custom(yaml.safe_load(files["monitoring/servicemonitor.yaml"]))
    labels = {r["targetLabel"] for r in endpoint["relabelings"]}
    assert labels == {"variant"}
    if controller == "flagger":
        assert [(r["regex"], r["replacement"]) for r in endpoint["relabelings"]] == [
            ("digits-cnn-primary", "control"), ("digits-cnn", "candidate")]
    plain = _monitoring([])  # other strategies: no relabelings, as before
    assert "relabelings" not in yaml.safe_load(plain["monitoring/servicemonitor.yaml"])["spec"]["endpoints"][0]


@pytest.mark.parametrize("extra", [[], ["rollout.experiment.quality_metric={name: deployc_requests_total, "
                                        "match: {outcome: success}, better: higher}",
                                        "rollout.experiment.confidence=0.99", "rollout.experiment.min_samples=50"]])
def test_promtool_passes_the_comparison_tests(tmp_path: Path, extra):
    files = _monitoring(overrides("istio", "header") + extra)
    (tmp_path / "experiment.test.yaml").write_bytes(files["monitoring/experiment.test.yaml"])
    doc = yaml.safe_load(files["monitoring/experiment.test.yaml"])
    values = {t["promql_expr_test"][0]["exp_samples"][0]["value"] for t in doc["tests"]}
    assert values == {-1, 0, 1, 2} and len(doc["tests"]) == 15
    run = subprocess.run(["promtool", "test", "rules", "experiment.test.yaml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_promtool_fails_a_wrong_expectation(tmp_path: Path):
    """The tests can fail: flip one expected verdict and promtool must refuse it."""
    doc = yaml.safe_load(_monitoring(overrides("istio", "header"))["monitoring/experiment.test.yaml"])
    doc["tests"] = doc["tests"][:1]
    doc["tests"][0]["promql_expr_test"][0]["exp_samples"][0]["value"] = 1
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(doc))
    run = subprocess.run(["promtool", "test", "rules", "t.yaml"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0
