"""What every Kubernetes object of one build shares: names, labels, the image, serialization.

Built-in kinds are typed `kubernetes.client` models turned into plain data by
`ApiClient().sanitize_for_serialization`; custom resources (Argo Rollouts, Flagger) are plain
dicts. Both are written with `yaml.safe_dump(sort_keys=True)`; nothing is string-templated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client

from compiler.emitters.kubernetes.generation import GenerationPod, generation_pod
from compiler.llm_memory import quantity
from compiler.emitters.base import EmitContext
from compiler.errors import DeploycError
from compiler.frontend.spec import Spec
from compiler.digest import files_digest

# Kubernetes minor versions whose schemas every built-in object is validated against in tests.
SUPPORTED_KUBERNETES_VERSIONS = ("1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35", "1.36", "1.37")

# Where the TensorRT execution provider keeps its engines; runtime.json's trt_engine_cache
# names the same folder (engines are GPU specific, so they are built on the node, once per pod).
TRT_ENGINE_CACHE = "/var/cache/deployc/trt"

HTTP_PORT_NAME = "http"
METRICS_PORT_NAME = "metrics"
GRPC_PORT_NAME = "grpc"
CONTAINER_NAME = "server"
COMPONENT = "inference-server"
MANAGED_BY = "deployc"
RUN_AS_USER = 10001

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_api = client.ApiClient()


@dataclass(frozen=True)
class Workload:
    """The facts the manifests are made of, resolved once from the build's context."""

    spec: Spec
    name: str  # object name (the spec's name, a DNS-1035 label)
    namespace: str
    model: str  # the `model` label value the runtime puts on every series
    image: str
    trt_cache: str | None  # mount path of the TensorRT engine cache, when that EP is used
    generation: GenerationPod | None = None  # a text-generation model's load time, memory, weights volume

    @property
    def selector(self) -> dict[str, str]:
        # Immutable once applied: only keys that never change between releases.
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/instance": self.instance}

    @property
    def instance(self) -> str:
        return f"{self.name}-{self.spec.target.name}"

    @property
    def pod_selector(self) -> dict[str, str]:
        # Flagger renames the `name` label of its primary pods; `instance` matches both tracks.
        return {"app.kubernetes.io/instance": self.instance}

    @property
    def labels(self) -> dict[str, str]:
        recommended = {
            **self.selector,
            "app.kubernetes.io/version": self.spec.version,
            "app.kubernetes.io/component": COMPONENT,
            "app.kubernetes.io/part-of": self.spec.name,
            "app.kubernetes.io/managed-by": MANAGED_BY,
        }
        return {**self.spec.serve.labels, **recommended}

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.spec.serve.annotations)

    def metadata(self, name: str | None = None, labels: dict[str, str] | None = None) -> client.V1ObjectMeta:
        return client.V1ObjectMeta(
            name=name or self.name, namespace=self.namespace,
            labels=labels or self.labels, annotations=self.annotations or None)

    def metadata_dict(self, name: str | None = None) -> dict[str, Any]:
        return plain(self.metadata(name))


def workload_of(ctx: EmitContext) -> Workload:
    spec = ctx.spec
    model = ctx.runtime.model_name if ctx.runtime is not None else spec.name
    return Workload(spec=spec, name=spec.name, namespace=spec.rollout.namespace, model=model,
                    image=image_ref(ctx), trt_cache=_trt_cache(ctx),
                    generation=generation_pod(ctx, quantity(spec.target.resources.memory)))


def image_ref(ctx: EmitContext) -> str:
    """`repo@sha256:...` when a pushed digest is known; else the image's content tag
    `repo:sha-<12 hex>` (the digest of the emitted context, the same tag `--image` gives the
    image, so a changed model or runtime always rolls out); else `repo:version`."""
    repository = ctx.spec.image.repository or ctx.spec.name
    image = ctx.report.image if ctx.report is not None else None
    digest = image.digest if image is not None else None
    context = {k[len("image/"):]: v for k, v in ctx.previous.items() if k.startswith("image/")}
    if not digest and context:
        return f"{repository}:sha-{files_digest(context)[:12]}"
    if not digest:
        return f"{repository}:{ctx.spec.version}"
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise DeploycError(f"report.image.digest: expected 'sha256:' and 64 hex digits, got {digest!r}")
    return f"{repository}@{digest}"


def _trt_cache(ctx: EmitContext) -> str | None:
    # runtime.json is the contract: mount exactly the folder the server will write engines to.
    if ctx.runtime is not None:
        return ctx.runtime.trt_engine_cache or None
    target = ctx.spec.target
    if target.is_gpu and "TensorrtExecutionProvider" in target.execution_providers:
        return TRT_ENGINE_CACHE
    return None


def plain(obj: Any) -> Any:
    """A typed client model (or a structure holding some) as plain, JSON-compatible data."""
    return _api.sanitize_for_serialization(obj)


class _Dumper(yaml.SafeDumper):
    """safe_dump, but multi-line strings (PromQL queries) as literal blocks, readable in review."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(obj: Any) -> bytes:
    text = yaml.dump(plain(obj), Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True, width=100)
    return text.encode("utf-8")
