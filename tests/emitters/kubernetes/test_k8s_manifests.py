"""What the pods, Services and policies say: probes, resources, security, labels, image, scaling."""

from __future__ import annotations

import pytest
import yaml
from k8s_helpers import emit, emit_case, manifests, one, spec_for

from compiler.emitters.base import EmitContext
from compiler.emitters.kubernetes import TRT_ENGINE_CACHE, KubernetesEmitter
from compiler.errors import DeploycError, SpecError
from compiler.report_model import ImageInfo
from tests.report_samples import sample_report
from tests.runtime.helpers import runtime as make_runtime
from compiler.runtime.config import RuntimeConfig, TensorInfo

DIGEST = "sha256:" + "ab" * 32


def _pod(files):
    return manifests(files)["deployment.yaml"]["spec"]["template"]


def _container(files):
    return _pod(files)["spec"]["containers"][0]


def test_probes_use_grpc_health_on_the_grpc_port():
    files = emit("digits-cnn", ["rollout.strategy=rolling", "+serve.port=8500", "+serve.metrics_port=9500",
                                "+serve.grpc_port=9400"])
    c = _container(files)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8500, "metrics": 9500, "grpc": 9400}
    assert c["readinessProbe"]["grpc"] == {"port": 9400, "service": ""}
    assert c["startupProbe"]["grpc"] == {"port": 9400, "service": ""}
    assert c["livenessProbe"]["grpc"] == {"port": 9400, "service": "live"}
    assert not any("httpGet" in c[p] for p in ("readinessProbe", "startupProbe", "livenessProbe"))
    service = manifests(files)["service.yaml"]["spec"]["ports"]
    assert {"name": "grpc", "port": 9400, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"} in service


def test_grpc_port_must_differ_from_the_other_ports():
    with pytest.raises(SpecError, match="serve.grpc_port"):
        emit("digits-cnn", ["rollout.strategy=rolling", "+serve.grpc_port=9090"])


def test_cpu_target_resources_selectors_and_no_gpu():
    files = emit("digits-cnn", ["rollout.strategy=rolling"])
    c, pod = _container(files), _pod(files)["spec"]
    assert c["resources"]["limits"] == c["resources"]["requests"] == {"cpu": "2", "memory": "2Gi"}
    assert pod["nodeSelector"] == {"kubernetes.io/arch": "amd64"}
    assert "runtimeClassName" not in pod and "tolerations" not in pod
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]


def test_gpu_target_gets_gpu_limits_tolerations_runtime_class_and_trt_cache():
    files = emit_case("rolling")  # nvidia-a100
    c, pod = _container(files), _pod(files)["spec"]
    assert c["resources"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert c["resources"]["requests"] == c["resources"]["limits"]
    assert pod["runtimeClassName"] == "nvidia"
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts == {"tmp": "/tmp", "trt-engine-cache": TRT_ENGINE_CACHE}
    assert {v["name"]: v["emptyDir"] for v in pod["volumes"]} == {"tmp": {}, "trt-engine-cache": {}}


def _runtime(trt_engine_cache: str) -> RuntimeConfig:
    return make_runtime(model_name="digits-cnn", model_version="1.0.0", artifact="model.onnx",
                         backend="onnxruntime",
                         inputs=[TensorInfo("pixels", "FP32", [-1, 1, 8, 8], ["batch", None, None, None], None)],
                         outputs=[TensorInfo("logits", "FP32", [-1, 10], ["batch", None], None)],
                         providers=["TensorrtExecutionProvider", "CUDAExecutionProvider"],
                         trt_engine_cache=trt_engine_cache)


def test_trt_cache_is_mounted_where_runtime_json_says():
    c = _container(emit("digits-cnn", ["target=nvidia-t4", "rollout.strategy=rolling"],
                        runtime=_runtime("/var/cache/engines")))
    assert {m["name"]: m["mountPath"] for m in c["volumeMounts"]}["trt-engine-cache"] == "/var/cache/engines"


def test_no_trt_cache_when_runtime_json_has_none():
    # e.g. an AOTInductor artifact on a GPU target: the runtime never builds TensorRT engines.
    c = _container(emit("digits-cnn", ["target=nvidia-t4", "rollout.strategy=rolling"], runtime=_runtime("")))
    assert [m["name"] for m in c["volumeMounts"]] == ["tmp"]
    assert c["startupProbe"]["failureThreshold"] == 60


def test_security_context_and_read_only_root():
    files = emit_case("rolling")
    c, pod = _container(files), _pod(files)["spec"]
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
        "runAsUser": 10001, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "digits-cnn"
    assert one(files, "ServiceAccount")["automountServiceAccountToken"] is False


def test_grace_period_outlasts_the_drain():
    pod = _pod(emit("digits-cnn", ["rollout.strategy=rolling", "+serve.drain_seconds=45"]))
    assert pod["spec"]["terminationGracePeriodSeconds"] == 55


def _pushed(digest: str):
    return sample_report(image=ImageInfo(None, (), None, digest))


def test_image_by_tag_then_by_digest():
    files = emit("digits-cnn", ["rollout.strategy=rolling", "+image.repository=registry.example/ml/digits"])
    assert _container(files)["image"] == "registry.example/ml/digits:1.0.0"
    assert _container(emit("digits-cnn", ["rollout.strategy=rolling"]))["image"] == "digits-cnn:1.0.0"
    pinned = emit("digits-cnn", ["rollout.strategy=rolling"], report=_pushed(DIGEST))
    assert _container(pinned)["image"] == f"digits-cnn@{DIGEST}"


def test_malformed_digest_is_a_clear_error():
    with pytest.raises(DeploycError, match="report.image.digest"):
        emit("digits-cnn", ["rollout.strategy=rolling"], report=_pushed("sha256:xyz"))


def test_recommended_labels_and_user_labels():
    files = emit("digits-cnn", ["rollout.strategy=rolling", "+serve.labels={team: vision, tier: gold}"])
    expected = {"app.kubernetes.io/name": "digits-cnn", "app.kubernetes.io/instance": "digits-cnn-cpu-x86",
                "app.kubernetes.io/version": "1.0.0", "app.kubernetes.io/component": "inference-server",
                "app.kubernetes.io/part-of": "digits-cnn", "app.kubernetes.io/managed-by": "deployc",
                "team": "vision", "tier": "gold"}
    for name, obj in manifests(files).items():
        if name != "kustomization.yaml":
            assert obj["metadata"]["labels"] == expected, name
    assert _pod(files)["metadata"]["labels"] == expected
    # The selector never carries the version: it is immutable across releases.
    assert manifests(files)["deployment.yaml"]["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "digits-cnn", "app.kubernetes.io/instance": "digits-cnn-cpu-x86"}


def test_annotations_with_newlines_quotes_and_colons_round_trip():
    tricky = {"note": 'line one\nline "two": yes\n', "url": "http://x.example:8080/a?b=c#d",
              "quote": "it's: 'fine'", "empty": "", "lead": "  - not a list", "hash": "# not a comment"}
    spec = spec_for("digits-cnn", ["rollout.strategy=rolling"])
    from dataclasses import replace
    spec = replace(spec, serve=replace(spec.serve, annotations=tricky))
    files = KubernetesEmitter().emit(EmitContext(spec=spec, selected=None, runtime=None))
    for name, data in files.items():
        obj = yaml.safe_load(data)
        if name.endswith("kustomization.yaml"):
            continue
        assert obj["metadata"]["annotations"] == tricky, name
    assert _pod(files)["metadata"]["annotations"] == tricky


def test_hpa_scales_on_cpu_utilization_for_cpu_targets():
    hpa = one(emit("digits-cnn", ["rollout.strategy=rolling"]), "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert hpa["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "digits-cnn"}


def test_hpa_scales_on_inflight_requests_for_gpu_targets():
    hpa = one(emit_case("rolling"), "HorizontalPodAutoscaler")["spec"]
    # 70 % of max_concurrency 64 = 44.8 requests per pod
    assert hpa["metrics"] == [{"type": "Pods", "pods": {
        "metric": {"name": "deployc_inflight_requests"},
        "target": {"type": "AverageValue", "averageValue": "44800m"}}}]


def test_pdb_allows_one_eviction_across_both_tracks():
    pdb = one(emit_case("canary"), "PodDisruptionBudget")["spec"]
    assert pdb == {"maxUnavailable": 1, "selector": {"matchLabels": {
        "app.kubernetes.io/instance": "digits-cnn-cpu-x86"}}}


def test_network_policy_default_same_namespace_and_monitoring():
    np = one(emit("digits-cnn", ["rollout.strategy=rolling"]), "NetworkPolicy")["spec"]
    assert np["policyTypes"] == ["Ingress"]
    serving, grpc, metrics = np["ingress"]
    assert serving == {"ports": [{"port": "http", "protocol": "TCP"}], "from": [{"podSelector": {}}]}
    assert grpc == {"ports": [{"port": "grpc", "protocol": "TCP"}], "from": [{"podSelector": {}}]}
    assert metrics == {"ports": [{"port": "metrics", "protocol": "TCP"}], "from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}


def test_network_policy_allows_listed_namespaces():
    files = emit("digits-cnn", ["rollout.strategy=rolling", "+serve.allow_from_namespaces=[web, api]",
                                "+monitoring.namespace=observability"])
    serving, grpc, metrics = one(files, "NetworkPolicy")["spec"]["ingress"]
    assert grpc["from"] == serving["from"]
    assert [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in serving["from"]] == [
        "api", "web"]
    assert metrics["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "observability"}


def test_rolling_update_parameters():
    files = emit("digits-cnn", ["rollout.strategy=rolling", "+rollout.max_surge=1", "+rollout.max_unavailable=10%"])
    assert manifests(files)["deployment.yaml"]["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}}


def test_metrics_service_selects_every_pod_of_every_track():
    svc = manifests(emit_case("canary"))["service-metrics.yaml"]["spec"]
    assert svc["clusterIP"] == "None"
    assert svc["selector"] == {"app.kubernetes.io/instance": "digits-cnn-cpu-x86"}
    assert svc["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]


def test_kustomization_lists_every_file_sorted_with_the_namespace():
    files = emit("digits-cnn", ["+rollout.namespace=ml-serving"])
    k = manifests(files)["kustomization.yaml"]
    assert k["namespace"] == "ml-serving"
    assert k["resources"] == sorted(n.split("/", 1)[1] for n in files if not n.endswith("kustomization.yaml"))
    assert all(o["metadata"]["namespace"] == "ml-serving"
               for n, o in manifests(files).items() if n != "kustomization.yaml")


def test_output_is_deterministic():
    assert emit_case("canary") == emit_case("canary")
    assert emit_case("flagger-canary") == emit_case("flagger-canary")
