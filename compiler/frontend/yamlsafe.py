"""Read a YAML file with limits, before Hydra or OmegaConf ever see it.

PyYAML shares an aliased node instead of copying it, but OmegaConf copies every alias when it
builds a DictConfig: a 1 KB "billion laughs" file becomes 10^9 nodes and `validate` hangs.
So the event stream is checked first (iteratively: the parser keeps its own stack) against
a file size, a nesting depth, an alias count and the size the document has once every
alias is expanded; only then is the file constructed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from compiler.frontend.keypath import path_at
from compiler.errors import SpecError, SpecIssue

MAX_BYTES = 1024 * 1024  # a spec or profile is a few KB; the largest example is under 3 KB
MAX_DEPTH = 32  # the deepest spec key path is 5 levels; leaves room for flow-style data
MAX_ALIASES = 64  # a spec may reuse an anchor or two, not build a tree of them
MAX_NODES = 50_000  # scalars + collections after expanding aliases (a spec has a few hundred)
# 2**64 has 20 digits and no spec value is larger; Python refuses int() of over 4300 digits with
# a ValueError that PyYAML does not wrap (same limit as overrides.py for the command line).
MAX_INT_DIGITS = 20


class _StrictLoader(yaml.SafeLoader):
    """Rejects duplicate keys (plain YAML keeps the last one silently; OmegaConf crashes)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key_node.value}'",
                                                        key_node.start_mark)
            seen.add(key_node.value)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        digits = sum(c.isalnum() for c in str(node.value).lower().removeprefix("0x").removeprefix("0o"))
        if digits > MAX_INT_DIGITS:
            raise _LongInt(node.start_mark)
        return super().construct_yaml_int(node)


class _LongInt(yaml.constructor.ConstructorError):
    def __init__(self, mark):
        super().__init__(None, None, f"an integer of more than {MAX_INT_DIGITS} digits; no spec value is that large",
                         mark)


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def read_yaml(path: Path, what: str = "spec file"):
    """The parsed document, or a SpecError naming the file and line."""
    if not path.is_file():
        raise SpecError(SpecIssue("", f"{what} not found: {path}"))
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SpecError(SpecIssue("", f"{size} bytes; a {what} is at most {MAX_BYTES} bytes", path.name))
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(SpecIssue("", f"not UTF-8 text (byte {exc.start})", path.name)) from None
    try:
        check_structure(text, path.name)
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except _LongInt as exc:
        raise SpecError(SpecIssue(path_at(text, exc.problem_mark.index), exc.problem, path.name,
                                  exc.problem_mark.line + 1)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise SpecError(SpecIssue("", f"YAML syntax error: {exc.problem}", path.name,
                                  mark.line + 1 if mark else None)) from None
    except yaml.YAMLError as exc:
        raise SpecError(SpecIssue("", f"YAML error: {exc}", path.name)) from None


def check_structure(text: str, file: str) -> None:
    """Depth, alias count and expanded size from the event stream, without building anything."""
    expanded: dict[str, int] = {}  # anchor -> node count of its value, aliases expanded
    stack: list[list] = [[None, 0]]  # per open collection: [anchor, node count so far]
    aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                _too_much(file, line, f"more than {MAX_ALIASES} aliases (*name)")
            stack[-1][1] += expanded.get(event.anchor, 1)
        elif isinstance(event, yaml.ScalarEvent):
            stack[-1][1] += 1
            if event.anchor:
                expanded[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1])
            if len(stack) - 1 > MAX_DEPTH:
                _too_much(file, line, f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, count = stack.pop()
            stack[-1][1] += count
            if anchor:
                expanded[anchor] = count
        if stack[-1][1] > MAX_NODES:  # every count is added to the innermost open collection
            _too_much(file, line, f"more than {MAX_NODES} values once aliases are expanded "
                                  "(an alias-expansion bomb?)")


def _too_much(file: str, line: int, what: str) -> None:
    raise SpecError(SpecIssue("", f"refused: the YAML is {what}", file, line))
