"""rollout.strategy experiment (A/B): spec rules that make the emitted experiment one that runs.

- One route to variant B: `weight` (a share of all traffic), `header` (requests carrying
  `name: value`) or `cookie` (requests whose cookie `<cookie>` is `always`: NGINX's
  canary-by-cookie convention, which the Istio and Gateway API matches follow).
- A router: `none` puts both variants behind one Service, where traffic splits by pod count and
  nothing can look at a header; SMI's TrafficSplit has weights but no header match.
- Flagger runs a header or cookie match as its A/B analysis (`analysis.match`, `iterations`); a
  weighted Flagger analysis promotes as soon as the last weight's checks pass once, so it cannot
  hold a split while samples accumulate: weight experiments need controller argo.
- The quality metric is a counter the runtime exports, matched on labels it carries: the
  comparison reads its increase per variant (compiler/emitters/kubernetes/experiment_queries.py).
- The latency comparison reads one bucket of the request-duration histogram at
  monitoring.slo.latency_threshold_seconds, which must therefore be a bucket bound.
"""

from __future__ import annotations

import math
import re
from typing import Iterator

from compiler.errors import SpecIssue
from compiler.frontend.spec import Spec
from compiler.runtime.catalog import LATENCY_BUCKETS, SERIES

KEY = "rollout.experiment"
MATCH_ROUTERS = ("gateway-api", "nginx", "istio")
# RFC 9110 token: header field names and RFC 6265 cookie names.
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]+$")  # visible ASCII and spaces: no line break can split a header
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def check(spec: Spec) -> Iterator[SpecIssue]:
    if spec.rollout.strategy != "experiment":
        return
    for rule in (_route, _router, _controller, _quality, _latency_bound):
        yield from rule(spec)


def route(spec: Spec) -> str:
    """weight | header | cookie: how variant B is chosen (the rules guarantee exactly one)."""
    e = spec.rollout.experiment
    return "weight" if e.weight > 0 else "header" if e.header.name else "cookie"


def _routes_set(spec: Spec) -> list[str]:
    e = spec.rollout.experiment
    return [k for k, on in (("weight", e.weight > 0), ("header", bool(e.header.name)), ("cookie", bool(e.cookie)))
            if on]


def _route(spec: Spec):
    e = spec.rollout.experiment
    chosen = _routes_set(spec)
    if not chosen:
        yield SpecIssue(KEY, "an experiment needs one route to variant B: weight (1-100, a share of all traffic), "
                             "header {name, value} or cookie (a cookie name)")
    for extra in chosen[1:]:
        yield SpecIssue(f"{KEY}.{extra}", f"choose one route to variant B: {' and '.join(chosen)} are both set")
    if e.header.value and not e.header.name:
        yield SpecIssue(f"{KEY}.header.name", "a header value needs the header's name")
    if e.header.name:
        if not _TOKEN.match(e.header.name) or len(e.header.name) > 256:
            yield SpecIssue(f"{KEY}.header.name", f"{e.header.name!r} is not an HTTP header name (RFC 9110 token)")
        if e.header.name.lower() == "cookie":
            yield SpecIssue(f"{KEY}.header.name", "to route by cookie, set rollout.experiment.cookie")
        if not e.header.value:
            yield SpecIssue(f"{KEY}.header.value", "the value that sends a request to variant B (exact match)")
        elif not _HEADER_VALUE.match(e.header.value) or len(e.header.value) > 4096:
            yield SpecIssue(f"{KEY}.header.value", f"{e.header.value!r}: printable ASCII only, at most 4096 characters")
    if e.cookie and (not _TOKEN.match(e.cookie) or len(e.cookie) > 256):
        yield SpecIssue(f"{KEY}.cookie", f"{e.cookie!r} is not a cookie name (RFC 6265 token)")


def _router(spec: Spec):
    router = spec.rollout.traffic.router
    kind = route(spec) if _routes_set(spec) else "weight"
    if router == "none":
        yield SpecIssue("rollout.traffic.router",
                        "strategy experiment needs a router: with none both variants sit behind one Service, traffic "
                        "splits by pod count and no header or cookie can be matched; set rollout.traffic.router to "
                        + ", ".join(MATCH_ROUTERS))
    elif router not in MATCH_ROUTERS and kind != "weight":
        yield SpecIssue("rollout.traffic.router",
                        f"router {router} cannot match a {kind} (an SMI TrafficSplit only has weights); use "
                        + ", ".join(MATCH_ROUTERS) + " or route by rollout.experiment.weight")


def _controller(spec: Spec):
    r = spec.rollout
    if r.controller != "flagger":
        return
    if r.experiment.weight > 0:
        yield SpecIssue(f"{KEY}.weight",
                        "controller flagger cannot hold a weighted split for an experiment (its weighted analysis "
                        "promotes once the last weight's checks pass); route by header or cookie (Flagger's A/B "
                        "analysis), or use controller argo")
    if r.analysis.on_no_data == "inconclusive":
        yield SpecIssue("rollout.analysis.on_no_data",
                        "Flagger has no 'inconclusive' outcome (a query without data counts as a failed check); "
                        "choose 'pass' (wait for samples) or 'fail' for controller flagger")


def _quality(spec: Spec):
    q = spec.rollout.experiment.quality_metric
    path = f"{KEY}.quality_metric"
    metric = SERIES.get(q.name)
    if metric is None or metric.type != "counter":
        counters = sorted(s for s, m in SERIES.items() if m.type == "counter")
        yield SpecIssue(f"{path}.name", f"{q.name!r} is not a counter the runtime exports; counters: "
                                        + ", ".join(counters))
        return
    if not q.match:
        yield SpecIssue(f"{path}.match", "name the labels whose share is the quality, e.g. {correct: 'true'}")
    for label, value in q.match.items():
        if label == "model" or label not in metric.labels or not _LABEL_NAME.match(label):
            free = [x for x in metric.labels if x != "model"]
            yield SpecIssue(f"{path}.match.{label}", f"{q.name} has no label {label!r} to match on (its labels: "
                                                     f"{', '.join(free) or 'none besides model'})")
        elif not value:
            yield SpecIssue(f"{path}.match.{label}", "an empty value matches series without the label: name a value")


def _latency_bound(spec: Spec):
    threshold = spec.monitoring.slo.latency_threshold_seconds
    if not spec.monitoring.enabled and not any(math.isclose(b, threshold) for b in LATENCY_BUCKETS):
        # With monitoring on, rules.py already reports it.
        yield SpecIssue("monitoring.slo.latency_threshold_seconds",
                        f"{threshold:g}: the experiment compares the share of requests slower than this, read "
                        "from one histogram bucket; use one of: " + ", ".join(f"{b:g}" for b in LATENCY_BUCKETS))
