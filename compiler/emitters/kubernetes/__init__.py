"""Kubernetes manifests with the rollout policy: `<out>/<target>/k8s/`, ready for `kubectl apply -k`."""

from compiler.emitters.kubernetes.common import SUPPORTED_KUBERNETES_VERSIONS, TRT_ENGINE_CACHE
from compiler.emitters.kubernetes.crosscheck import MetricCrossCheckError
from compiler.emitters.kubernetes.emitter import KubernetesEmitter

__all__ = ["KubernetesEmitter", "MetricCrossCheckError", "SUPPORTED_KUBERNETES_VERSIONS", "TRT_ENGINE_CACHE"]
