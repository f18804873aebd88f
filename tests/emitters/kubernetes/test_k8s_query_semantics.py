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

# The series as scraped through the generated ServiceMonitor: the runtime's labels plus the
# scrape labels (catalog_check.SCRAPE_LABELS) that tell one track's pods from the other's.
# Argo names every ReplicaSet's pods <rollout>-<hash>-<suffix> and labels them with the hash;
# Flagger runs the canary as the target Deployment and the stable track as <target>-primary.
CANARY_HASH, STABLE_HASH = "6b9c8d7f5", "5d8f9c7b4"
TRACKS = {
    ("argo", "canary"): f'namespace="default",pod="digits-cnn-{CANARY_HASH}-x2x7q",'
                        f'rollouts_pod_template_hash="{CANARY_HASH}"',
    ("argo", "stable"): f'namespace="default",pod="digits-cnn-{STABLE_HASH}-k8p2m",'
                        f'rollouts_pod_template_hash="{STABLE_HASH}"',
    ("flagger", "canary"): f'namespace="default",pod="digits-cnn-{CANARY_HASH}-x2x7q"',
    ("flagger", "stable"): f'namespace="default",pod="digits-cnn-primary-{STABLE_HASH}-k8p2m"',
}
VARIABLES = {"argo": {"{{args.canary-hash}}": CANARY_HASH},
             "flagger": {"{{ interval }}": "1m", "{{ namespace }}": "default", "{{ target }}": "digits-cnn"}}

# TRACK is replaced by the scrape labels of the track a series comes from.
REQ = 'deployc_requests_total{{model="digits-cnn",outcome="{}",TRACK}}'
BUCKET = 'deployc_request_duration_seconds_bucket{{model="digits-cnn",le="{}",TRACK}}'
# Per 15 s scrape: 60 successes, 15 server errors, 15 timeouts, 30 client errors (counted as
# requests, not failures: the caller's fault) -> 2/s failed of 8/s = 0.25. Whole rates per second
# keep the float arithmetic exact whatever order Prometheus sums the series in.
TRAFFIC = [(REQ.format("success"), "0+60x40"), (REQ.format("server_error"), "0+15x40"),
           (REQ.format("timeout"), "0+15x40"), (REQ.format("client_error"), "0+30x40")]
CLEAN = [(REQ.format("success"), "0+60x40")]
IDLE = [(REQ.format("success"), "100+0x40"), (REQ.format("server_error"), "7+0x40")]
FAST = [(BUCKET.format("0.05"), "0+0x40"), (BUCKET.format("0.1"), "0+10x40"), (BUCKET.format("+Inf"), "0+10x40")]
SLOW = [(BUCKET.format("1.0"), "0+0x40"), (BUCKET.format("2.5"), "0+10x40"), (BUCKET.format("+Inf"), "0+10x40")]
FLAT = [(BUCKET.format("0.05"), "3+0x40"), (BUCKET.format("0.1"), "5+0x40"), (BUCKET.format("+Inf"), "5+0x40")]
UNRELATED = [('deployc_requests_total{model="other",outcome="success",TRACK}', "0+60x40")]


def canary(series):
    return [(s, v, "canary") for s, v in series]


def stable(series):
    return [(s, v, "stable") for s, v in series]


def _queries() -> dict[tuple[str, str], str]:
    """(controller, check) -> query, for Argo's AnalysisTemplate and Flagger's MetricTemplates,
    with the controller's variables filled in as it would at rollout time."""
    out = {}
    for m in manifests(emit_case("canary"))["analysistemplate.yaml"]["spec"]["metrics"]:
        out[("argo", m["name"])] = m["provider"]["prometheus"]["query"]
    for name, obj in manifests(emit_case("flagger-canary")).items():
        if obj.get("kind") == "MetricTemplate":
            out[("flagger", name.removeprefix("metrictemplate-").removesuffix(".yaml"))] = obj["spec"]["query"]
    for (controller, check), query in out.items():
        for variable, value in VARIABLES[controller].items():
            query = query.replace(variable, value)
        assert "{{" not in query, query
        out[(controller, check)] = query
    return out


def _input(controller: str, series) -> list[dict[str, str]]:
    return [{"series": s.replace("TRACK", TRACKS[(controller, track)]), "values": v} for s, v, track in series]


SCENARIOS = [
    ("error-ratio", "traffic with failures", canary(TRAFFIC), 0.25),
    ("error-ratio", "traffic without failure series", canary(CLEAN), 0),
    ("error-ratio", "no series at all", [], -1),
    ("error-ratio", "series but no traffic in the window", canary(IDLE), -1),
    ("error-ratio", "only another model's traffic", canary(UNRELATED), -1),
    # The canary alone is judged: a healthy stable track neither dilutes nor rescues it ...
    ("error-ratio", "canary failing while stable healthy", canary(TRAFFIC) + stable(CLEAN), 0.25),
    # ... and a failing stable track is not blamed on the canary.
    ("error-ratio", "stable failing while canary healthy", canary(CLEAN) + stable(TRAFFIC), 0),
    ("error-ratio", "only the stable track has traffic", stable(TRAFFIC), -1),
    ("p99-latency", "observations in (0.05, 0.1]", canary(FAST), 0.0995),
    ("p99-latency", "slow canary while stable fast", canary(SLOW) + stable(FAST), 2.485),
    ("p99-latency", "slow stable while canary fast", canary(FAST) + stable(SLOW), 0.0995),
    ("p99-latency", "no series at all", [], -1),
    ("p99-latency", "buckets without new observations (NaN)", canary(FLAT), -1),
]


@pytest.mark.parametrize("controller", ["argo", "flagger"])
def test_queries_evaluate_as_documented(controller, tmp_path):
    queries = _queries()
    tests = []
    for check, title, series, expected in SCENARIOS:
        tests.append({
            "name": f"{controller} {check}: {title}",
            "interval": "15s",
            "input_series": _input(controller, series),
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
    test = {"interval": "15s", "input_series": _input("argo", canary(IDLE)),
            "promql_expr_test": [{"expr": query, "eval_time": "5m", "exp_samples": [{"labels": "{}", "value": 0}]}]}
    path = tmp_path / "wrong.test.yaml"
    path.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": [test]}))
    proc = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
