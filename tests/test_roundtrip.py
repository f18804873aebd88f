"""Every key of serve, optimize, rollout and monitoring reaches what consumes it.

A setting once stopped at a comment (`serve.batching.max_batch_size` never reached runtime.json)
and no test noticed, because every example used the default. Here each key is built with a
value that is NOT its schema default, and the test looks for that value where it is consumed:
runtime.json, the TensorRT profile, the Triton config, the manifests, the rules, the report.

A key the schema gains without a row in ROUTES fails `test_every_key_has_a_route`: a new
setting must say where it lands.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from compiler.resources import schemas_dir
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow

SECTIONS = ("serve", "optimize", "rollout", "monitoring")

DISTILL_GATES = {"max_abs_error": 50, "min_cosine": 0.1, "min_top1_agreement": 0.2, "min_accuracy": 0.3,
                 "max_accuracy_drop": 0.9, "max_latency_p99_ms": 900, "max_size_mb": 40}

# One build per id: (example, target, Hydra overrides). Values differ from the schema defaults.
BUILDS = {
    "canary": ("digits-cnn", "cpu-x86", [
        "serve.port=8181", "serve.metrics_port=9191", "serve.grpc_port=9111", "serve.threads=3", "serve.max_request_bytes=123456",
        "serve.request_timeout_s=7.5", "serve.max_concurrency=17", "serve.drain_seconds=13",
        "serve.batching.max_batch_size=8", "serve.batching.max_queue_delay_ms=3.5",
        "serve.replicas.min=4", "serve.replicas.max=9", "serve.replicas.target_utilization=55",
        "serve.allow_from_namespaces=[frontend]", "+serve.labels.tier=gold", "+serve.annotations.owner=alice",
        "rollout.namespace=ml-prod", "rollout.prometheus_url=http://prom.example:9090",
        "rollout.analysis.interval=45s", "rollout.analysis.count=7", "rollout.analysis.failure_limit=3",
        "rollout.analysis.max_error_ratio=0.02", "rollout.analysis.max_p99_latency_seconds=0.4",
        "rollout.analysis.on_no_data=fail",
        "rollout.canary.steps=[{set_weight:25},{pause:90s},{analysis:true},{set_weight:75},{analysis:true}]",
        "rollout.traffic.gateway.name=edge-gw", "rollout.traffic.gateway.namespace=gw-system",
        "rollout.traffic.hosts=[digits.internal.example]",
        "monitoring.namespace=obs", "+monitoring.labels.release=prom",
        "monitoring.runbook_url=https://runbooks.example/digits",
        "monitoring.slo.availability=0.995", "monitoring.slo.latency_threshold_seconds=0.5",
        "monitoring.slo.latency_objective=0.95", "monitoring.slo.period=28d",
        "monitoring.saturation.max_queue_seconds=0.07", "monitoring.saturation.max_inflight_ratio=0.6",
        "monitoring.drift.buckets=7", "monitoring.drift.threshold=0.35", "monitoring.drift.window=2h",
        "optimize.opset=19", "optimize.graph=false", "optimize.precisions=[fp32]", "optimize.quantize=int8-static",
        "optimize.prune.amount=0.3", "optimize.aoti=always", "optimize.select=smallest",
        "optimize.latency.batch_sizes=[1,4]", "optimize.latency.warmup=3", "optimize.latency.iterations=20",
        "optimize.gates.max_abs_error=5", "optimize.gates.max_latency_p99_ms=500", "optimize.gates.max_size_mb=50",
        "optimize.gates.min_accuracy=0.5", "+optimize.target_gates.cpu-x86={min_cosine:0.9}",
    ]),
    "blue-green": ("text-encoder", "cpu-x86", [
        "rollout.blue_green.preview_port=8282", "rollout.blue_green.auto_promotion=true",
        "rollout.blue_green.auto_promotion_seconds=30", "rollout.blue_green.scale_down_delay_seconds=45",
        "serve.batching.enabled=false", "optimize.verify_samples=64", "monitoring.drift.enabled=false",
    ]),
    "rolling": ("digits-cnn", "cpu-x86", [
        "rollout.strategy=rolling", "rollout.max_surge=2", "rollout.max_unavailable=1", "monitoring.enabled=false",
        "optimize.export.exporter=torchscript",
    ]),
    "flagger": ("digits-cnn", "cpu-x86", [
        "rollout.controller=flagger", "rollout.traffic.router=nginx", "~rollout.traffic.gateway",
        "rollout.traffic.ingress_class=internal-nginx",
        "rollout.analysis.on_no_data=pass",  # Flagger has no 'inconclusive'
        "rollout.canary.steps=[{set_weight:10},{analysis:true},{set_weight:50}]",  # nor a pause step
    ]),
    # A/B experiments: header route (Argo, gateway-api), cookie route (Flagger, nginx), weight route.
    "experiment": ("digits-cnn/experiment.yaml", "cpu-x86", [
        "rollout.experiment.header.name=x-ab", "rollout.experiment.header.value=beta",
        "rollout.experiment.min_samples=500", "rollout.experiment.confidence=0.99",
        "rollout.experiment.quality_metric.name=deployc_requests_total", "~rollout.experiment.quality_metric.match",
        "+rollout.experiment.quality_metric.match={outcome: success}", "rollout.experiment.quality_metric.better=lower",
        "rollout.experiment.control.report=control/report.json",
    ]),
    "experiment-cookie": ("digits-cnn/experiment.yaml", "cpu-x86", [
        "rollout.controller=flagger", "rollout.analysis.on_no_data=pass", "~rollout.experiment.header",
        "rollout.experiment.cookie=ab_b", "~rollout.traffic", "+rollout.traffic={router: nginx}",
    ]),
    "experiment-weight": ("digits-cnn/experiment.yaml", "cpu-x86", ["~rollout.experiment.header",
                                                                    "rollout.experiment.weight=30"]),
    "tensorrt": ("digits-cnn", "nvidia-h100", ["serve.batching.max_batch_size=8"]),
    # text-generation: the example's own gates (the build is test_build_smollm2's, from the pass cache).
    "llm": ("smollm2-chat", "cpu-x86", []),
    "triton": ("digits-cnn", "nvidia-a100", ["serve.engine=triton", "serve.batching.max_batch_size=8"]),
    # fixed_dims stays the example's {seq: 32}: its calibration factory makes 32-token rows.
    "edge": ("text-encoder", "android-arm64", ["optimize.edge.batch_size=2"]),
    # serve.engine vllm (the example's): a config-only 70B folder, planned and emitted, no pass.
    "vllm": ("llama70b-plan/llama70b.yaml", "nvidia-h100x8", [
        "serve.vllm.image_digest=sha256:" + "0" * 64, "serve.vllm.gpu_memory_utilization=0.85",
        "serve.vllm.prefix_caching=false", "serve.throughput.tokens_per_second=9000",
        "serve.throughput.per_replica_tokens_per_second=2000",
    ]),
    # optimize.distill: the example's student, on other data and settings; the gates it is judged by.
    "distill": ("digits-cnn", "cpu-x86", [
        "~optimize.distill.data.npz", "optimize.distill.data.factory=data.py:calibration", "optimize.distill.steps=30",
        "optimize.distill.batch_size=16", "optimize.distill.learning_rate=0.005", "optimize.distill.temperature=2.5",
        "optimize.distill.hard_label_weight=0.25", "optimize.distill.seed=3", "optimize.distill.min_speedup=1.5",
        *(f"optimize.distill.gates.{k}={v}" for k, v in DISTILL_GATES.items()),
    ]),
    # A transformer student cut from the teacher's layers (MiniLM: 6 -> 3), trained a few steps;
    # verified on 16 short calibration sentences, timed at batch 1 only (MiniLM is slow on 2 cores).
    "distill-layers": ("minilm-embeddings", "cpu-x86", [
        "optimize.distill.layers=3", "optimize.distill.steps=4", "+model.calibration={text:eval.jsonl,samples:16}",
        "~model.evaluation", "model.max_length=32", "model.truncation=truncate", "optimize.verify_samples=16",
        "optimize.quantize=none", "optimize.precisions=[fp32]", "optimize.graph=false",
        "optimize.latency.batch_sizes=[1]", "optimize.latency.warmup=1", "optimize.latency.iterations=5",
        "serve.batching.enabled=false",
    ]),
}


def _read(tree: Path, rel: str) -> str:
    return (tree / rel).read_text(encoding="utf-8")


def _json(tree: Path, rel: str) -> dict:
    return json.loads(_read(tree, rel))


def _docs(tree: Path, rel: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(_read(tree, rel)) if d]


def _rt(tree: Path) -> dict:
    return _json(tree, "image/runtime.json")


def _report(tree: Path) -> dict:
    return _json(tree, "report.json")


def _plan(tree: Path) -> dict:
    return {s["name"]: s for s in _report(tree)["plan"]["passes"]}


def _rollout(tree: Path) -> dict:
    return _docs(tree, "k8s/rollout.yaml")[0]


def _container(tree: Path, rel: str = "k8s/rollout.yaml") -> dict:
    return _docs(tree, rel)[0]["spec"]["template"]["spec"]["containers"][0]


def _rules(tree: Path) -> str:
    return _read(tree, "monitoring/rules.yaml")


def _analysis(tree: Path) -> str:
    return _read(tree, "k8s/analysistemplate.yaml")


def _header_route(tree: Path) -> dict:
    steps = _rollout(tree)["spec"]["strategy"]["canary"]["steps"]
    return next(s["setHeaderRoute"] for s in steps if "setHeaderRoute" in s)["match"][0]


def _quality(tree: Path) -> str:
    metrics = _docs(tree, "k8s/analysistemplate.yaml")[0]["spec"]["metrics"]
    return next(m for m in metrics if m["name"] == "quality")["provider"]["prometheus"]["query"]


def _candidates(tree: Path) -> set[str]:
    return {c["candidate"] for c in _report(tree)["candidates"]}


def _vllm_command(tree: Path) -> list[str]:
    return _container(tree, "k8s/deployment.yaml")["command"]


# key -> (build id, predicate on the built target folder)
ROUTES = {
    "serve.vllm.image_digest": ("vllm", lambda t: f"@sha256:{'0' * 64}\n" in _read(t, "image/Dockerfile")),
    "serve.vllm.gpu_memory_utilization": ("vllm", lambda t: "--gpu-memory-utilization 0.85" in " ".join(_vllm_command(t))),
    "serve.vllm.prefix_caching": ("vllm", lambda t: "--no-enable-prefix-caching" in _vllm_command(t)),
    # ceil(9000 / 2000): five replicas, the Deployment's and the autoscaler's floor
    "serve.throughput.tokens_per_second": ("vllm", lambda t: _docs(t, "k8s/deployment.yaml")[0]["spec"]["replicas"] == 5),
    "serve.throughput.per_replica_tokens_per_second": ("vllm", lambda t: _docs(t, "k8s/hpa.yaml")[0]["spec"]["minReplicas"] == 5),
    "serve.engine": ("triton", lambda t: "max_batch_size: 8" in _read(t, "triton/digits-cnn/config.pbtxt")),
    "serve.port": ("canary", lambda t: {"containerPort": 8181, "name": "http", "protocol": "TCP"} in _container(t)["ports"]
                   and "--port 8181" in _read(t, "image/Dockerfile").replace('", "', " ").replace('"', "")),
    "serve.metrics_port": ("canary", lambda t: any(p["containerPort"] == 9191 for p in _container(t)["ports"])),
    "serve.grpc_port": ("canary", lambda t: {"containerPort": 9111, "name": "grpc", "protocol": "TCP"} in _container(t)["ports"]
                        and _container(t)["readinessProbe"]["grpc"] == {"port": 9111, "service": ""}
                        and "--grpc-port 9111" in _read(t, "image/Dockerfile").replace('", "', " ").replace('"', "")),
    "serve.threads": ("canary", lambda t: _rt(t)["threads"] == 3),
    "serve.max_request_bytes": ("canary", lambda t: _rt(t)["max_request_bytes"] == 123456),
    "serve.request_timeout_s": ("canary", lambda t: _rt(t)["request_timeout_s"] == 7.5),
    "serve.max_concurrency": ("canary", lambda t: _rt(t)["max_concurrency"] == 17),
    "serve.drain_seconds": ("canary", lambda t: _rt(t)["drain_seconds"] == 13
                            and _rollout(t)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 13),
    "serve.batching.enabled": ("blue-green", lambda t: _rt(t)["batching"] is False),
    "serve.batching.max_batch_size": ("canary", lambda t: _rt(t)["max_batch_size"] == 8),
    "serve.batching.max_queue_delay_ms": ("canary", lambda t: _rt(t)["max_queue_delay_ms"] == 3.5),
    "serve.replicas.min": ("canary", lambda t: _docs(t, "k8s/hpa.yaml")[0]["spec"]["minReplicas"] == 4),
    "serve.replicas.max": ("canary", lambda t: _docs(t, "k8s/hpa.yaml")[0]["spec"]["maxReplicas"] == 9),
    "serve.replicas.target_utilization": ("canary", lambda t: "averageUtilization: 55" in _read(t, "k8s/hpa.yaml")),
    "serve.allow_from_namespaces": ("canary", lambda t: "kubernetes.io/metadata.name: frontend" in _read(t, "k8s/networkpolicy.yaml")),
    "serve.labels": ("canary", lambda t: _rollout(t)["spec"]["template"]["metadata"]["labels"].get("tier") == "gold"),
    "serve.annotations": ("canary", lambda t: _rollout(t)["spec"]["template"]["metadata"].get("annotations", {}).get("owner") == "alice"),
    "rollout.strategy": ("rolling", lambda t: _docs(t, "k8s/deployment.yaml")[0]["kind"] == "Deployment"),
    "rollout.controller": ("flagger", lambda t: _docs(t, "k8s/canary.yaml")[0]["apiVersion"].startswith("flagger.app/")),
    "rollout.namespace": ("canary", lambda t: _rollout(t)["metadata"]["namespace"] == "ml-prod"),
    "rollout.max_surge": ("rolling", lambda t: _docs(t, "k8s/deployment.yaml")[0]["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 2),
    "rollout.max_unavailable": ("rolling", lambda t: _docs(t, "k8s/deployment.yaml")[0]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 1),
    "rollout.prometheus_url": ("canary", lambda t: "http://prom.example:9090" in _analysis(t)),
    "rollout.analysis.interval": ("canary", lambda t: "interval: 45s" in _analysis(t)),
    "rollout.analysis.count": ("canary", lambda t: "count: 7" in _analysis(t)),
    "rollout.analysis.failure_limit": ("canary", lambda t: "failureLimit: 3" in _analysis(t)),
    "rollout.analysis.max_error_ratio": ("canary", lambda t: "result[0] <= 0.02" in _analysis(t)),
    "rollout.analysis.max_p99_latency_seconds": ("canary", lambda t: "result[0] <= 0.4" in _analysis(t)),
    # fail: no data (the -1 sentinel) meets no success condition, and there is no inconclusive band
    "rollout.analysis.on_no_data": ("canary", lambda t: "failureCondition" not in _analysis(t)
                                    and "successCondition: result[0] >= 0 && result[0] <= 0.02" in _analysis(t)),
    "rollout.canary.steps": ("canary", lambda t: [s.get("setWeight") for s in _rollout(t)["spec"]["strategy"]["canary"]["steps"]
                                                  if "setWeight" in s] == [25, 75]),
    "rollout.blue_green.preview_port": ("blue-green", lambda t: "port: 8282" in _read(t, "k8s/service-preview.yaml")),
    "rollout.blue_green.auto_promotion": ("blue-green", lambda t: _rollout(t)["spec"]["strategy"]["blueGreen"]["autoPromotionEnabled"] is True),
    "rollout.blue_green.auto_promotion_seconds": ("blue-green", lambda t: _rollout(t)["spec"]["strategy"]["blueGreen"]["autoPromotionSeconds"] == 30),
    "rollout.blue_green.scale_down_delay_seconds": ("blue-green", lambda t: _rollout(t)["spec"]["strategy"]["blueGreen"]["scaleDownDelaySeconds"] == 45),
    "rollout.traffic.router": ("flagger", lambda t: _docs(t, "k8s/canary.yaml")[0]["spec"]["provider"] == "nginx"),
    "rollout.traffic.hosts": ("canary", lambda t: "digits.internal.example" in _read(t, "k8s/httproute.yaml")),
    "rollout.traffic.gateway.name": ("canary", lambda t: "name: edge-gw" in _read(t, "k8s/httproute.yaml")),
    "rollout.traffic.gateway.namespace": ("canary", lambda t: "namespace: gw-system" in _read(t, "k8s/httproute.yaml")),
    "rollout.traffic.ingress_class": ("flagger", lambda t: "ingressClassName: internal-nginx" in _read(t, "k8s/ingress.yaml")),
    "rollout.experiment.weight": ("experiment-weight", lambda t: _rollout(t)["spec"]["strategy"]["canary"]["steps"][0]
                                  == {"setWeight": 30}),
    "rollout.experiment.header.name": ("experiment", lambda t: _header_route(t)["headerName"] == "x-ab"),
    "rollout.experiment.header.value": ("experiment", lambda t: _header_route(t)["headerValue"] == {"exact": "beta"}),
    "rollout.experiment.cookie": ("experiment-cookie", lambda t: _docs(t, "k8s/canary.yaml")[0]["spec"]["analysis"]["match"]
                                  == [{"headers": {"cookie": {"exact": "ab_b"}}}]),
    "rollout.experiment.min_samples": ("experiment", lambda t: ">= 500)" in _analysis(t)),
    "rollout.experiment.confidence": ("experiment", lambda t: "> bool 2.5758)" in _analysis(t)),  # two-sided 99%
    "rollout.experiment.quality_metric.name": ("experiment", lambda t: "deployc_requests_total{" in _quality(t)
                                               and "deployc_feedback_total" not in _quality(t)),
    "rollout.experiment.quality_metric.match": ("experiment", lambda t: 'outcome="success",variant="control"' in _quality(t)),
    # better: lower makes a higher share of B the worse one: B's share comes first in the difference.
    "rollout.experiment.quality_metric.better": ("experiment", lambda t: _quality(t).index('variant="candidate"')
                                                 < _quality(t).index('variant="control"')),
    "rollout.experiment.control.report": ("experiment", lambda t: _report(t)["experiment"]["control"]["candidate"]
                                          == "onnx-int8-dynamic" and "## Experiment" in _read(t, "report.md")),
    "monitoring.enabled": ("rolling", lambda t: not (t / "monitoring").exists()),
    "monitoring.namespace": ("canary", lambda t: _docs(t, "monitoring/prometheusrule.yaml")[0]["metadata"]["namespace"] == "obs"),
    "monitoring.labels": ("canary", lambda t: _docs(t, "monitoring/prometheusrule.yaml")[0]["metadata"]["labels"].get("release") == "prom"),
    "monitoring.runbook_url": ("canary", lambda t: "https://runbooks.example/digits" in _rules(t)),
    # The SLO values reach the rules folded into burn-rate thresholds: (1 - objective) x burn
    # rate, whose factor scales with the period (2% of a 28d budget in 1h: 13.44).
    "monitoring.slo.availability": ("canary", lambda t: "> 0.0672" in _rules(t)),  # 0.005 x 13.44
    "monitoring.slo.latency_threshold_seconds": ("canary", lambda t: 'le="0.5"' in _rules(t)),
    "monitoring.slo.latency_objective": ("canary", lambda t: "> 0.672" in _rules(t)),  # 0.05 x 13.44
    "monitoring.slo.period": ("canary", lambda t: "> 0.0672" in _rules(t) and "> 0.072\n" not in _rules(t)),
    "monitoring.saturation.max_queue_seconds": ("canary", lambda t: "0.07" in _rules(t)),
    "monitoring.saturation.max_inflight_ratio": ("canary", lambda t: "0.6" in _rules(t)),
    "monitoring.drift.enabled": ("blue-green", lambda t: "drift" not in _rules(t).lower() and _rt(t)["drift"] == {}),
    "monitoring.drift.buckets": ("canary", lambda t: all(len(b["ratios"]) <= 7 for b in _rt(t)["drift"].values())
                                 and _rt(t)["drift"]),
    "monitoring.drift.threshold": ("canary", lambda t: "0.35" in _rules(t)),
    "monitoring.drift.window": ("canary", lambda t: "[2h]" in _rules(t)),
    "optimize.opset": ("canary", lambda t: _opset(t) == 19),
    "optimize.export.exporter": ("rolling", lambda t: "torchscript" in _read(t, "report.json")),
    "optimize.graph": ("canary", lambda t: not _plan(t)["ort-optimize"]["run"]),
    "optimize.precisions": ("canary", lambda t: "precisions" in _plan(t)["fp16"]["reason"] or "fp16" in _plan(t)["fp16"]["reason"]),
    "optimize.quantize": ("canary", lambda t: not _plan(t)["int8-dynamic"]["run"] and _plan(t)["int8-static"]["run"]),
    "optimize.prune.amount": ("canary", lambda t: "onnx-pruned" in _candidates(t) and "30%" in _plan(t)["prune"]["reason"]),
    "optimize.aoti": ("canary", lambda t: "aoti-cpu" in _candidates(t)),
    "optimize.select": ("canary", lambda t: _report(t)["selected"]["reason"].startswith("smallest")),
    # ... and the serving batch (serve.batching.max_batch_size=8): the plan measures what the server runs.
    "optimize.latency.batch_sizes": ("canary", lambda t: [x["batch"] for x in _report(t)["candidates"][0]["latency"]] == [1, 4, 8]),
    "optimize.latency.warmup": ("canary", lambda t: "after 3 warm-up runs" in _report(t)["latency_note"]),
    "optimize.latency.iterations": ("canary", lambda t: "of 20 runs" in _report(t)["latency_note"]),
    "optimize.verify_samples": ("blue-green", lambda t: _report(t)["verification"]["samples"] == 64),
    "optimize.gates.max_abs_error": ("canary", lambda t: _report(t)["gates"]["max_abs_error"] == 5),
    "optimize.gates.min_cosine": ("canary", lambda t: _report(t)["gates"]["min_cosine"] == 0.9),  # target_gates wins
    "optimize.gates.min_top1_agreement": ("canary", lambda t: _report(t)["gates"]["min_top1_agreement"] == 0.98),
    "optimize.gates.min_accuracy": ("canary", lambda t: _report(t)["gates"]["min_accuracy"] == 0.5),
    "optimize.gates.max_accuracy_drop": ("canary", lambda t: _report(t)["gates"]["max_accuracy_drop"] == 0.01),
    "optimize.gates.max_latency_p99_ms": ("canary", lambda t: _report(t)["gates"]["max_latency_p99_ms"] == 500),
    "optimize.gates.max_size_mb": ("canary", lambda t: _report(t)["gates"]["max_size_mb"] == 50),
    "optimize.target_gates": ("canary", lambda t: _report(t)["gates"]["min_cosine"] == 0.9),
    "optimize.edge.batch_size": ("edge", lambda t: _json(t, "bundle/runtime.json")["inputs"][0]["shape"][0] in (2, -1)
                                 and "batch 2" in _read(t, "report.md") or '"batch_size": 2' in _read(t, "bundle/metadata.json")),
    "optimize.edge.fixed_dims": ("edge", lambda t: _json(t, "bundle/runtime.json")["inputs"][0]["shape"][1] == 32),
}
# The example specs set these gates; the value checked is the example's, not the schema default.

def _distilled(tree: Path) -> dict:
    return _report(tree)["distillation"]


ROUTES.update({
    "optimize.distill.student": ("distill", lambda t: _distilled(t)["student"] == "model.py:build_student"
                                 and "student-onnx-opt" in _candidates(t)),
    "optimize.distill.layers": ("distill-layers", lambda t: _distilled(t)["student"] == "3 of the teacher's layers"
                                and "cut to 3 layers" in _plan(t)["distill"]["reason"]),
    "optimize.distill.data.npz": ("canary", lambda t: _distilled(t)["data"] == "optimize.distill.data.npz (train.npz)"),
    "optimize.distill.data.factory": ("distill", lambda t: _distilled(t)["data"] == "optimize.distill.data.factory "
                                      "(data.py:calibration)" and _distilled(t)["samples"] == 256),
    "optimize.distill.steps": ("distill", lambda t: _distilled(t)["steps"] == 30 and "30 steps" in _plan(t)["distill"]["reason"]),
    "optimize.distill.batch_size": ("distill", lambda t: _distilled(t)["settings"]["batch_size"] == 16),
    "optimize.distill.learning_rate": ("distill", lambda t: _distilled(t)["settings"]["learning_rate"] == 0.005),
    "optimize.distill.temperature": ("distill", lambda t: _distilled(t)["settings"]["temperature"] == 2.5
                                     and "temperature 2.5" in _plan(t)["distill"]["reason"]),
    "optimize.distill.hard_label_weight": ("distill", lambda t: _distilled(t)["settings"]["hard_label_weight"] == 0.25),
    "optimize.distill.seed": ("distill", lambda t: _distilled(t)["settings"]["seed"] == 3),
    "optimize.distill.min_speedup": ("distill", lambda t: _distilled(t)["gates"]["min_speedup"] == 1.5),
    **{f"optimize.distill.gates.{k}": ("distill", lambda t, k=k, v=v: _distilled(t)["gates"][k] == v)
       for k, v in DISTILL_GATES.items()},
})



def _generated(tree: Path, gate: str, metric: str, value: float) -> bool:
    """The gate's value in the report, and the metric it holds measured for every candidate that ran."""
    report = _report(tree)
    rows = [c for c in report["candidates"] if "error" not in c]
    return report["gates"][gate] == value and bool(rows) and all(metric in c for c in rows)


ROUTES.update({
    "optimize.gates.min_token_agreement": ("llm", lambda t: _generated(t, "min_token_agreement", "token_agreement", 0.9)),
    "optimize.gates.max_perplexity_increase": ("llm", lambda t: _generated(t, "max_perplexity_increase",
                                                                          "perplexity_increase", 0.1)),
})

FROM_EXAMPLE = {"optimize.gates.min_token_agreement", "optimize.gates.max_perplexity_increase",
                "optimize.distill.data.npz", "optimize.distill.student", "optimize.gates.min_top1_agreement", "optimize.gates.max_accuracy_drop", "optimize.gates.min_cosine",
                "optimize.edge.fixed_dims"}


def _opset(tree: Path) -> int:
    import onnx

    model = onnx.load(str(tree / "model" / "model.onnx"), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def schema_leaves() -> dict[str, object]:
    """Dotted key -> schema default, for every leaf of SECTIONS (a dict with free keys is a leaf)."""
    schema = yaml.safe_load((schemas_dir() / "spec.yaml").read_text())
    leaves: dict[str, object] = {}

    def walk(prefix: str, rule: dict) -> None:
        if rule.get("type") == "dict" and "schema" in rule:
            for key, sub in rule["schema"].items():
                walk(f"{prefix}.{key}", sub)
        else:
            leaves[prefix] = rule.get("default")
    for section in SECTIONS:
        walk(section, schema[section])
    return leaves


def test_every_key_has_a_route():
    leaves = schema_leaves()
    assert sorted(set(leaves) - set(ROUTES)) == [], "schema keys with no consumer check in ROUTES"
    assert sorted(set(ROUTES) - set(leaves)) == [], "ROUTES names keys the schema no longer has"


def test_every_build_sets_a_non_default_value():
    leaves = schema_leaves()
    set_keys = {o.lstrip("+").split("=", 1)[0] for _, _, ov in BUILDS.values() for o in ov}
    for key, (build_id, _) in ROUTES.items():
        if key in FROM_EXAMPLE:
            continue
        # a free-keyed dict (labels, target_gates) is set through one of its keys
        assert any(k == key or k.startswith(key + ".") for k in set_keys), \
            f"{key} is checked in build {build_id!r} but no build sets it"


@lru_cache(maxsize=None)
def _built(build_id: str, out: str) -> Path:
    from compiler.build import build
    from compiler.frontend import load_spec
    from compiler.passes.cache import Cache

    example, target, overrides = BUILDS[build_id]
    path = EXAMPLES / example if example.endswith(".yaml") else EXAMPLES / example / "deploy.yaml"
    spec = load_spec(path, [f"target={target}", *overrides])
    if spec.serve.engine == "vllm":  # no pass, no selection (compiler.build.build_engine)
        from compiler.build import build_engine

        return build_engine(spec, Path(out) / build_id)[0]
    return build(spec, Path(out) / build_id, Cache()).target_dir


@pytest.fixture(scope="module")
def out(tmp_path_factory, cache_dir) -> str:
    return str(tmp_path_factory.mktemp("roundtrip"))


@pytest.mark.parametrize("key", sorted(ROUTES))
def test_value_reaches_its_consumer(key, out):
    build_id, check = ROUTES[key]
    if build_id == "edge":
        pytest.importorskip("litert_torch", reason="the edge build needs the litert toolchain")
    tree = _built(build_id, out)
    assert check(tree), f"{key}: the value set in build {build_id!r} does not appear where it is consumed"
