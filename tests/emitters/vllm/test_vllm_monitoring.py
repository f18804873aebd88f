"""vLLM's rules: promtool checks and runs their generated tests; the static cross-check reads
vLLM's catalog (its pinned version's metric names) and refuses a name vLLM does not export."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from compiler.emitters.monitoring.crosscheck import CatalogMismatchError, check_expr, check_groups
from compiler.emitters.monitoring.rules import Alert, Group, Settings
from compiler.emitters.vllm import catalog, make_catalog, monitoring
from compiler.errors import SpecError
from compiler.planner import plan
from tests.emitters.vllm.vllm_helpers import ONE_NODE, emit, spec_of

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not on PATH (Debian package 'prometheus' "
                                                             "provides /usr/bin/promtool)")


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vllm-monitoring")
    for name, data in emit(ONE_NODE).items():
        if name.startswith("monitoring/"):
            (out / Path(name).name).write_bytes(data)
    return out


@needs_promtool
def test_rules_pass_promtool_check_and_their_tests(folder):
    check = _promtool("check", "rules", "--lint-fatal", "rules.yaml", cwd=folder)
    assert check.returncode == 0, check.stdout + check.stderr
    run = _promtool("test", "rules", "rules.test.yaml", cwd=folder)
    assert run.returncode == 0, run.stdout + run.stderr


@needs_promtool
def test_every_alert_is_tested_firing_and_silent_and_a_wrong_expectation_fails(folder, tmp_path):
    tests = yaml.safe_load((folder / "rules.test.yaml").read_text())
    cases = [(t["alert_rule_test"][0]["alertname"], bool(t["alert_rule_test"][0]["exp_alerts"])) for t in tests["tests"]]
    alerts = {a for a, _ in cases}
    assert alerts == {"VllmTimeToFirstTokenSlow", "VllmTimePerOutputTokenSlow", "VllmRequestsQueued", "VllmKvCacheFull"}
    assert set(cases) == {(a, f) for a in alerts for f in (True, False)}
    firing = next(t for t in tests["tests"] if t["alert_rule_test"][0]["exp_alerts"])
    firing["alert_rule_test"][0]["exp_alerts"] = []
    (tmp_path / "rules.yaml").write_bytes((folder / "rules.yaml").read_bytes())
    (tmp_path / "broken.test.yaml").write_text(yaml.safe_dump({**tests, "tests": [firing]}))
    assert _promtool("test", "rules", "broken.test.yaml", cwd=tmp_path).returncode != 0


def test_rules_read_the_ttft_tpot_queue_and_kv_cache_series(folder):
    text = (folder / "rules.yaml").read_text()
    for name in ("vllm:time_to_first_token_seconds_bucket", "vllm:time_per_output_token_seconds_bucket",
                 "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"):
        assert name in text


def test_cross_check_catches_a_metric_vllm_does_not_export():
    s = Settings(spec_of())
    bad = Alert("VllmTypo", 'max(vllm:kv_cache_usage_percent{model_name="llama70b"}) > 0.9', "ticket", "s", "d", None)
    with pytest.raises(CatalogMismatchError, match="vllm:kv_cache_usage_percent"):
        check_groups([Group("g", (bad,))], monitoring.known())
    # deployc's own runtime metrics are not vLLM's: the catalog follows serve.engine.
    with pytest.raises(CatalogMismatchError, match="deployc_requests_total"):
        check_expr("q", "sum(rate(deployc_requests_total[5m]))", monitoring.known())
    # A label vLLM does not put on the series is caught too.
    with pytest.raises(CatalogMismatchError, match="'model'"):
        check_expr("q", 'vllm:num_requests_waiting{model="llama70b"}', monitoring.known())
    assert monitoring.checked_groups(s, plan(spec_of()).engine_plan)  # the real rules pass


def test_counter_and_histogram_series_names_follow_prometheus_client():
    exported = catalog.exported()
    assert "vllm:request_success_total" in exported and "vllm:request_success" not in exported
    assert exported["vllm:time_to_first_token_seconds_bucket"][-1] == "le"
    assert "vllm:num_requests_waiting" in exported


def test_latency_threshold_must_be_a_ttft_bucket():
    s = Settings(spec_of("monitoring.slo.latency_threshold_seconds=0.3"))
    with pytest.raises(SpecError, match="monitoring.slo.latency_threshold_seconds"):
        monitoring.groups(s, plan(spec_of()).engine_plan)


SOURCE = '''
class PrometheusStatLogger:
    def __init__(self, vllm_config):
        labelnames = ["model_name", "engine"]
        g = self._gauge_cls(name="vllm:num_requests_waiting", documentation="x", labelnames=labelnames)
        c = self._counter_cls(name="vllm:request_success", documentation="x", labelnames=labelnames + ["finished_reason"])
        h = self._histogram_cls(name="vllm:time_to_first_token_seconds", documentation="x",
                                buckets=[0.001, 0.25, 2560.0], labelnames=labelnames)
        t = prometheus_client.Histogram(name="vllm:request_prompt_tokens", documentation="x",
                                        buckets=build_1_2_5_buckets(max_model_len), labelnames=labelnames)
'''


def test_make_catalog_reads_metric_definitions_with_ast():
    found = make_catalog.metrics(SOURCE)
    assert found == [("vllm:num_requests_waiting", "gauge", ("model_name", "engine"), None),
                     ("vllm:request_prompt_tokens", "histogram", ("model_name", "engine"), None),
                     ("vllm:request_success", "counter", ("model_name", "engine", "finished_reason"), None),
                     ("vllm:time_to_first_token_seconds", "histogram", ("model_name", "engine"), (0.001, 0.25, 2560.0))]
    namespace: dict = {}
    exec(make_catalog.render(found, "v0", "abc"), namespace)  # the generated module is valid Python
    assert [m.name for m in namespace["METRICS"]] == [f[0] for f in found]


def test_the_vendored_catalog_agrees_with_the_generator_format():
    names = [m.name for m in catalog.metrics()]
    assert names == sorted(names) and len(names) == len(set(names))
    assert all(m.kind in ("gauge", "counter", "histogram") for m in catalog.metrics())
    assert catalog.version() == "v0.10.1"
    from compiler.emitters.vllm import server

    assert server.VERSION == catalog.version()  # the image runs the version the names come from
