"""Values that pass their per-field schema but would break an artifact built from them.

Each rule here is a value the build used to take as written: a reversed input range made numpy
raise mid-build, a zero duration became PromQL that Prometheus refuses, a `max_surge` of "abc"
went into the manifests as is. The checks need only the spec, so `deployc validate` finds them.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import numpy as np

from compiler.errors import SpecIssue
from compiler.frontend.spec import Spec

# Go's time.ParseDuration units that the controllers accept (Argo pause, Flagger interval).
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
# The distribution reference grammar (github.com/distribution/reference, regexp.go): an optional
# registry host[:port], then lower-case path components; no tag, no digest (deployc adds those).
_ALNUM = r"[a-z0-9]+"
_PATH = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_HOST_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REPOSITORY = re.compile(rf"^(?:{_HOST_PART}(?:\.{_HOST_PART})*(?::[0-9]+)?/)?{_PATH}(?:/{_PATH})*$")
MAX_REPOSITORY = 255
MAX_INT32 = 2**31 - 1  # an IntOrString's int is an int32


def check(spec: Spec) -> list[SpecIssue]:
    rules = (_ranges, _normalization, _labels, _durations, _rolling_update, _image_repository, _prometheus_url)
    return [issue for rule in rules for issue in rule(spec)]


def duration_ms(text: str) -> int:
    """Milliseconds of a duration such as 1m30s (the schema's regex has checked the form)."""
    return sum(int(n) * _MS[unit] for n, unit in _DURATION_PART.findall(text))


def _ranges(spec: Spec):
    """Synthesized inputs are drawn from range (numpy refuses low > high) in the tensor's dtype."""
    for side in ("inputs", "outputs"):
        for i, t in enumerate(getattr(spec.model, side)):
            if t.range is None:
                continue
            low, high = t.range
            path = f"model.{side}[{i}].range"
            if low > high:
                yield SpecIssue(path, f"low > high ({low:g} > {high:g}); write [low, high]")
            bounds = _dtype_bounds(t.dtype)
            if bounds and not (bounds[0] <= low and high <= bounds[1]):
                yield SpecIssue(path, f"[{low:g}, {high:g}] does not fit {t.dtype} ({bounds[0]:g} to {bounds[1]:g})")


def _dtype_bounds(dtype: str) -> tuple[float, float] | None:
    if dtype == "bool":
        return None
    if dtype == "bfloat16":
        return -3.38e38, 3.38e38
    info = np.iinfo(dtype) if "int" in dtype else np.finfo(dtype)
    return float(info.min), float(info.max)


def _normalization(spec: Spec):
    """mean/std per channel, dim 1 of an NCHW input (the edge bundle's metadata for the app)."""
    norm, inputs = spec.model.normalization, spec.model.inputs
    if norm is None:
        return
    for i, s in enumerate(norm.std):
        if s <= 0:
            yield SpecIssue(f"model.normalization.std[{i}]", f"must be > 0 (got {s:g}); inputs are divided by it")
    channels = inputs[0].shape[1] if inputs and len(inputs[0].shape) > 1 else None
    for key in ("mean", "std"):
        n = len(getattr(norm, key))
        if isinstance(channels, int) and n != channels:
            yield SpecIssue(f"model.normalization.{key}", f"{n} entries, but input '{inputs[0].name}' has {channels} "
                                                          "channel(s) (dim 1, NCHW): one per channel")
    if not isinstance(channels, int) and len(norm.mean) != len(norm.std):
        yield SpecIssue("model.normalization.std", f"{len(norm.std)} entries for {len(norm.mean)} means: one each")


def _labels(spec: Spec):
    seen: set[str] = set()
    for i, label in enumerate(spec.model.labels):
        if label in seen:
            yield SpecIssue(f"model.labels[{i}]", f"{label!r} is listed twice (one class name per output index)")
        seen.add(label)


def _durations(spec: Spec):
    r = spec.rollout
    if duration_ms(r.analysis.interval) == 0:
        yield SpecIssue("rollout.analysis.interval", f"must be longer than 0 (got {r.analysis.interval!r})")
    for i, step in enumerate(r.canary.steps):
        if step.pause is not None and duration_ms(step.pause) == 0:
            yield SpecIssue(f"rollout.canary.steps[{i}].pause", f"must be longer than 0 (got {step.pause!r}); "
                                                               "leave the step out for no pause")


def _rolling_update(spec: Spec):
    """Kubernetes IntOrString: a count >= 0 or a percentage 0-100%; not both zero."""
    zero = []
    for key in ("max_surge", "max_unavailable"):
        value = getattr(spec.rollout, key)
        percent = re.fullmatch(r"([0-9]{1,3})%", value) if isinstance(value, str) else None
        if isinstance(value, int) and not 0 <= value <= MAX_INT32:
            yield SpecIssue(f"rollout.{key}", f"must be a pod count >= 0 or a percentage such as 25% (got {value})")
        elif isinstance(value, str) and (percent is None or int(percent.group(1)) > 100):
            yield SpecIssue(f"rollout.{key}", f"must be a pod count >= 0 or a percentage from 0% to 100% "
                                              f"(got {value!r})")
        elif value == 0 or (percent and int(percent.group(1)) == 0):
            zero.append(key)
    if len(zero) == 2:
        yield SpecIssue("rollout.max_unavailable", "max_surge and max_unavailable cannot both be 0: no pod could "
                                                   "ever be replaced")


def _image_repository(spec: Spec):
    repo = spec.image.repository
    if not repo:
        return  # the spec's name is the repository
    last = repo.rsplit("/", 1)[-1]
    if "@" in repo or ":" in last:
        problem = "must not carry a tag or digest: deployc tags the image (version, or its content digest)"
    elif len(repo) > MAX_REPOSITORY or not _REPOSITORY.match(repo):
        problem = ("is not an image repository: [registry[:port]/]path, path components lower-case letters and "
                   "digits separated by '.', '_', '__' or '-' (e.g. ghcr.io/acme/digits)")
    else:
        return
    yield SpecIssue("image.repository", f"{repo!r} {problem}")


def _prometheus_url(spec: Spec):
    url = spec.rollout.prometheus_url
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # a port that is not a number or out of range
        ok = False
    if not ok or re.search(r"[\s\x00-\x1f\x7f]", url):
        yield SpecIssue("rollout.prometheus_url", f"{url!r} is not an http(s) URL (e.g. http://prometheus:9090)")
