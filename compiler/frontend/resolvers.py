"""Which OmegaConf resolvers a spec may use.

Whatever a resolver returns lands in the artifacts (a `${oc.env:HOME}` in a label ends up in the
Dockerfile and the manifests), and the same spec must give the same bytes on every machine. So a
resolver is allowed only when its result is a pure function of the spec itself:

- `${a.b}` (plain interpolation): allowed; it reads another key of the spec.
- `oc.select`: allowed; `${a.b}` with a default, still only the spec's own keys.
- `oc.dict.keys`, `oc.dict.values`: allowed; the keys or values of a node of the spec.
- `oc.env`: refused; it copies the build host's environment into the output.
- `oc.decode`, `oc.create`: refused; they parse a string at resolve time, so a string built by
  interpolation can hide a resolver from this check.
- `oc.deprecated`: refused; it exists for library authors renaming keys, a spec has no use for it.
- Hydra's `now`, `hydra`, `python_version`: refused; the clock, the Hydra runtime (working
  directory, command line) and the build host's Python are not part of the spec.
- anything else registered by some installed package: refused (allow-list, not deny-list).

The check parses each string with OmegaConf's own grammar, so nested and escaped interpolations
are seen exactly as OmegaConf will see them. It runs on every file Hydra will load and on the
command-line overrides, before composing (Hydra resolves the defaults list while composing).
"""

from __future__ import annotations

from typing import Iterator

from omegaconf import grammar_parser
from omegaconf.errors import GrammarParseError
from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser

from compiler.errors import SpecIssue
from compiler.frontend.locate import format_path

ALLOWED = frozenset({"oc.select", "oc.dict.keys", "oc.dict.values"})


def resolver_names(text: str) -> list[str]:
    """Every resolver a string calls, nested ones included. Raises GrammarParseError."""
    if "${" not in text:
        return []
    tree = grammar_parser.parse(text, parser_rule="configValue", lexer_mode="DEFAULT_MODE")
    names, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, OmegaConfGrammarParser.InterpolationResolverContext):
            names.append(node.resolverName().getText())
        todo.extend(node.getChildren() if hasattr(node, "getChildren") else ())
    return names


def string_issue(text: str) -> str | None:
    """Why this string may not be in a spec, or None."""
    try:
        refused = sorted({n for n in resolver_names(text) if n not in ALLOWED})
    except GrammarParseError as exc:
        return f"not a valid interpolation: {str(exc).strip().splitlines()[0]}"
    if not refused:
        return None
    return (f"resolver {', '.join(repr(n) for n in refused)} is not allowed in a spec: the output must not "
            f"depend on the build host (allowed: plain ${{a.b}} interpolation, {', '.join(sorted(ALLOWED))})")


def walk_strings(data, prefix: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from walk_strings(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk_strings(value, prefix + (index,))
    elif isinstance(data, str):
        yield prefix, data


def data_issues(data, file: str, lines: dict[str, int]) -> list[SpecIssue]:
    """Refused resolvers in one parsed file, by key path and line."""
    issues = []
    for parts, text in walk_strings(data):
        problem = string_issue(text)
        if problem:
            path = format_path(parts)
            issues.append(SpecIssue(path, problem, file, lines.get(path)))
    return issues


def override_issues(overrides: list[str]) -> list[SpecIssue]:
    """Refused resolvers in command-line overrides. The raw text is checked (not Hydra's parse of
    it), so quoting cannot hide an interpolation: Hydra keeps `${...}` inside quotes as is."""
    issues = []
    for item in overrides:
        key, sep, value = item.partition("=")
        problem = string_issue(value) if sep else None
        if problem:
            issues.append(SpecIssue(key.lstrip("+~"), f"{problem} (command-line override {item!r})"))
    return issues
