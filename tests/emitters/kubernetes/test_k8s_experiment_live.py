"""Live: an experiment's analysis in a real Prometheus scraping two real runtimes, A and B.

Both serve the same small classifier on loopback. The scrape job carries the ServiceMonitor's
variant relabelings (snake_case, as a plain Prometheus writes them), fed with the pod label an
Argo Rollout gives each track (`deployc.dev/variant`: control, candidate). Clients send each
variant inference requests and feedback: A's answers are right 60% of the time, B's 95%. The
generated AnalysisTemplate's queries, as emitted, then answer: quality 0 (B significantly
better), error ratio 1 (no failures anywhere: the 0/0 standard error is "no difference", not
NaN), slow ratio 1; with min_samples above the traffic sent, -1 (too few samples).
"""

from __future__ import annotations

import http.client
import json
import shutil
import sys
import time

import numpy as np
import pytest
import yaml

from compiler.emitters.base import EmitContext
from compiler.emitters.catalog_check import variant_relabelings
from compiler.emitters.kubernetes import KubernetesEmitter
from compiler.frontend import load_spec
from compiler.runtime.config import TensorInfo
from tests.runtime.helpers import runtime as make_runtime

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not on PATH (Debian package 'prometheus')"),
]
for module in ("onnx", "onnxruntime", "starlette", "uvicorn"):
    pytest.importorskip(module, reason=f"the live test serves a model with the runtime, which needs {module}")

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "monitoring"))
from test_monitoring_live import (MODEL, REPO, _classifier, _free_port, _get, _infer, _query,  # noqa: E402
                                  _safe, _Servers, _wait)

REQUESTS, FEEDBACK = 60, 100
SPEC = REPO / "examples" / MODEL / "experiment.yaml"


def _metrics(min_samples: int) -> dict[str, str]:
    spec = load_spec(SPEC, ["~rollout.traffic", "+rollout.traffic={router: istio}", "rollout.analysis.interval=10s",
                            f"rollout.experiment.min_samples={min_samples}"])
    files = KubernetesEmitter().emit(EmitContext(spec=spec, selected=None, runtime=None))
    metrics = yaml.safe_load(files["k8s/analysistemplate.yaml"])["spec"]["metrics"]
    return {m["name"]: m["provider"]["prometheus"]["query"] for m in metrics}


def _relabel_configs() -> list[dict]:
    """The ServiceMonitor's relabelings as a plain Prometheus scrape job writes them."""
    keys = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    return [{keys.get(k, k): v for k, v in r.items()} for r in variant_relabelings("argo", MODEL)]


def _feedback(port: int, correct: bool) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", f"/v2/models/{MODEL}/feedback", json.dumps({"correct": correct}),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _value(prom_port: int, query: str) -> float:
    return float(_query(prom_port, query)[0]["value"][1])


def test_the_experiment_queries_judge_two_real_variants(tmp_path):
    start = time.monotonic()
    root = tmp_path / "root"
    (root / "model").mkdir(parents=True)
    _classifier(root / "model" / "model.onnx")
    config = make_runtime(
        model_name=MODEL, model_version="1", artifact="model.onnx", backend="onnxruntime",
        inputs=[TensorInfo("pixels", "FP32", [-1, 1, 8, 8], ["batch", None, None, None], None)],
        outputs=[TensorInfo("logits", "FP32", [-1, 10], ["batch", None], None)],
        max_queue_delay_ms=1.0, drain_seconds=1, drift={})
    (root / "runtime.json").write_text(config.to_json())
    ports = {v: (_free_port(), _free_port()) for v in ("control", "candidate")}
    prom_port = _free_port()
    targets = [{"targets": [f"127.0.0.1:{metrics}"],
                "labels": {"__meta_kubernetes_pod_label_deployc_dev_variant": variant}}
               for variant, (_, metrics) in ports.items()]
    prom_config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                   "scrape_configs": [{"job_name": MODEL, "relabel_configs": _relabel_configs(),
                                       "static_configs": targets}]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom_config, sort_keys=True))
    servers = _Servers(tmp_path)
    try:
        for variant, (port, metrics) in ports.items():
            servers.start(variant, [sys.executable, "-m", "compiler.runtime", "--root", str(root), "--host",
                                    "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics)], REPO)
        servers.start("prometheus", [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                                     f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                     f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"], tmp_path)
        for port, _ in ports.values():
            _wait("a runtime to be ready", lambda p=port: _safe(lambda: _get(p, "/v2/health/ready")[0] == 200),
                  start + 30, servers)
        _wait("prometheus to be ready", lambda: _safe(lambda: _get(prom_port, "/-/ready")[0] == 200),
              start + 35, servers)
        _wait("both variants scraped", lambda: len(_query(prom_port, 'up{variant=~"control|candidate"} == 1')) == 2,
              start + 45, servers)

        rng = np.random.default_rng(0)
        for variant, share in (("control", 0.6), ("candidate", 0.95)):
            port = ports[variant][0]
            for _ in range(REQUESTS):
                assert _infer(port, rng.random((1, 1, 8, 8), dtype=np.float32)) == 200
            for i in range(FEEDBACK):
                assert _feedback(port, i < share * FEEDBACK) == 200
        queries = _metrics(min_samples=40)
        settled = f'sum(deployc_feedback_total{{variant="candidate"}}) >= {FEEDBACK}'
        _wait("the feedback scraped", lambda: _query(prom_port, settled), start + 70, servers)
        time.sleep(2)  # one more scrape of the request counters
        assert _value(prom_port, queries["quality"]) == 0  # B significantly better
        assert _value(prom_port, queries["error-ratio"]) == 1  # no failures anywhere: no difference
        assert _value(prom_port, queries["slow-ratio"]) == 1
        too_few = _metrics(min_samples=10_000)
        assert {name: _value(prom_port, q) for name, q in too_few.items()} == dict.fromkeys(too_few, -1)
    finally:
        servers.stop()
