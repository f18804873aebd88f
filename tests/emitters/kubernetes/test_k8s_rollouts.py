"""Rollout policies: rolling, Argo blue-green and canary, Flagger canary; and on_no_data."""

from __future__ import annotations

import pytest
from k8s_helpers import emit, emit_case, manifests, one

from compiler.emitters.kubernetes import analysis_queries as aq


def test_rolling_is_a_plain_deployment_without_controller_objects():
    kinds = sorted(o["kind"] for n, o in manifests(emit_case("rolling")).items() if n != "kustomization.yaml")
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget",
                     "Service", "Service", "ServiceAccount"]
    assert "replicas" not in manifests(emit_case("rolling"))["deployment.yaml"]["spec"]  # the HPA owns it


# Every analysis run judges the newest ReplicaSet: the canary, or blue-green's preview.
ANALYSIS = {"templates": [{"templateName": "digits-cnn"}],
            "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]}


def test_argo_canary_steps_follow_the_spec():
    files = emit_case("canary")
    rollout = one(files, "Rollout")["spec"]
    assert rollout["strategy"]["canary"]["steps"] == [
        {"setWeight": 10}, {"pause": {"duration": "1m"}}, {"analysis": ANALYSIS},
        {"setWeight": 50}, {"pause": {"duration": "2m"}}, {"analysis": ANALYSIS}]
    assert rollout["strategy"]["canary"]["maxUnavailable"] == 0
    assert one(files, "AnalysisTemplate")["metadata"]["name"] == "digits-cnn"
    assert one(files, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "digits-cnn"}
    assert not any(o["kind"] == "Deployment" for o in manifests(files).values())


def test_rollout_runs_the_same_pod_as_the_deployment():
    rolled = one(emit("digits-cnn", []), "Rollout")["spec"]["template"]
    plain = one(emit("digits-cnn", ["rollout.strategy=rolling"]), "Deployment")["spec"]["template"]
    assert rolled == plain


def test_argo_blue_green_services_and_promotion():
    files = emit_case("blue-green")
    bg = one(files, "Rollout")["spec"]["strategy"]["blueGreen"]
    assert bg == {"activeService": "text-encoder", "previewService": "text-encoder-preview",
                  "autoPromotionEnabled": False, "scaleDownDelaySeconds": 30,
                  "prePromotionAnalysis": {**ANALYSIS, "templates": [{"templateName": "text-encoder"}]}}
    objs = manifests(files)
    assert objs["service-preview.yaml"]["spec"]["ports"] == [
        {"name": "http", "port": 8081, "targetPort": "http", "protocol": "TCP"}]
    assert objs["service.yaml"]["spec"]["ports"][0]["port"] == 8080


def test_blue_green_auto_promotion_settings():
    files = emit("text-encoder", ["rollout.blue_green.auto_promotion=true",
                                  "+rollout.blue_green.auto_promotion_seconds=120",
                                  "+rollout.blue_green.scale_down_delay_seconds=60",
                                  "rollout.blue_green.preview_port=9999"])
    bg = one(files, "Rollout")["spec"]["strategy"]["blueGreen"]
    assert (bg["autoPromotionEnabled"], bg["autoPromotionSeconds"], bg["scaleDownDelaySeconds"]) == (True, 120, 60)
    assert manifests(files)["service-preview.yaml"]["spec"]["ports"][0]["port"] == 9999


def test_analysis_template_queries_and_thresholds():
    template = one(emit_case("canary"), "AnalysisTemplate")["spec"]
    assert template["args"] == [{"name": "canary-hash"}]  # no default: a run without it is an error
    metrics = template["metrics"]
    assert [m["name"] for m in metrics] == ["error-ratio", "p99-latency"]
    for m in metrics:
        assert (m["interval"], m["count"], m["failureLimit"]) == ("1m", 5, 1)
        prom = m["provider"]["prometheus"]
        assert prom["address"] == "http://prometheus-operated.monitoring.svc:9090"
        assert prom["query"].rstrip().endswith("or vector(-1)")
        # Every selector judges the canary's ReplicaSet alone.
        canary_only = '{model="digits-cnn",rollouts_pod_template_hash="{{args.canary-hash}}"'
        assert prom["query"].count(canary_only) == prom["query"].count("{model=") >= 1
    err, lat = metrics
    assert 'outcome=~"server_error|timeout"' in err["provider"]["prometheus"]["query"]
    assert "histogram_quantile(0.99" in lat["provider"]["prometheus"]["query"]
    assert "deployc_request_duration_seconds_bucket" in lat["provider"]["prometheus"]["query"]
    assert err["successCondition"].endswith("<= 0.01") and lat["successCondition"].endswith("<= 0.25")


@pytest.mark.parametrize("policy, success, failure", [
    ("inconclusive", "result[0] >= 0 && result[0] <= 0.01", "result[0] > 0.01"),
    ("fail", "result[0] >= 0 && result[0] <= 0.01", None),
    ("pass", "result[0] < 0 || result[0] <= 0.01", None),
])
def test_on_no_data_is_encoded_in_the_conditions(policy, success, failure):
    files = emit("digits-cnn", [f"rollout.analysis.on_no_data={policy}"])
    err = one(files, "AnalysisTemplate")["spec"]["metrics"][0]
    assert err["successCondition"] == success
    assert err.get("failureCondition") == failure


def test_rate_window_is_the_interval_but_at_least_a_minute():
    assert aq.rate_window("30s") == "1m"
    assert aq.rate_window("90s") == "90s"
    assert aq.rate_window("2m") == "2m"
    assert aq.rate_window("1h30m") == "90m"
    q = one(emit("digits-cnn", ["+rollout.analysis.interval=5m"]), "AnalysisTemplate")["spec"]["metrics"][0]
    assert "[5m]" in q["provider"]["prometheus"]["query"] and q["interval"] == "5m"


def test_thresholds_print_as_plain_decimals():
    assert aq.number(0.00001) == "0.00001"
    assert aq.number(0.25) == "0.25"
    assert aq.number(1) == "1"


def test_flagger_canary_over_a_deployment_with_metric_templates():
    files = emit_case("flagger-canary")
    objs = manifests(files)
    canary = one(files, "Canary")["spec"]
    assert canary["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "digits-cnn"}
    assert canary["autoscalerRef"]["name"] == "digits-cnn"
    assert canary["provider"] == "gatewayapi:v1"  # the example's rollout.traffic.router
    assert canary["service"]["gatewayRefs"] == [{"name": "public", "namespace": "gateway-system"}]
    analysis = canary["analysis"]
    assert (analysis["stepWeights"], analysis["threshold"], analysis["interval"]) == ([10, 50], 2, "1m")
    assert [m["templateRef"]["name"] for m in analysis["metrics"]] == ["digits-cnn-error-ratio",
                                                                        "digits-cnn-p99-latency"]
    assert [m["thresholdRange"] for m in analysis["metrics"]] == [{"min": 0, "max": 0.01}, {"min": 0, "max": 0.25}]
    templates = {o["metadata"]["name"]: o for o in objs.values() if o.get("kind") == "MetricTemplate"}
    assert sorted(templates) == ["digits-cnn-error-ratio", "digits-cnn-p99-latency"]
    for t in templates.values():
        query = t["spec"]["query"]
        assert "[{{ interval }}]" in query
        # Only the canary's pods: the target Deployment's, never <target>-primary's.
        canary_only = ('{model="digits-cnn",namespace="{{ namespace }}",'
                       'pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"')
        assert query.count(canary_only) == query.count("{model=") >= 1
    assert one(files, "Deployment")["spec"]["template"] == one(emit("digits-cnn", ["rollout.strategy=rolling"]),
                                                               "Deployment")["spec"]["template"]
    # Flagger generates the serving Services; only the metrics Service is ours.
    assert [o["metadata"]["name"] for o in objs.values() if o.get("kind") == "Service"] == ["digits-cnn-metrics"]
    assert one(files, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["kind"] == "Deployment"


def test_flagger_pass_policy_has_no_lower_bound():
    files = emit("digits-cnn", ["+rollout.controller=flagger", "rollout.analysis.on_no_data=pass",
                                "rollout.canary.steps=[{set_weight: 10}, {set_weight: 50}]"])
    assert [m["thresholdRange"] for m in one(files, "Canary")["spec"]["analysis"]["metrics"]] == [
        {"max": 0.01}, {"max": 0.25}]
