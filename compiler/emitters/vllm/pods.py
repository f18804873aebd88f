"""The vLLM pod: container, GPUs, the model volume, /dev/shm and NCCL settings, probes."""

from __future__ import annotations

from kubernetes import client

from compiler.capacity import EnginePlan
from compiler.emitters.vllm import server
from compiler.frontend.spec import Spec

CONTAINER = "main"  # KServe's LLMInferenceService merges its defaults into the container of this name
HTTP = "http"
# A 70B model's 140 GB load from a volume takes minutes: the startup probe allows 30.
STARTUP_PERIOD_S, STARTUP_FAILURES = 10, 180
# Tensor parallelism exchanges activations through /dev/shm (NCCL, vLLM's custom all-reduce);
# a container's default 64 MiB is far too small, so it is a memory-backed volume.
SHM_LIMIT = "16Gi"


def labels(spec: Spec) -> dict[str, str]:
    return {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/instance": f"{spec.name}-{spec.target.name}",
            "app.kubernetes.io/component": "inference-server", "app.kubernetes.io/managed-by": "deployc",
            "deployc.dev/engine": "vllm"}


def selector(spec: Spec) -> dict[str, str]:
    return {k: v for k, v in labels(spec).items() if k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}


def nccl_env(spec: Spec, engine: EnginePlan) -> list[client.V1EnvVar]:
    g = spec.target.gpu
    env = {"NCCL_DEBUG": "WARN"}
    if g is not None and g.interconnect == "pcie":
        env["NCCL_P2P_LEVEL"] = "PXB"  # peer-to-peer over PCIe bridges; NVLink needs no hint
    if engine.capacity.multi_node:
        ib = g is not None and g.network in ("infiniband", "roce")
        env["NCCL_IB_DISABLE"] = "0" if ib else "1"  # RDMA between nodes where the fabric has it
        env["GLOO_SOCKET_IFNAME"] = env["NCCL_SOCKET_IFNAME"] = "eth0"  # the pod network, not loopback
    return [client.V1EnvVar(name=k, value=v) for k, v in sorted(env.items())]


def _probe(period: int, failures: int) -> client.V1Probe:
    return client.V1Probe(http_get=client.V1HTTPGetAction(path=server.HEALTH, port=HTTP),
                          period_seconds=period, failure_threshold=failures, timeout_seconds=5)


def container(spec: Spec, engine: EnginePlan, command: list[str], serving: bool) -> client.V1Container:
    """`serving`: the pod that runs the API server (probes, port); a Ray worker has neither."""
    t, gpus = spec.target, str(engine.capacity.tensor_parallel)
    limits = {"nvidia.com/gpu": gpus, "memory": t.resources.memory}
    mounts = [client.V1VolumeMount(name="model", mount_path=server.model_dir(spec), read_only=True),
              client.V1VolumeMount(name="dshm", mount_path="/dev/shm")]
    return client.V1Container(
        name=CONTAINER, image=server.image_ref(spec), command=command,
        ports=[client.V1ContainerPort(name=HTTP, container_port=spec.serve.port, protocol="TCP")] if serving else None,
        env=nccl_env(spec, engine), volume_mounts=mounts,
        resources=client.V1ResourceRequirements(requests={"cpu": t.resources.cpu, "memory": t.resources.memory,
                                                          "nvidia.com/gpu": gpus}, limits=limits),
        startup_probe=_probe(STARTUP_PERIOD_S, STARTUP_FAILURES) if serving else None,
        readiness_probe=_probe(10, 3) if serving else None,
        liveness_probe=_probe(30, 3) if serving else None)


def volumes(spec: Spec) -> list[client.V1Volume]:
    return [client.V1Volume(name="model", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
                claim_name=model_claim(spec), read_only=True)),
            client.V1Volume(name="dshm", empty_dir=client.V1EmptyDirVolumeSource(medium="Memory", size_limit=SHM_LIMIT))]


def model_claim(spec: Spec) -> str:
    """The PersistentVolumeClaim holding the Hugging Face folder (the user fills it once)."""
    return f"{spec.name}-model"


def pod_spec(spec: Spec, engine: EnginePlan, command: list[str], serving: bool = True) -> client.V1PodSpec:
    t = spec.target
    return client.V1PodSpec(
        containers=[container(spec, engine, command, serving)], volumes=volumes(spec),
        node_selector=dict(t.node_selector) or None, runtime_class_name=t.runtime_class,
        tolerations=[client.V1Toleration(key=x.key, operator=x.operator, value=x.value, effect=x.effect)
                     for x in t.tolerations] or None,
        termination_grace_period_seconds=spec.serve.drain_seconds + 10)


def pod_template(spec: Spec, engine: EnginePlan, command: list[str], serving: bool = True) -> client.V1PodTemplateSpec:
    return client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels(spec)),
                                    spec=pod_spec(spec, engine, command, serving))
