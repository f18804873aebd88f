"""Just enough PromQL to find the metric names and label names a query uses.

Shared by the cross-checks of the kubernetes emitter (analysis queries) and the monitoring
emitter (rules, dashboard panels). The queries are our own, so this is a tokenizer plus a few
rules, not a full parser: an identifier followed by `(` is a function, keywords, binary
operators like `atan2` and aggregation operators are skipped, `{...}` holds label matchers,
`by/without/on/ignoring/group_left/group_right (...)` hold label names, and `[...]` (ranges,
subqueries, Grafana's `[$__rate_interval]`) is skipped whole. Controller template variables
(`{{ x }}`, Flagger's and Argo's) are opaque tokens. Syntax itself is promtool's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"""
    (?P<template>\{\{.*?\}\})
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<duration>(?:(?:\d+\.?\d*|\.\d+)(?:ms|[smhdwy]))+(?![A-Za-z0-9_:]))
  | (?P<number>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<matchop>=~|!~|!=|==|>=|<=|=)
  | (?P<punct>[{}(),])
  | (?P<op>[-+*/%^<>@])
  | (?P<space>\s+|\#[^\n]*)
""", re.VERBOSE)

AGGREGATIONS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio"})
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"and", "or", "unless", "atan2", "bool", "offset", "inf", "nan"}) | GROUPING


class PromQLSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str


@dataclass
class Selector:
    metric: str | None
    matchers: list[Matcher] = field(default_factory=list)


@dataclass
class QueryNames:
    selectors: list[Selector] = field(default_factory=list)
    grouping_labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def tokenize(query: str) -> list[_Tok]:
    tokens, pos = [], 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m:
            raise PromQLSyntaxError(f"unexpected {query[pos:pos + 20]!r} at offset {pos}")
        pos = m.end()
        if m.lastgroup != "space":
            tokens.append(_Tok(m.lastgroup, m.group()))
    return tokens


def names(query: str) -> QueryNames:
    """The selectors (metric + matchers) and grouping labels of a query."""
    toks, out, i = tokenize(query), QueryNames(), 0
    while i < len(toks):
        tok = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if tok.kind == "ident" and tok.text.lower() in GROUPING and nxt and nxt.text == "(":
            labels, i = _label_list(toks, i + 1)
            out.grouping_labels.extend(labels)
        elif tok.kind == "ident" and _is_metric(tok, nxt):
            selector = Selector(tok.text)
            if nxt and nxt.text == "{":
                selector.matchers, i = _matchers(toks, i + 1)
            out.selectors.append(selector)
        elif tok.text == "{":
            selector = Selector(None)
            selector.matchers, i = _matchers(toks, i)
            # Only `__name__="x"` names one metric; a regex or a negation names none.
            selector.metric = next((m.value for m in selector.matchers
                                    if m.label == "__name__" and m.op == "="), None)
            out.selectors.append(selector)
        i += 1
    return out


def _is_metric(tok: _Tok, nxt: _Tok | None) -> bool:
    word = tok.text.lower()
    if word in KEYWORDS or word in AGGREGATIONS:
        return False
    return not (nxt is not None and nxt.text == "(")


def _skip_to(toks: list[_Tok], i: int, closing: str) -> int:
    while i < len(toks) and toks[i].text != closing:
        i += 1
    if i == len(toks):
        raise PromQLSyntaxError(f"missing {closing!r}")
    return i


def _label_list(toks: list[_Tok], i: int) -> tuple[list[str], int]:
    """`( a, b )` starting at the `(`; returns the labels and the index of `)`."""
    end = _skip_to(toks, i, ")")
    labels = [t.text for t in toks[i + 1:end] if t.kind == "ident"]
    return labels, end


def _matchers(toks: list[_Tok], i: int) -> tuple[list[Matcher], int]:
    """`{ l op "v", ... }` starting at the `{`; returns the matchers and the index of `}`."""
    end = _skip_to(toks, i, "}")
    body = [t for t in toks[i + 1:end] if t.text != ","]
    if len(body) % 3:
        raise PromQLSyntaxError("malformed label matchers: " + " ".join(t.text for t in body))
    out = []
    for label, op, value in zip(body[0::3], body[1::3], body[2::3]):
        if label.kind != "ident" or op.kind != "matchop" or value.kind not in ("string", "template"):
            raise PromQLSyntaxError(f"malformed label matcher {label.text}{op.text}{value.text}")
        out.append(Matcher(label.text, op.text, _unquote(value.text)))
    return out, end


def _unquote(text: str) -> str:
    """The value of a string literal; backticks are raw, quotes take backslash escapes."""
    if text[:1] == "`":
        return text[1:-1]
    if text[:1] in "\"'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text
