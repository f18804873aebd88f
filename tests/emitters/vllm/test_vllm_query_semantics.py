"""The vLLM canary analysis, evaluated by Prometheus itself (`promtool test rules`): the canary's
values where it has traffic (the stable ReplicaSet's series never leak in), and the no-data
sentinel -1 where it has none (0/0 and a quantile of empty buckets are never a pass)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.emitters.vllm.test_vllm_manifests import CANARY
from tests.emitters.vllm.vllm_helpers import objects

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not on PATH (Debian package 'prometheus')")
CANARY_HASH, STABLE_HASH = "6b9c8d7f5", "5d8f9c7b4"


def _series(name: str, hash_: str, **labels: str) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in {"model_name": "llama70b", "engine": "0", **labels,
                                                 "rollouts_pod_template_hash": hash_}.items())
    return f"{name}{{{inner}}}"


def _queries() -> dict[str, str]:
    metrics = objects(CANARY)["k8s/analysistemplate.yaml"]["spec"]["metrics"]
    return {m["name"]: m["provider"]["prometheus"]["query"].replace("{{args.canary-hash}}", CANARY_HASH)
            for m in metrics}


def _run(tmp_path, series: list[tuple[str, str]], expected: dict[str, float]) -> subprocess.CompletedProcess:
    queries = _queries()
    rules = {"groups": [{"name": "q", "rules": [{"record": f"q:{name.replace('-', '_')}", "expr": q}
                                                 for name, q in queries.items()]}]}
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series],
        "promql_expr_test": [{"expr": f"q:{name.replace('-', '_')}", "eval_time": "15m",
                              "exp_samples": [{"labels": f"q:{name.replace('-', '_')}", "value": value}]}
                             for name, value in expected.items()]}]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(tests))
    return subprocess.run([PROMTOOL, "test", "rules", "t.yaml"], cwd=tmp_path, capture_output=True, text=True)


SUCCESS = "vllm:request_success_total"
TTFT = "vllm:time_to_first_token_seconds_bucket"


def test_canary_traffic_gives_the_canary_values(tmp_path):
    series = [(_series(SUCCESS, CANARY_HASH, finished_reason="abort"), "0+60x20"),
              (_series(SUCCESS, CANARY_HASH, finished_reason="stop"), "0+180x20"),
              (_series(SUCCESS, STABLE_HASH, finished_reason="abort"), "0+600x20"),  # the stable's: ignored
              (_series(TTFT, CANARY_HASH, le="0.1"), "0+0x20"), (_series(TTFT, CANARY_HASH, le="0.25"), "0+60x20"),
              (_series(TTFT, CANARY_HASH, le="+Inf"), "0+60x20"),
              (_series(TTFT, STABLE_HASH, le="0.1"), "0+0x20"), (_series(TTFT, STABLE_HASH, le="+Inf"), "0+60x20")]
    # 1/s aborted of 4/s; p95 inside (0.1, 0.25]: 0.1 + 0.15 x 0.95
    ran = _run(tmp_path, series, {"aborted-ratio": 0.25, "time-to-first-token-p95": 0.2425})
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_an_idle_canary_is_the_no_data_sentinel(tmp_path):
    series = [(_series(SUCCESS, CANARY_HASH, finished_reason="stop"), "50+0x20"),
              (_series(TTFT, CANARY_HASH, le="0.1"), "3+0x20"), (_series(TTFT, CANARY_HASH, le="+Inf"), "5+0x20"),
              (_series(SUCCESS, STABLE_HASH, finished_reason="stop"), "0+60x20")]
    ran = _run(tmp_path, series, {"aborted-ratio": -1, "time-to-first-token-p95": -1})
    assert ran.returncode == 0, ran.stdout + ran.stderr
