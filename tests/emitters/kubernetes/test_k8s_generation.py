"""A text-generation model's manifests: the startup probe follows the load time, memory the
footprint (weights + KV cache), large weights come from a volume, and the canary analysis judges
time to first token; every object validates strictly and every query names real series."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import kubernetes_validate
import pytest
from k8s_helpers import manifests, spec_for

import crd_validate
from compiler.emitters.base import EmitContext, SelectedArtifact
from compiler.emitters.kubernetes import SUPPORTED_KUBERNETES_VERSIONS, KubernetesEmitter
from compiler.emitters.kubernetes.generation import (
    HEADROOM, LOAD_BYTES_PER_S, RUNTIME_OVERHEAD, STARTUP_FACTOR, WEIGHTS_IN_IMAGE_MAX_BYTES)
from compiler.emitters.kubernetes.workload import STARTUP_BUDGET_SECONDS
from compiler.runtime.config import GenerationRuntime
from tests.runtime.helpers import runtime

CUSTOM_GROUPS = ("argoproj.io/", "flagger.app/", "gateway.networking.k8s.io/", "networking.istio.io/")
LAYERS, KV_HEADS, HEAD = 30, 3, 64  # SmolLM2-135M's decoder
CONTEXT = 2048


def _folder(tmp_path, weights: int):
    folder = tmp_path / "genai"
    folder.mkdir()
    decoder = {"num_hidden_layers": LAYERS, "num_key_value_heads": KV_HEADS, "head_size": HEAD}
    (folder / "genai_config.json").write_text(json.dumps({"model": {"decoder": decoder, "context_length": 8192}}))
    with open(folder / "model.onnx.data", "wb") as f:  # sparse: the size is what counts
        f.truncate(weights)
    return folder


def _emit(tmp_path, weights: int) -> dict:
    spec = spec_for("digits-cnn")
    spec = replace(spec, model=replace(spec.model, task="text-generation"))
    folder = _folder(tmp_path, weights)
    selected = SelectedArtifact("genai-fp32", "genai", folder, "genai", "fp32", "0" * 64, weights)
    rt = runtime(model_name=spec.name, model_version=spec.version, artifact="genai", backend="onnxruntime-genai",
                 inputs=[], outputs=[], generation=GenerationRuntime("genai", CONTEXT, 256, True))
    return manifests(KubernetesEmitter().emit(EmitContext(spec=spec, selected=selected, runtime=rt)))


def _container(objs: dict) -> dict:
    return objs["rollout.yaml"]["spec"]["template"]["spec"]["containers"][0]


def _mib(n: float) -> int:
    return math.ceil(n / 2**20)


def test_small_weights_are_baked_and_memory_is_the_footprint(tmp_path):
    weights = 540 * 2**20
    objs = _emit(tmp_path, weights)
    assert "pvc-weights.yaml" not in objs
    container = _container(objs)
    assert all(m["name"] != "weights" for m in container["volumeMounts"])
    sequences = spec_for("digits-cnn").serve.batching.max_batch_size  # each decoding sequence holds a KV cache
    kv = 2 * LAYERS * KV_HEADS * HEAD * 4 * CONTEXT * sequences
    files = weights + (tmp_path / "genai" / "genai_config.json").stat().st_size  # every file of the folder
    expected = _mib(int((files + kv + RUNTIME_OVERHEAD) * HEADROOM))
    resources = container["resources"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"] == f"{expected}Mi"


def test_large_weights_come_from_a_read_only_volume_and_the_probe_waits_for_them(tmp_path):
    weights = 20 * 2**30
    assert weights > WEIGHTS_IN_IMAGE_MAX_BYTES
    objs = _emit(tmp_path, weights)
    pvc = objs["pvc-weights.yaml"]
    assert pvc["spec"]["accessModes"] == ["ReadOnlyMany"] and pvc["metadata"]["name"] == "digits-cnn-weights"
    assert "pvc-weights.yaml" in objs["kustomization.yaml"]["resources"]
    container = _container(objs)
    mount = next(m for m in container["volumeMounts"] if m["name"] == "weights")
    assert mount["mountPath"] == "/srv/model/genai"
    volume = next(v for v in objs["rollout.yaml"]["spec"]["template"]["spec"]["volumes"] if v["name"] == "weights")
    assert volume["persistentVolumeClaim"] == {"claimName": "digits-cnn-weights", "readOnly": True}
    probe = container["startupProbe"]
    budget = probe["periodSeconds"] * probe["failureThreshold"]
    load = 2.0 + weights / LOAD_BYTES_PER_S
    assert budget >= load * STARTUP_FACTOR > STARTUP_BUDGET_SECONDS
    assert budget < load * STARTUP_FACTOR + probe["periodSeconds"]
    for name, obj in objs.items():
        if name == "kustomization.yaml":
            continue
        if obj["apiVersion"].startswith(CUSTOM_GROUPS):
            crd_validate.validate_custom(obj)
        else:
            kubernetes_validate.validate(obj, SUPPORTED_KUBERNETES_VERSIONS[-1], strict=True)


def test_canary_analysis_judges_time_to_first_token(tmp_path):
    metrics = {m["name"]: m for m in _emit(tmp_path, 2**20)["analysistemplate.yaml"]["spec"]["metrics"]}
    assert sorted(metrics) == ["error-ratio", "p99-ttft"]
    query = metrics["p99-ttft"]["provider"]["prometheus"]["query"]
    assert "deployc_time_to_first_token_seconds_bucket" in query and "request_duration" not in query


def test_a_measured_load_time_sizes_the_startup_probe():
    """The report's load_seconds (verification times og.Model) wins over the size estimate."""
    from compiler.emitters.kubernetes.generation import GenerationPod

    slow = GenerationPod(150.0, True, 10**9, 0, 2**30, None, "genai")
    assert slow.startup_budget(STARTUP_BUDGET_SECONDS) == 150 * STARTUP_FACTOR > STARTUP_BUDGET_SECONDS
    quick = GenerationPod(1.2, True, 10**9, 0, 2**30, None, "genai")
    assert quick.startup_budget(STARTUP_BUDGET_SECONDS) == STARTUP_BUDGET_SECONDS  # never below the others'
