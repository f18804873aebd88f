"""vLLM's Kubernetes objects: strict validation (built-in kinds for every supported Kubernetes
version, LeaderWorkerSet and KServe against their vendored CRDs) and what each object says."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from compiler.emitters.kubernetes.common import SUPPORTED_KUBERNETES_VERSIONS
from tests import crd_validate
from tests.emitters.vllm.vllm_helpers import ONE_NODE, TEST_DIGEST, TWO_NODES, emit, objects

CUSTOM = ("leaderworkerset.x-k8s.io/", "serving.kserve.io/", "argoproj.io/", "monitoring.coreos.com/")
CANARY = ("rollout.strategy=canary", "rollout.canary.steps=[{set_weight:50},{analysis:true},{set_weight:100}]")
CASES = {"one-node": ONE_NODE, "two-nodes": TWO_NODES, "canary": CANARY}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_object_validates_strictly(case):
    objs = objects(CASES[case])
    custom = {n: o for n, o in objs.items() if o["apiVersion"].startswith(CUSTOM)}
    builtin = {n: o for n, o in objs.items() if n not in custom}
    assert builtin and custom
    for name, obj in custom.items():
        crd_validate.validate_custom(obj)  # LookupError for a kind with no vendored CRD: a failure
    for version in SUPPORTED_KUBERNETES_VERSIONS:
        for name, obj in builtin.items():
            kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_has_teeth():
    lws = objects(TWO_NODES)["k8s/leaderworkerset.yaml"]
    lws["spec"]["leaderWorkerTemplate"]["groupSize"] = 2  # not a LeaderWorkerSet field
    with pytest.raises(Exception, match="groupSize"):
        crd_validate.validate_custom(lws)


def _flags(args: list[str]) -> dict[str, str]:
    """--flag value pairs; a switch (no value) maps to ''."""
    out, i = {}, 0
    while i < len(args):
        has_value = i + 1 < len(args) and not args[i + 1].startswith("--")
        out[args[i]] = args[i + 1] if has_value else ""
        i += 2 if has_value else 1
    return out


def _container(pod: dict) -> dict:
    (c,) = pod["containers"]
    return c


def test_one_node_is_a_tensor_parallel_deployment():
    objs = objects(ONE_NODE)
    assert "k8s/leaderworkerset.yaml" not in objs
    pod = objs["k8s/deployment.yaml"]["spec"]["template"]["spec"]
    c = _container(pod)
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert c["image"] == f"vllm/vllm-openai:v0.10.1@{TEST_DIGEST}"
    args = c["command"]
    assert args[:3] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    flags = _flags(args[3:])
    assert flags["--tensor-parallel-size"] == "8" and flags["--max-model-len"] == "8192"
    assert flags["--max-num-seqs"] == "64" and flags["--dtype"] == "bfloat16"
    assert flags["--gpu-memory-utilization"] == "0.9" and flags["--served-model-name"] == "llama70b"
    assert "--enable-prefix-caching" in args and "--pipeline-parallel-size" not in args
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in c["volumeMounts"]
    assert any(e["name"] == "NCCL_DEBUG" for e in c["env"])
    # 20000 tokens/s asked, about 3,800 per replica estimated: 6 replicas.
    assert objs["k8s/deployment.yaml"]["spec"]["replicas"] == 6
    assert objs["k8s/hpa.yaml"]["spec"]["minReplicas"] == 6


def test_two_nodes_is_a_leader_worker_set_with_ray():
    objs = objects(TWO_NODES)
    assert "k8s/deployment.yaml" not in objs
    lws = objs["k8s/leaderworkerset.yaml"]["spec"]["leaderWorkerTemplate"]
    assert lws["size"] == 2 and lws["restartPolicy"] == "RecreateGroupOnPodRestart"
    leader, worker = _container(lws["leaderTemplate"]["spec"]), _container(lws["workerTemplate"]["spec"])
    script = leader["command"][2]
    assert script.startswith("ray start --head --port=6379 && exec python3 -m vllm.entrypoints.openai.api_server")
    assert "--pipeline-parallel-size 2" in script and "--tensor-parallel-size 8" in script
    assert "--distributed-executor-backend ray" in script
    assert worker["command"][2] == "exec ray start --address=$(LWS_LEADER_ADDRESS):6379 --block"
    # Readiness on the leader only; the Service sends traffic to the leader only.
    assert "readinessProbe" in leader and "readinessProbe" not in worker and "ports" not in worker
    assert objs["k8s/service.yaml"]["spec"]["selector"]["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
    assert {"name": "NCCL_IB_DISABLE", "value": "0"} in leader["env"]  # InfiniBand between the nodes
    hpa = objs["k8s/hpa.yaml"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
                                     "name": "llama70b"}
    llm = objs["kserve/llminferenceservice.yaml"]["spec"]
    assert llm["parallelism"] == {"tensor": 8, "pipeline": 2} and "worker" in llm
    assert "kserve/inferenceservice.yaml" not in objs  # one pod per replica there


def test_hpa_scales_on_vllm_queue_and_kv_cache_through_the_adapter():
    objs = objects(ONE_NODE)
    names = {m["pods"]["metric"]["name"] for m in objs["k8s/hpa.yaml"]["spec"]["metrics"]}
    assert names == {"vllm_num_requests_waiting", "vllm_kv_cache_usage_perc"}
    rules = yaml.safe_load(emit(ONE_NODE)["k8s/prometheus-adapter-rules.yaml"])["rules"]
    assert {r["name"]["as"] for r in rules} == names
    assert {r["seriesQuery"].split('"')[1] for r in rules} == {"vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"}
    from compiler.emitters.vllm.catalog import exported

    assert all(r["seriesQuery"].split('"')[1] in exported() for r in rules)  # names vLLM really exports


def test_image_context_pins_version_and_digest():
    files = emit(ONE_NODE)
    assert f"FROM vllm/vllm-openai:v0.10.1@{TEST_DIGEST}\n" in files["image/Dockerfile"].decode()
    assert b"/v1/chat/completions" in files["image/vllm-serve.json"]


def test_output_is_deterministic():
    from tests.emitters.vllm import vllm_helpers

    first = dict(emit(TWO_NODES))
    vllm_helpers.emit.cache_clear()
    assert emit(TWO_NODES) == first


def test_emitting_without_the_image_digest_is_a_spec_error():
    from compiler.emitters.base import EmitContext
    from compiler.emitters.registry import emitter
    from compiler.errors import SpecError
    from compiler.frontend import load_spec
    from compiler.planner import plan
    from tests.emitters.vllm.vllm_helpers import SPEC

    spec = load_spec(SPEC, [])
    with pytest.raises(SpecError) as info:
        emitter("vllm-image").emit(EmitContext(spec, None, None, engine=plan(spec).engine_plan))
    assert info.value.issues[0].path == "serve.vllm.image_digest"


def test_canary_is_an_argo_rollout_judged_on_vllm_series_of_the_new_pods():
    objs = objects(CANARY)
    assert "k8s/deployment.yaml" not in objs
    steps = objs["k8s/rollout.yaml"]["spec"]["strategy"]["canary"]["steps"]
    assert steps[1]["analysis"]["templates"] == [{"templateName": "llama70b"}]
    template = objs["k8s/analysistemplate.yaml"]["spec"]
    queries = [m["provider"]["prometheus"]["query"] for m in template["metrics"]]
    assert all('rollouts_pod_template_hash="{{args.canary-hash}}"' in q for q in queries)
    assert any("vllm:time_to_first_token_seconds_bucket" in q for q in queries)
    assert objs["k8s/hpa.yaml"]["spec"]["scaleTargetRef"]["kind"] == "Rollout"
    monitor = objs["monitoring/servicemonitor.yaml"]["spec"]
    assert monitor["podTargetLabels"] == ["rollouts-pod-template-hash"]


@pytest.mark.parametrize("overrides, key", [
    (("rollout.strategy=blue-green",), "rollout.strategy"),
    ((*CANARY, "rollout.controller=flagger", "rollout.traffic.router=nginx", "rollout.analysis.on_no_data=pass"),
     "rollout.strategy"),
    ((*CANARY, "rollout.traffic.router=nginx"), "rollout.traffic.router"),
    ((*TWO_NODES, *CANARY), "rollout.strategy"),
])
def test_rollouts_vllm_cannot_do_are_spec_errors(overrides, key):
    from compiler.errors import SpecError

    with pytest.raises(SpecError) as info:
        emit(tuple(overrides))
    assert info.value.issues[0].path == key
