"""Static guarantee: every metric and label a rule, alert or panel names is one the runtime exports.

The catalog (compiler/runtime/catalog.py) is the only source of metric names. Besides it,
an expression may name:
- `job` and `instance`, which Prometheus attaches to every scraped series, and `up`, the
  series it writes per target;
- series recorded by an earlier rule of the same build, with the labels that rule keeps.
Label values are checked where the catalog fixes them: `outcome` against the runtime's
outcomes, `le` against the histogram's bounds as the runtime writes them.

The scan is a PromQL tokenizer, not a full parser: an identifier followed by `(` is a function
or aggregation, keywords are skipped, any other identifier is a metric name; label names come
from `{...}` matchers and from by/without/on/ignoring/group_left/group_right lists. Syntax
itself is promtool's job (the generated tests run `promtool check rules`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prometheus_client.utils import floatToGoString

from compiler.emitters.monitoring.rules import ALERT_NAME, LABEL_NAME, RECORD_NAME, Alert, Group, Recording
from compiler.errors import DeploycError
from compiler.runtime.catalog import OUTCOMES, SERIES, series_labels

TARGET_LABELS = frozenset({"job", "instance"})
PROMETHEUS_SERIES = {"up": frozenset()}
AGGREGATIONS = frozenset({"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                          "bottomk", "topk", "quantile"})
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"})

_TOKENS = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<number>(?:0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)(?:ms|s|m|h|d|w|y)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){},@])
""", re.VERBOSE)


class CatalogMismatchError(DeploycError):
    """A rule or panel names a metric or label the generated server does not export."""

    def __init__(self, where: str, message: str):
        self.where = where
        super().__init__(f"monitoring: {where}: {message} (the runtime's metrics are listed in "
                         "compiler/runtime/catalog.py)")


@dataclass
class Selector:
    metric: str
    matchers: list[tuple[str, str, str]] = field(default_factory=list)  # (label, op, value)


@dataclass
class Scan:
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)


def known_series() -> dict[str, frozenset[str]]:
    """Series an expression may name, with their labels (before any recording rule)."""
    known = {name: frozenset(series_labels(name) or ()) | TARGET_LABELS for name in SERIES}
    known.update({k: v | TARGET_LABELS for k, v in PROMETHEUS_SERIES.items()})
    return known


def check_groups(groups: list[Group], known: dict[str, frozenset[str]] | None = None) -> dict[str, frozenset[str]]:
    """Checks every rule in order; returns the known series extended by the recordings."""
    known = dict(known or known_series())
    for group in groups:
        for rule in group.rules:
            name = rule.record if isinstance(rule, Recording) else rule.alert
            where = f"rule '{name}' (group {group.name})"
            _check_name(where, rule)
            result = check_expr(where, rule.expr, known)
            if isinstance(rule, Recording):
                known[rule.record] = result
            else:
                _check_alert_labels(where, rule)
    return known


def check_expr(where: str, expr: str, known: dict[str, frozenset[str]] | None = None) -> frozenset[str]:
    """Raises CatalogMismatchError naming `where` and the metric or label; returns the labels
    the expression's result can carry (its grouping labels, or those of its series)."""
    known = known if known is not None else known_series()
    scan = scan_expr(expr)
    if not scan.selectors:
        raise CatalogMismatchError(where, f"expression names no metric: {expr}")
    available: set[str] = set()
    for sel in scan.selectors:
        if sel.metric not in known:
            raise CatalogMismatchError(where, f"metric '{sel.metric}' is not exported by the runtime")
        for label, op, value in sel.matchers:
            _check_matcher(where, sel.metric, known[sel.metric], label, op, value)
        available |= known[sel.metric]
    missing = sorted(scan.grouping - available)
    if missing:
        raise CatalogMismatchError(where, f"label '{missing[0]}' is on none of the series it groups: "
                                          f"{', '.join(sorted({s.metric for s in scan.selectors}))}")
    return frozenset(scan.grouping) if scan.grouping else frozenset(available)


def scan_expr(expr: str) -> Scan:
    tokens = _tokenize(expr)
    scan = Scan()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text in GROUPING:
            i = _label_list(tokens, i + 1, scan.grouping) if nxt == "(" else i + 1
        elif kind == "ident" and (nxt == "(" or text in KEYWORDS or text in AGGREGATIONS):
            i += 1
        elif kind == "ident" or text == "{":
            i = _selector(tokens, i, scan)
        else:
            i += 1
    return scan


def _tokenize(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        m = _TOKENS.match(expr, pos)
        if not m:
            raise CatalogMismatchError("expression", f"cannot read {expr[pos:pos + 20]!r} in: {expr}")
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
        pos = m.end()
    return out


def _label_list(tokens, i: int, into: set[str]) -> int:
    """Reads `( a, b )` starting at the parenthesis; returns the index after it."""
    i += 1
    while i < len(tokens) and tokens[i][1] != ")":
        if tokens[i][0] == "ident":
            into.add(tokens[i][1])
        i += 1
    return i + 1


def _selector(tokens, i: int, scan: Scan) -> int:
    metric = ""
    if tokens[i][0] == "ident":
        metric, i = tokens[i][1], i + 1
    sel = Selector(metric)
    if i < len(tokens) and tokens[i][1] == "{":
        i += 1
        while i + 2 < len(tokens) and tokens[i][1] != "}":
            label, op, value = tokens[i][1], tokens[i + 1][1], tokens[i + 2][1]
            sel.matchers.append((label, op, _unquote(value)))
            i += 3
            if tokens[i][1] == ",":
                i += 1
        i += 1
    if not sel.metric:
        names = [v for label, op, v in sel.matchers if label == "__name__" and op == "="]
        sel.metric = names[0] if names else "{...} (a selector without a metric name)"
    scan.selectors.append(sel)
    return i


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return body if literal[0] == "`" else re.sub(r"\\(.)", r"\1", body)


def _check_matcher(where: str, metric: str, allowed: frozenset[str], label: str, op: str, value: str) -> None:
    if label != "__name__" and label not in allowed:
        raise CatalogMismatchError(where, f"label '{label}' is not on metric '{metric}' "
                                          f"(it has: {', '.join(sorted(allowed))})")
    if op not in ("=", "=~"):
        return
    values = value.split("|") if op == "=~" else [value]
    fixed = _fixed_values(metric, label)
    bad = [v for v in values if fixed is not None and v not in fixed]
    if bad:
        raise CatalogMismatchError(where, f"{metric}: {label}={bad[0]!r} never occurs "
                                          f"(values: {', '.join(fixed)})")


def _fixed_values(metric: str, label: str) -> tuple[str, ...] | None:
    if label == "outcome":
        return OUTCOMES
    if label == "le" and metric in SERIES:
        return tuple(floatToGoString(b) for b in SERIES[metric].buckets) + ("+Inf",)
    return None


def _check_name(where: str, rule) -> None:
    if isinstance(rule, Recording) and not RECORD_NAME.match(rule.record):
        raise CatalogMismatchError(where, "not a valid metric name for a recording rule")
    if isinstance(rule, Alert) and not ALERT_NAME.match(rule.alert):
        raise CatalogMismatchError(where, "alert names are CamelCase identifiers")


def _check_alert_labels(where: str, alert: Alert) -> None:
    for case in alert.cases:
        for key, _ in case.labels:
            if not LABEL_NAME.match(key):
                raise CatalogMismatchError(where, f"label name '{key}' is not valid for Prometheus")
