"""image/: a Docker build context for the serving runtime and the selected model.

Dockerfile, .dockerignore, the runtime package (runtime/), the model (model/<file>),
runtime.json, and requirements.lock, copied from the lock deployc ships for the target's
platform and Python (compiler/locks/): the emitter reads no network and no host state. In
hermetic mode (the default) the build's vendoring action adds wheels/, exactly those pins,
so the image builds with no network.
"""

from __future__ import annotations

import re
from importlib import resources

from compiler import locks
from compiler.locks import BaseImage, base_image  # noqa: F401 (the emitter's view of the base)
from compiler.emitters.base import EmitContext, Files
from compiler.emitters.model import model_files
from compiler.frontend.huggingface import TOKENIZER, tokenizer_file
from compiler.emitters.templating import render
from compiler.errors import DeploycError

UID = 10001  # non-root, and outside the range a base image's own users take
ROOT = "/srv"  # runtime.json, model/ and runtime/ live here in the image
# Removed from the installed packages: test suites, and ORT's offline tools (quantization,
# transformer fusions) that only the compiler uses. The image tests prove the server still runs.
PRUNE = ("find /opt/venv/lib -depth -type d -path '*/site-packages/*/tests' -exec rm -rf {} +",
         "rm -rf /opt/venv/lib/python3*/site-packages/onnxruntime/transformers"
         " /opt/venv/lib/python3*/site-packages/onnxruntime/quantization"
         " /opt/venv/lib/python3*/site-packages/onnxruntime/tools")
DOCKERIGNORE = "# The context is exactly what deployc emitted; keep caches out of it.\n**/__pycache__\n**/*.pyc\n"

def runtime_files() -> Files:
    """compiler/runtime/*.py as installed (checkout or wheel), sorted, as bytes."""
    package = resources.files("compiler.runtime")
    names = sorted(p.name for p in package.iterdir() if p.name.endswith(".py"))
    return {f"runtime/{name}": package.joinpath(name).read_bytes() for name in names}


def oci_labels(ctx: EmitContext) -> list[tuple[str, str]]:
    spec = ctx.spec
    labels = {
        "org.opencontainers.image.title": spec.name,
        "org.opencontainers.image.version": spec.version,
        "org.opencontainers.image.description": spec.description,
        "org.opencontainers.image.revision": spec.image.revision,
        "org.opencontainers.image.source": spec.image.source,
        "dev.deployc.target": spec.target.name,
        "dev.deployc.model.sha256": ctx.selected.sha256,
    }
    return [(k, _quote(v)) for k, v in sorted(labels.items()) if v]


def _quote(value: str) -> str:
    """A Dockerfile double-quoted word: no line breaks, and no `$` expansion of the spec's text."""
    value = re.sub(r"[\x00-\x1f\x7f]+", " ", value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def hermetic(spec) -> bool:
    return spec.image.hermetic and spec.target.image.hermetic


def image_lock(spec, runtime) -> locks.Lock:
    """The shipped lock the hermetic image installs (raises naming a missing combination)."""
    engine = locks.engine_for(runtime.backend, runtime.providers)
    return locks.load(engine, spec.target.image.platform, base_image(spec.target.image.base).python)


def lock_text(lock: locks.Lock) -> str:
    """requirements.lock in pip's hash-checking format, sorted by name."""
    head = (f"# The image's Python dependencies for {lock.platform}, CPython {lock.python}.\n"
            "# Every wheel is pinned by sha256 and vendored in wheels/; written by deployc.\n"
            "# pip install --no-index --no-deps --require-hashes --find-links wheels -r requirements.lock\n")
    return head + lock.body()


def unlocked_text(reqs: list[str]) -> str:
    """Without hermetic mode: the pinned direct dependencies; pip resolves the rest at build time."""
    head = ("# The image's direct Python dependencies (not hermetic: pip resolves and downloads\n"
            "# them from the package index when the image is built).\n")
    return head + "".join(f"{r}\n" for r in sorted(reqs))


class ImageEmitter:
    name = "image"

    def emit(self, ctx: EmitContext) -> Files:
        if ctx.selected is None or ctx.runtime is None:
            raise DeploycError("image: no selected artifact to put in the image")
        spec, rt = ctx.spec, ctx.runtime
        base = base_image(spec.target.image.base)
        files: Files = {}
        if hermetic(spec):
            files["image/requirements.lock"] = lock_text(image_lock(spec, rt)).encode()
        else:
            # Our pins are for the CPython the wheels were tested with; a platform that is not
            # hermetic gets the names only, and its own index picks versions for its Python.
            locks.platform_tag(spec.target.image.platform)  # an unknown platform is still an error
            reqs = locks.requirements(locks.engine_for(rt.backend, rt.providers))
            names = reqs if spec.target.image.hermetic else [r.split("==")[0] for r in reqs]
            files["image/requirements.lock"] = unlocked_text(names).encode()
        dockerfile = render(
            "Dockerfile.j2", title=spec.name, version=spec.version, target=spec.target.name,
            platform=spec.target.image.platform, base=base.ref, install_python=not base.has_python,
            hermetic=hermetic(spec), uid=UID, port=spec.serve.port, metrics_port=spec.serve.metrics_port,
            grpc_port=spec.serve.grpc_port,
            labels=oci_labels(ctx), trt_cache=rt.trt_engine_cache, prune=" \\\n && ".join(PRUNE))
        files["image/Dockerfile"] = dockerfile.encode()
        files["image/.dockerignore"] = DOCKERIGNORE.encode()
        files.update(model_files(ctx.selected, "image/model"))
        tokenizer = tokenizer_file(ctx.spec) if ctx.selected.format != "genai" else None
        if tokenizer is not None:  # text models: runtime.json's text.tokenizer, next to the model
            files[f"image/model/{TOKENIZER}"] = tokenizer
        files["image/runtime.json"] = rt.to_json().encode()
        files.update({f"image/{rel}": data for rel, data in runtime_files().items()})
        return files
