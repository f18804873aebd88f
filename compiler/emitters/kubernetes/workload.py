"""The pod template (one typed object, reused by every rollout controller) and the Deployment."""

from __future__ import annotations

from kubernetes import client

from compiler.emitters.kubernetes.common import (
    CONTAINER_NAME, GRPC_PORT_NAME, HTTP_PORT_NAME, METRICS_PORT_NAME, RUN_AS_USER, Workload)
from compiler.emitters.kubernetes.generation import mebibytes

# grpc.health.v1 services of the runtime (runtime/grpc_server.py): "" is SERVING once the model
# is ready and NOT_SERVING while it loads or drains; "live" while the process serves at all.
READY_SERVICE = ""
LIVE_SERVICE = "live"
# SIGTERM starts the runtime's drain; the kubelet must not SIGKILL before the drain can finish.
GRACE_MARGIN_SECONDS = 10
# Startup budget: loading a model is seconds, but a TensorRT engine build on first start is minutes.
STARTUP_PERIOD_SECONDS = 5
STARTUP_BUDGET_SECONDS = 300
STARTUP_BUDGET_TRT_SECONDS = 900


def pod_template(w: Workload) -> client.V1PodTemplateSpec:
    target = w.spec.target
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=w.labels, annotations=w.annotations or None),
        spec=client.V1PodSpec(
            service_account_name=w.name,
            automount_service_account_token=False,
            enable_service_links=False,
            termination_grace_period_seconds=w.spec.serve.drain_seconds + GRACE_MARGIN_SECONDS,
            security_context=client.V1PodSecurityContext(
                run_as_non_root=True, run_as_user=RUN_AS_USER, run_as_group=RUN_AS_USER,
                fs_group=RUN_AS_USER, seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")),
            containers=[_container(w)],
            volumes=_volumes(w),
            node_selector=dict(target.node_selector) or None,
            tolerations=_tolerations(w) or None,
            runtime_class_name=target.runtime_class,
            topology_spread_constraints=_spread(w) or None,
        ),
    )


def deployment(w: Workload, pod: client.V1PodTemplateSpec, strategy: client.V1DeploymentStrategy | None,
               ) -> client.V1Deployment:
    # No `replicas`: the HPA owns the count, and re-applying must not reset it.
    return client.V1Deployment(
        api_version="apps/v1", kind="Deployment", metadata=w.metadata(),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels=w.selector),
            template=pod, strategy=strategy, revision_history_limit=5))


def rolling_strategy(w: Workload) -> client.V1DeploymentStrategy:
    r = w.spec.rollout
    return client.V1DeploymentStrategy(
        type="RollingUpdate",
        rolling_update=client.V1RollingUpdateDeployment(max_surge=r.max_surge, max_unavailable=r.max_unavailable))


def _container(w: Workload) -> client.V1Container:
    serve = w.spec.serve
    return client.V1Container(
        name=CONTAINER_NAME,
        image=w.image,
        image_pull_policy="IfNotPresent",
        ports=[client.V1ContainerPort(name=HTTP_PORT_NAME, container_port=serve.port, protocol="TCP"),
               client.V1ContainerPort(name=METRICS_PORT_NAME, container_port=serve.metrics_port, protocol="TCP"),
               client.V1ContainerPort(name=GRPC_PORT_NAME, container_port=serve.grpc_port, protocol="TCP")],
        resources=_resources(w),
        startup_probe=_probe(w, READY_SERVICE, period=STARTUP_PERIOD_SECONDS,
                             failures=-(-_startup_budget(w) // STARTUP_PERIOD_SECONDS)),  # rounded up
        readiness_probe=_probe(w, READY_SERVICE, period=5, failures=3),
        liveness_probe=_probe(w, LIVE_SERVICE, period=10, failures=3),
        security_context=client.V1SecurityContext(
            allow_privilege_escalation=False, read_only_root_filesystem=True, run_as_non_root=True,
            run_as_user=RUN_AS_USER, capabilities=client.V1Capabilities(drop=["ALL"]),
            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")),
        volume_mounts=[client.V1VolumeMount(name=v.name, mount_path=path) for v, path in _mounts(w)],
    )


def _probe(w: Workload, service: str, period: int, failures: int) -> client.V1Probe:
    # The grpc probe type takes a port number, not a name.
    return client.V1Probe(
        grpc=client.V1GRPCAction(port=w.spec.serve.grpc_port, service=service),
        period_seconds=period, timeout_seconds=2, failure_threshold=failures, success_threshold=1)


def _startup_budget(w: Workload) -> int:
    floor = STARTUP_BUDGET_TRT_SECONDS if w.trt_cache else STARTUP_BUDGET_SECONDS
    return w.generation.startup_budget(floor) if w.generation else floor


def _resources(w: Workload) -> client.V1ResourceRequirements:
    res = w.spec.target.resources
    memory = mebibytes(w.generation.memory_bytes) if w.generation else res.memory
    amounts = {"cpu": res.cpu, "memory": memory}
    if res.gpu > 0:
        amounts["nvidia.com/gpu"] = str(res.gpu)
    # Requests equal limits: Guaranteed QoS, so latency is not at the mercy of noisy neighbours.
    return client.V1ResourceRequirements(requests=dict(amounts), limits=dict(amounts))


def _mounts(w: Workload) -> list[tuple[client.V1Volume, str]]:
    # The root filesystem is read-only: /tmp and the engine cache are the only writable places.
    mounts = [(client.V1Volume(name="tmp", empty_dir=client.V1EmptyDirVolumeSource()), "/tmp")]
    if w.trt_cache:
        mounts.append((client.V1Volume(name="trt-engine-cache", empty_dir=client.V1EmptyDirVolumeSource()),
                       w.trt_cache))
    if w.generation and w.generation.weights_volume:  # large weights: a volume, not image layers
        claim = client.V1PersistentVolumeClaimVolumeSource(claim_name=weights_claim(w), read_only=True)
        mounts.append((client.V1Volume(name="weights", persistent_volume_claim=claim), w.generation.weights_volume))
    return mounts


def weights_claim(w: Workload) -> str:
    return f"{w.name}-weights"


def weights_pvc(w: Workload) -> client.V1PersistentVolumeClaim:
    """The claim the weights are read from (ReadOnlyMany: every replica mounts it). Fill it once
    with the contents of model/<generation.model_dir>/ of the build before the first rollout."""
    size = mebibytes(int(w.generation.weights_bytes * 1.1))
    return client.V1PersistentVolumeClaim(
        api_version="v1", kind="PersistentVolumeClaim",
        metadata=client.V1ObjectMeta(name=weights_claim(w), namespace=w.namespace, labels=w.labels),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadOnlyMany"], resources=client.V1VolumeResourceRequirements(requests={"storage": size})))


def _volumes(w: Workload) -> list[client.V1Volume]:
    return [volume for volume, _ in _mounts(w)]


def _tolerations(w: Workload) -> list[client.V1Toleration]:
    return [client.V1Toleration(key=t.key, operator=t.operator, value=t.value, effect=t.effect)
            for t in w.spec.target.tolerations]


def _spread(w: Workload) -> list[client.V1TopologySpreadConstraint]:
    if not w.spec.target.topology_spread:
        return []
    selector = client.V1LabelSelector(match_labels=w.pod_selector)
    # ScheduleAnyway: spreading is a preference; a small cluster must still schedule the pods.
    return [client.V1TopologySpreadConstraint(max_skew=1, topology_key=key, when_unsatisfiable="ScheduleAnyway",
                                              label_selector=selector)
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")]
