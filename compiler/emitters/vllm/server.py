"""The vLLM OpenAI server: its pinned image and the command line derived from the spec and the
capacity plan. Its HTTP port serves the same OpenAI routes as the deployc runtime
(/v1/completions, /v1/chat/completions, /v1/models) plus /health and /metrics, so clients and
scrapers do not change when the engine does."""

from __future__ import annotations

import json
import shlex

from compiler.capacity import EnginePlan
from compiler.errors import SpecError, SpecIssue
from compiler.frontend.spec import Spec

# The image is pinned by version (the metric catalog in catalog_data.py is this version's) and
# by digest (serve.vllm.image_digest: deployc cannot look a registry up, so the user gives it).
IMAGE = "vllm/vllm-openai"
VERSION = "v0.10.1"
MODEL_ROOT = "/models"  # the Hugging Face folder is mounted here (a volume; 140 GB is not baked)
RAY_PORT = 6379
HEALTH = "/health"
OPENAI_ROUTES = ("/v1/completions", "/v1/chat/completions", "/v1/models")
ENTRYPOINT = ["python3", "-m", "vllm.entrypoints.openai.api_server"]


def image_ref(spec: Spec) -> str:
    digest = spec.serve.vllm.image_digest
    if not digest:
        raise SpecError(SpecIssue("serve.vllm.image_digest", f"required to emit serve.engine vllm: {IMAGE}:{VERSION} "
                                                             "is pinned by version and digest, and deployc does not "
                                                             "look digests up (`docker buildx imagetools inspect "
                                                             f"{IMAGE}:{VERSION}` prints it)"))
    return f"{IMAGE}:{VERSION}@{digest}"


def model_dir(spec: Spec) -> str:
    return f"{MODEL_ROOT}/{spec.name}"


def model_arg(spec: Spec) -> str:
    """--model: the mounted folder, or the GGUF file in it (vLLM reads its tokenizer from the file)."""
    path = spec.model.path or ""
    return f"{model_dir(spec)}/{path.rsplit('/', 1)[-1]}" if path.lower().endswith(".gguf") else model_dir(spec)


def server_args(spec: Spec, engine: EnginePlan) -> list[str]:
    """`vllm serve`'s options, each from one spec key or plan decision."""
    s, c = spec.serve, engine.capacity
    args = ["--model", model_arg(spec), "--served-model-name", spec.name, "--host", "0.0.0.0", "--port", str(s.port),
            "--max-model-len", str(spec.model.generation.max_context), "--max-num-seqs", str(s.max_concurrency),
            "--dtype", engine.dtype, "--gpu-memory-utilization", f"{s.vllm.gpu_memory_utilization:g}",
            "--enable-prefix-caching" if s.vllm.prefix_caching else "--no-enable-prefix-caching",
            "--tensor-parallel-size", str(c.tensor_parallel),
            # model.generation.max_new_tokens: the default of a request's max_tokens, as in deployc's server.
            "--override-generation-config", json.dumps({"max_new_tokens": spec.model.generation.max_new_tokens})]
    if engine.quantization:
        args += ["--quantization", engine.quantization]
    if c.multi_node:
        args += ["--pipeline-parallel-size", str(c.pipeline_parallel), "--distributed-executor-backend", "ray"]
    return args


def serve_command(spec: Spec, engine: EnginePlan) -> list[str]:
    return [*ENTRYPOINT, *server_args(spec, engine)]


def leader_command(spec: Spec, engine: EnginePlan) -> list[str]:
    """Multi-node: the leader starts Ray's head, then serves; vLLM's Ray executor waits for the
    workers' GPUs (its placement group) before loading."""
    script = f"ray start --head --port={RAY_PORT} && exec " + shlex.join(serve_command(spec, engine))
    return ["/bin/sh", "-c", script]


def worker_command() -> list[str]:
    # $(LWS_LEADER_ADDRESS): Kubernetes expands it from the env LeaderWorkerSet sets on every pod.
    return ["/bin/sh", "-c", f"exec ray start --address=$(LWS_LEADER_ADDRESS):{RAY_PORT} --block"]


def dockerfile(spec: Spec) -> str:
    return (f"# vLLM's OpenAI server, pinned by version and digest. The model is not baked in: the\n"
            f"# Hugging Face folder is mounted at {model_dir(spec)} (k8s/ mounts the volume).\n"
            f"FROM {image_ref(spec)}\n"
            f"ENTRYPOINT {json.dumps(ENTRYPOINT)}\n")
