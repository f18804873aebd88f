"""`deployc build --image`: build the staged image/ context through the Docker SDK.

The engine is whatever DOCKER_HOST names (docker.from_env()). Tags: `<repository>:<version>`
and `<repository>:sha-<12 hex>`, a digest of the context's files, so identical contexts get
identical tags. With no engine to talk to, the build still succeeds: the context is emitted,
a message on stderr says why no image was built, and the lock gets no image fields.
"""

from __future__ import annotations

import os
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from compiler.errors import DeploycError
from compiler.frontend.spec import Spec
from compiler.digest import files_digest

BUILD_TIMEOUT_S = 1800  # one HTTP read may wait on a silent RUN step (pip compiling bytecode)
ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "amd64": "amd64"}


def context_digest(context: Path) -> str:
    """sha256 over (relative path, file sha256) of every file, sorted: the content tag's source."""
    context = Path(context)
    return files_digest({p.relative_to(context).as_posix(): p for p in context.rglob("*") if p.is_file()})


def image_tags(spec: Spec, context: Path) -> list[str]:
    repository = spec.image.repository or spec.name
    version = re.sub(r"[^A-Za-z0-9_.-]", "-", spec.version).lstrip(".-")[:128] or "latest"
    return [f"{repository}:{version}", f"{repository}:sha-{context_digest(context)[:12]}"]


def build_args() -> tuple[dict[str, str], dict[str, str]]:
    """(build args, extra labels): `created` only from SOURCE_DATE_EPOCH, never the wall clock."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return {}, {}
    if not epoch.isdigit():
        raise DeploycError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, got {epoch!r}")
    created = datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"SOURCE_DATE_EPOCH": epoch}, {"org.opencontainers.image.created": created}


def connect():
    """A client for DOCKER_HOST's engine, or None (with the reason on stderr)."""
    try:
        import docker
    except ImportError:
        _skip("the docker SDK is not installed (pip install 'deployc[image]')")
        return None
    try:
        client = docker.from_env(timeout=BUILD_TIMEOUT_S)
        client.ping()
    except Exception as exc:  # the SDK raises several types for "nothing listens there"
        where = os.environ.get("DOCKER_HOST", "the default socket")
        _skip(f"no Docker engine reachable at {where} ({type(exc).__name__}: {_first_line(exc)})")
        return None
    return client


def build_image(context: Path, spec: Spec) -> dict:
    """Build, tag, and return the lock's image fields ({} when no image could be built)."""
    client = connect()
    if client is None:
        return {}
    platform = spec.target.image.platform
    engine_arch = ARCHES.get(client.info().get("Architecture", ""), "")
    if platform.partition("/")[2].split("/")[0] != engine_arch:
        _skip(f"the engine runs {engine_arch or 'an unknown architecture'}; it cannot build {platform}")
        return {}
    tags = image_tags(spec, context)
    args, labels = build_args()
    started = time.monotonic()
    image = _build(client, context, tags[0], args, labels, platform, spec.image.hermetic)
    for tag in tags[1:]:
        repository, _, name = tag.rpartition(":")
        image.tag(repository, name)
    image.reload()
    size = int(image.attrs["Size"])
    print(f"image {', '.join(tags)} {image.id} {size / 1e6:.1f} MB (built in {time.monotonic() - started:.1f}s)")
    return {"image": {"id": image.id, "tags": tags, "size_bytes": size}}


def _build(client, context: Path, tag: str, args: dict, labels: dict, platform: str, hermetic: bool):
    import docker

    try:
        image, _log = client.images.build(
            path=str(context), tag=tag, buildargs=args, labels=labels, rm=True, forcerm=True, pull=False,
            platform=platform,
            # Hermetic builds must not need the network; prove it by giving them none.
            network_mode="none" if hermetic else None)
    except docker.errors.BuildError as exc:
        lines = [str(item.get("stream") or item.get("error") or "").rstrip() for item in exc.build_log]
        tail = "\n  ".join(line for line in lines if line)[-3000:]
        raise DeploycError(f"image build failed: {exc.msg}\n  {tail}") from None
    except docker.errors.APIError as exc:
        raise DeploycError(f"image build failed: {_first_line(exc)}") from None
    return image


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _skip(reason: str) -> None:
    print(f"deployc: image not built: {reason}; the build context is in image/", file=sys.stderr)
