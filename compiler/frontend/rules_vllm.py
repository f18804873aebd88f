"""Rules of serve.engine vllm: an NVIDIA target and a Hugging Face text-generation model; its
settings only where that engine runs. (serve.vllm.image_digest is required where the image is
emitted, compiler/emitters/vllm/image.py: `explain` plans without it.)"""

from __future__ import annotations

from compiler.errors import SpecIssue
from compiler.frontend.spec import Spec

def check(spec: Spec):
    s, t, m = spec.serve, spec.target, spec.model
    if s.engine != "vllm":
        yield from _unused(spec)
        return
    if t.kind != "nvidia":
        yield SpecIssue("serve.engine", f"vllm serves on NVIDIA GPU targets; target {t.name} is a {t.kind} target "
                                        "(use serve.engine: deployc)")
    if m.source != "huggingface" or m.task != "text-generation":
        yield SpecIssue("serve.engine", "vllm serves a Hugging Face text-generation model (model.source: huggingface, "
                                        f"model.task: text-generation); got source {m.source}, task {m.task}")
    if t.kind == "nvidia" and t.gpu is not None and t.resources.gpu != 1:
        # The capacity plan decides GPUs per pod; a profile's fixed count would contradict it.
        yield SpecIssue("target.resources.gpu", "with serve.engine vllm the capacity plan sets the GPUs per pod; "
                                                f"leave target.resources.gpu at 1 (got {t.resources.gpu})")


def _unused(spec: Spec):
    s = spec.serve
    if s.throughput.tokens_per_second is not None or s.throughput.per_replica_tokens_per_second is not None:
        yield SpecIssue("serve.throughput", f"sizes the replicas of a GPU engine (serve.engine vllm); serve.engine is "
                                            f"{s.engine}: use serve.replicas")
