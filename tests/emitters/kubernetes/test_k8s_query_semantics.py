"""The analysis queries, evaluated by Prometheus itself (`promtool test rules`) on synthetic
series: real values where there is traffic, and the no-data sentinel -1 where there is none."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from k8s_helpers import emit_case, manifests

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not on PATH (Debian package 'prometheus')")

REQ = 'deployc_requests_total{{model="digits-cnn",outcome="{}"}}'
BUCKET = 'deployc_request_duration_seconds_bucket{{model="digits-cnn",le="{}"}}'
# Per 15 s scrape: 60 successes, 15 server errors, 15 timeouts, 30 client errors (counted as
# requests, not failures: the caller's fault) -> 2/s failed of 8/s = 0.25. Whole rates per second
# keep the float arithmetic exact whatever order Prometheus sums the series in.
TRAFFIC = [(REQ.format("success"), "0+60x40"), (REQ.format("server_error"), "0+15x40"),
           (REQ.format("timeout"), "0+15x40"), (REQ.format("client_error"), "0+30x40")]
CLEAN = [(REQ.format("success"), "0+60x40")]
IDLE = [(REQ.format("success"), "100+0x40"), (REQ.format("server_error"), "7+0x40")]
FAST = [(BUCKET.format("0.05"), "0+0x40"), (BUCKET.format("0.1"), "0+10x40"), (BUCKET.format("+Inf"), "0+10x40")]
FLAT = [(BUCKET.format("0.05"), "3+0x40"), (BUCKET.format("0.1"), "5+0x40"), (BUCKET.format("+Inf"), "5+0x40")]
UNRELATED = [('deployc_requests_total{model="other",outcome="success"}', "0+60x40")]


def _queries() -> dict[tuple[str, str], str]:
    """(case, check) -> query, for Argo's AnalysisTemplate and Flagger's MetricTemplates."""
    out = {}
    for m in manifests(emit_case("canary"))["analysistemplate.yaml"]["spec"]["metrics"]:
        out[("argo", m["name"])] = m["provider"]["prometheus"]["query"]
    for name, obj in manifests(emit_case("flagger-canary")).items():
        if obj.get("kind") == "MetricTemplate":
            check = name.removeprefix("metrictemplate-").removesuffix(".yaml")
            out[("flagger", check)] = obj["spec"]["query"].replace("{{ interval }}", "1m")
    return out


SCENARIOS = [
    ("error-ratio", "traffic with failures", TRAFFIC, 0.25),
    ("error-ratio", "traffic without failure series", CLEAN, 0),
    ("error-ratio", "no series at all", [], -1),
    ("error-ratio", "series but no traffic in the window", IDLE, -1),
    ("error-ratio", "only another model's traffic", UNRELATED, -1),
    ("p99-latency", "observations in (0.05, 0.1]", FAST, 0.0995),
    ("p99-latency", "no series at all", [], -1),
    ("p99-latency", "buckets without new observations (NaN)", FLAT, -1),
]


@pytest.mark.parametrize("controller", ["argo", "flagger"])
def test_queries_evaluate_as_documented(controller, tmp_path):
    queries = _queries()
    tests = []
    for check, title, series, expected in SCENARIOS:
        tests.append({
            "name": f"{controller} {check}: {title}",
            "interval": "15s",
            "input_series": [{"series": s, "values": v} for s, v in series],
            "promql_expr_test": [{"expr": queries[(controller, check)], "eval_time": "5m",
                                  "exp_samples": [{"labels": "{}", "value": expected}]}],
        })
    path = tmp_path / "queries.test.yaml"
    path.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": tests}))
    proc = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_catches_a_wrong_expectation(tmp_path):
    """The harness can fail: claiming the idle window yields 0 instead of the sentinel is caught."""
    query = _queries()[("argo", "error-ratio")]
    test = {"interval": "15s", "input_series": [{"series": s, "values": v} for s, v in IDLE],
            "promql_expr_test": [{"expr": query, "eval_time": "5m", "exp_samples": [{"labels": "{}", "value": 0}]}]}
    path = tmp_path / "wrong.test.yaml"
    path.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": [test]}))
    proc = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
