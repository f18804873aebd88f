"""A sweep of a vLLM spec across GPU targets: each job is the capacity plan and its outputs (no
pass runs), and a target the model cannot fit is that job's spec error, not the sweep's end."""

from __future__ import annotations

from compiler.sweep import run_sweep
from tests.conftest import EXAMPLES

SPEC = EXAMPLES / "llama70b-plan" / "llama70b.yaml"


def test_sweep_plans_each_target_and_reports_the_misfit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    result = run_sweep(SPEC, ["target=nvidia-h100x8,nvidia-h100x8-2node", "serve.max_concurrency=256",
                              "serve.vllm.image_digest=sha256:" + "0" * 64], out)
    by_target = dict(zip((j.target for j in result.jobs), result.outcomes))
    assert not by_target["nvidia-h100x8"].ok and by_target["nvidia-h100x8"].exit_code == 2
    assert "640.0 GiB of KV cache" in by_target["nvidia-h100x8"].error
    two = by_target["nvidia-h100x8-2node"]
    assert two.ok and two.engine["capacity"]["pipeline_parallel"] == 2
    assert (out / "nvidia-h100x8-2node" / "k8s" / "leaderworkerset.yaml").is_file()
    table = (out / "sweep.md").read_text()
    assert "vllm: tensor parallel 8 x pipeline parallel 2" in table
    assert result.exit_code == 2  # a job's spec is wrong
