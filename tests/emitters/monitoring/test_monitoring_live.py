"""Live: the generated rules in a real Prometheus, scraping the real runtime serving an ONNX model.

`python -m compiler.runtime` serves a small classifier on loopback; /usr/bin/prometheus scrapes
it every second and evaluates the generated rules.yaml every second. The rules are generated
for digits-cnn with test-friendly durations passed in as inputs, never special-cased in the
emitter: spec override monitoring.drift.window=30s, emitter options rate_window=30s and
alert_for=2s. Then:
1. in-distribution requests: the PSI recording exists and stays under the threshold, and
   no error alert is active;
2. requests with a 1 microsecond client timeout (the runtime counts outcome="timeout") and
   requests whose pixels all land in the top baseline bucket: DeploycErrorRatioHigh and
   DeploycInputDrift go pending, then firing, as read back from /api/v1/alerts;
3. the scrape job carries the relabel_configs the ServiceMonitor's module documents for a plain
   Prometheus, fed with the Kubernetes discovery labels a pod of an Argo canary ReplicaSet would
   have: the series get `pod`, `namespace` and `rollouts_pod_template_hash`, and the generated
   AnalysisTemplate's error-ratio query, given that hash, reads the failures; given the stable
   ReplicaSet's hash it reads no data (-1).
Bounded by deadlines (< 90 s in all); both servers are stopped at the end.
"""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import yaml

from compiler.emitters.base import EmitContext
from compiler.emitters.kubernetes import KubernetesEmitter
from compiler.emitters.monitoring import MonitoringEmitter, Options, manifests
from compiler.frontend import load_spec
from compiler.passes.baseline import compute_baseline
from tests.runtime.helpers import runtime as make_runtime
from compiler.runtime.config import TensorInfo
from monitoring_helpers import REPO

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(90),
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not on PATH (Debian package 'prometheus')"),
]
for module in ("onnx", "onnxruntime", "starlette", "uvicorn"):
    pytest.importorskip(module, reason=f"the live test serves a model with the runtime, which needs {module}")

MODEL = "digits-cnn"
CANARY_HASH, STABLE_HASH = "6b9c8d7f5", "5d8f9c7b4"
# What Kubernetes discovery would attach to the target of a canary pod (a static target has none).
DISCOVERED = {"__meta_kubernetes_namespace": "default",
              "__meta_kubernetes_pod_name": f"{MODEL}-{CANARY_HASH}-x2x7q",
              "__meta_kubernetes_pod_label_rollouts_pod_template_hash": CANARY_HASH}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _classifier(path: Path) -> None:
    """pixels FP32 [batch, 1, 8, 8] -> Flatten -> MatMul -> Add -> logits FP32 [batch, 10]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((64, 10)).astype(np.float32), "W")
    b = numpy_helper.from_array(np.zeros(10, np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["pixels"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["logits"])],
        "classifier",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _rules(tmp: Path, baseline) -> Path:
    spec = load_spec(REPO / "examples" / MODEL / "deploy.yaml", ["monitoring.drift.window=30s"])
    runtime = make_runtime(model_name=MODEL, model_version=spec.version, artifact="model.onnx",
                            backend="onnxruntime", inputs=[], outputs=[], drift=baseline)
    files = MonitoringEmitter(Options(alert_for="2s", rate_window="30s")).emit(
        EmitContext(spec=spec, selected=None, runtime=runtime))
    path = tmp / "rules.yaml"
    path.write_bytes(files["monitoring/rules.yaml"])
    return path


class _Servers:
    def __init__(self, tmp: Path):
        self.tmp, self.procs, self.logs = tmp, [], []

    def start(self, name: str, cmd: list[str], cwd: Path) -> None:
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        self.procs.append(subprocess.Popen(cmd, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT))

    def logs_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _infer(port: int, pixels: np.ndarray, timeout_us: int | None = None) -> int:
    doc = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": list(pixels.shape),
                       "data": pixels.ravel().tolist()}]}
    if timeout_us is not None:
        doc["parameters"] = {"timeout": timeout_us}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", f"/v2/models/{MODEL}/infer", json.dumps(doc), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _wait(what: str, check, deadline: float, servers: _Servers, step=None):
    while time.monotonic() < deadline:
        if step:
            step()
        result = check()
        if result:
            return result
        time.sleep(0.2 if step is None else 0.0)
    raise AssertionError(f"timed out waiting for {what}\n{servers.logs_text()}")


def _query(port: int, expr: str) -> list[dict]:
    status, body = _get(port, "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def _alerts(port: int) -> dict[str, dict]:
    status, body = _get(port, "/api/v1/alerts")
    assert status == 200, body
    return {a["labels"]["alertname"]: a for a in json.loads(body)["data"]["alerts"]}


def test_error_and_drift_alerts_fire_in_a_real_prometheus(tmp_path):
    start = time.monotonic()
    rng = np.random.default_rng(0)
    baseline = compute_baseline({"pixels": rng.random((256, 1, 8, 8), dtype=np.float32)}, 10)
    root = tmp_path / "root"
    (root / "model").mkdir(parents=True)
    _classifier(root / "model" / "model.onnx")
    config = make_runtime(
        model_name=MODEL, model_version="1", artifact="model.onnx", backend="onnxruntime",
        inputs=[TensorInfo("pixels", "FP32", [-1, 1, 8, 8], ["batch", None, None, None], None)],
        outputs=[TensorInfo("logits", "FP32", [-1, 10], ["batch", None], None)],
        max_queue_delay_ms=1.0, drain_seconds=1, drift=baseline)
    (root / "runtime.json").write_text(config.to_json())
    rules = _rules(tmp_path, baseline)
    port, metrics_port, prom_port = _free_port(), _free_port(), _free_port()
    prom_config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": MODEL, "relabel_configs": manifests.relabel_configs(),
                            "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"], "labels": DISCOVERED}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom_config, sort_keys=True))

    servers = _Servers(tmp_path)
    try:
        servers.start("runtime", [sys.executable, "-m", "compiler.runtime", "--root", str(root), "--host",
                                  "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics_port)], REPO)
        servers.start("prometheus", [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                                     f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                     f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"], tmp_path)
        ready = lambda p, path: lambda: _safe(lambda: _get(p, path)[0] == 200)  # noqa: E731
        _wait("the runtime to be ready", ready(port, "/v2/health/ready"), start + 30, servers)
        _wait("prometheus to be ready", ready(prom_port, "/-/ready"), start + 35, servers)

        # 1. In-distribution traffic: PSI is recorded and low; nothing fails.
        def normal():
            assert _infer(port, rng.random((4, 1, 8, 8), dtype=np.float32)) == 200

        psi = _wait("the PSI recording", lambda: _query(prom_port, "model_input:deployc_input_psi:rate30s"),
                    start + 55, servers, normal)
        assert psi[0]["metric"]["input"] == "pixels" and psi[0]["metric"]["model"] == MODEL
        assert float(psi[0]["value"][1]) < 0.2
        assert not {"DeploycErrorRatioHigh", "DeploycInputDrift"} & set(_alerts(prom_port))

        # 2. Timeouts and shifted inputs: both alerts go pending, then firing.
        def bad():
            assert _infer(port, np.full((4, 1, 8, 8), 5.0, np.float32)) == 200  # above every edge
            assert _infer(port, rng.random((1, 1, 8, 8), dtype=np.float32), timeout_us=1) == 504

        wanted = ("DeploycErrorRatioHigh", "DeploycInputDrift")
        seen_pending: set[str] = set()

        def firing():
            alerts = _alerts(prom_port)
            seen_pending.update(n for n in wanted if alerts.get(n, {}).get("state") == "pending")
            return alerts if all(alerts.get(n, {}).get("state") == "firing" for n in wanted) else None

        alerts = _wait("DeploycErrorRatioHigh and DeploycInputDrift to fire", firing, start + 85, servers, bad)
        error, drift = alerts["DeploycErrorRatioHigh"], alerts["DeploycInputDrift"]
        assert error["labels"]["model"] == MODEL and error["labels"]["severity"] == "page"
        assert error["annotations"]["summary"].startswith(f"{MODEL} fails ")
        assert drift["labels"]["input"] == "pixels" and drift["labels"]["severity"] == "ticket"
        assert float(drift["value"]) > 0.2
        # Polled every few tens of milliseconds, the 2 s pending phase of each alert is seen.
        assert seen_pending == set(wanted)

        # 3. The canary analysis reads this pod's series by its ReplicaSet hash, and only by it.
        up = _query(prom_port, f'up{{job="{MODEL}"}}')[0]["metric"]
        assert (up["namespace"], up["pod"], up["rollouts_pod_template_hash"]) == (
            "default", DISCOVERED["__meta_kubernetes_pod_name"], CANARY_HASH)
        query = _analysis_query("error-ratio")
        canary = float(_query(prom_port, query.replace("{{args.canary-hash}}", CANARY_HASH))[0]["value"][1])
        stable = float(_query(prom_port, query.replace("{{args.canary-hash}}", STABLE_HASH))[0]["value"][1])
        assert 0 < canary <= 1 and stable == -1
    finally:
        servers.stop()


def _analysis_query(check: str) -> str:
    spec = load_spec(REPO / "examples" / MODEL / "deploy.yaml", ["rollout.strategy=canary"])
    files = KubernetesEmitter().emit(EmitContext(spec=spec, selected=None, runtime=None))
    metrics = yaml.safe_load(files["k8s/analysistemplate.yaml"])["spec"]["metrics"]
    return next(m["provider"]["prometheus"]["query"] for m in metrics if m["name"] == check)


def _safe(check) -> bool:
    try:
        return check()
    except OSError:
        return False
