"""The plan owns every decision: one step per candidate with its config; build and explain take
the GPU probe from the same place (planner.host_plan), whatever it answers."""

from __future__ import annotations

import json

import pytest

from compiler.build import build
from compiler.candidates import FIDELITY, Candidate
from compiler.cli import plan_json
from compiler.frontend import load_spec
from compiler.passes import registry
from compiler.passes.cache import Cache
from compiler.planner import host_plan, plan
from tests.conftest import EXAMPLES

DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"


@pytest.mark.parametrize("gpu", [False, True])
def test_build_runs_the_plan_explain_prints_for_either_probe_answer(gpu, cache_dir, tmp_path):
    spec = load_spec(DIGITS, ["target=nvidia-h100", "optimize.select=smallest"])
    calls = []

    def probe() -> bool:
        calls.append(gpu)
        return gpu
    planned = plan_json(host_plan(spec, probe))  # what `explain --json` prints
    result = build(spec, tmp_path, Cache(cache_dir), build_image=False, probe=probe)
    assert calls == [gpu, gpu]  # each asked the probe once
    assert planned["gpu_on_host"] is gpu
    report = json.loads((result.target_dir / "report.json").read_text())
    assert report["plan"]["passes"] == [{k: s[k] for k in ("name", "run", "reason")} for s in planned["passes"]]
    aoti = next(s for s in planned["passes"] if s["name"] == "aoti")
    # The probe changes the decision's reason (no GPU at all, or one without the target's sm).
    assert ("this host has none" in aoti["reason"]) is not gpu


def test_every_pass_step_has_a_config_its_pass_makes():
    for target in ("cpu-x86", "nvidia-t4", "nvidia-h100", "android-arm64", "jetson-orin"):
        p = plan(load_spec(DIGITS, [f"target={target}"]), gpu_on_host=True)
        for s in p.passes:
            assert s.config is not None, (target, s.name)
            assert s.config.candidate in registry.get(s.config.pass_name).candidates, (target, s.name)
        ran = [s.config.candidate for s in p.passes if s.run]
        assert len(ran) == len(set(ran)), target  # one step per candidate


def test_int8_static_tflite_is_a_step_with_its_reason():
    """Once skipped without a word: now a plan step that runs, or says why it does not."""
    asked = plan(load_spec(DIGITS, ["target=android-arm64", "optimize.quantize=[int8-dynamic, int8-static]"]))
    step = asked.step(str(Candidate.TFLITE_INT8_STATIC))
    assert step.run and "calibration" in step.reason and step.config.variant == "static_wi8_ai8"
    default = plan(load_spec(DIGITS, ["target=android-arm64", "optimize.quantize=int8-dynamic"]))
    step = default.step(str(Candidate.TFLITE_INT8_STATIC))
    assert not step.run and step.reason == "int8-static not in optimize.quantize"


def test_precision_is_decided_once_for_passes_and_the_target_engine():
    spec = load_spec(DIGITS, ["target=nvidia-h100", "optimize.precisions=[fp32, bf16]", "optimize.quantize=none"])
    p = plan(spec, gpu_on_host=True)
    assert p.step("aoti").config.candidate == Candidate.AOTI_CUDA_BF16
    assert p.step("tensorrt").config.candidate == Candidate.TENSORRT_BF16
    assert p.target_engine.precision == "bf16"
    int8 = plan(load_spec(DIGITS, ["target=nvidia-h100"]), gpu_on_host=True)
    assert int8.step("tensorrt").config.candidate == Candidate.TENSORRT_INT8
    assert int8.target_engine.precision == "fp16"  # the engine built at first load has no calibration data


def test_every_registered_candidate_is_ranked_once():
    made = [c for name in registry.names() for c in registry.get(name).candidates]
    assert sorted(made) == sorted(FIDELITY) == sorted(Candidate)


def test_the_serving_batch_is_measured_and_weighs_most():
    lat = plan(load_spec(DIGITS, ["optimize.latency.batch_sizes=[1, 8]", "serve.batching.max_batch_size=64"])).latency
    assert lat.batches == (1, 8, 64) and lat.serving_batch == 64
    assert lat.weights == (0.25, 0.25, 0.5) and "weighted toward batch 64" in lat.note
    off = plan(load_spec(DIGITS, ["optimize.latency.batch_sizes=[32]", "serve.batching.enabled=false"])).latency
    assert off.batches == (1, 32) and off.serving_batch == 1 and off.weights == (0.5, 0.5) and "batching off" in off.note
    assert plan(load_spec(DIGITS, ["target=nvidia-h100"])).latency is None  # not measured on this host


def test_an_edge_plan_times_the_bundles_fixed_batch_only():
    from compiler.planner import latency_plan

    spec = load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", ["target=android-arm64"])
    plan = latency_plan(spec)
    assert plan.batches == (1,) and plan.weights == (1.0,), plan
    assert "optimize.edge.batch_size" in plan.note
    cpu = latency_plan(load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", ["target=cpu-x86"]))
    assert 32 in cpu.batches
