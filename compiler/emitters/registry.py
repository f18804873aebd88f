"""Emitters by name, imported only when a target uses them (the light CLI never loads torch)."""

from __future__ import annotations

import importlib

from compiler.emitters.base import Emitter

_EMITTERS = {
    "model": "compiler.emitters.model:ModelEmitter",
    "image": "compiler.emitters.image:ImageEmitter",
    "kubernetes": "compiler.emitters.kubernetes:KubernetesEmitter",
    "monitoring": "compiler.emitters.monitoring:MonitoringEmitter",
    "bundle": "compiler.emitters.bundle:BundleEmitter",
    "triton": "compiler.emitters.triton:TritonEmitter",
    "report": "compiler.emitters.report:ReportEmitter",
    "vllm-image": "compiler.emitters.vllm.emitter:VllmImageEmitter",
    "vllm-kubernetes": "compiler.emitters.vllm.emitter:VllmKubernetesEmitter",
    "vllm-monitoring": "compiler.emitters.vllm.emitter:VllmMonitoringEmitter",
}


def emitter(name: str) -> Emitter:
    module, cls = _EMITTERS[name].split(":")
    return getattr(importlib.import_module(module), cls)()
