"""Command-line overrides, parsed one at a time with Hydra's own grammar before composing.

Hydra parses every override while composing and raises plain Python errors for some values it
accepts as syntax: a literal integer longer than Python's int/str limit (4300 digits) is a
ValueError from the parser, and a config-group option that parses as a float, int, bool or null
(`target=nan`, `target=1`) is a ValueError from the defaults list. Neither names its override.
Parsing each one alone here gives each problem its key.
"""

from __future__ import annotations

import re
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from compiler.errors import SpecIssue
from compiler.frontend.locate import format_path

# 2**64 has 20 digits; no spec value is larger (a port, a byte count, a seed). A longer literal is
# a typo or an attack, and Python refuses to convert one of more than 4300 digits at all.
MAX_INT_DIGITS = 20
# A profile is a file name in targets/ or the spec's target/ folder: no path, no '..'.
_OPTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def key_of(item: str) -> str:
    """'++model.inputs.0.range=[0,1]' -> 'model.inputs[0].range' (the issue path form)."""
    key = item.partition("=")[0].lstrip("+~").split("@", 1)[0].strip()
    return format_path([int(p) if p.isdigit() else p for p in key.split(".") if p])


def target_options(root: Path) -> list[str]:
    """The packaged profiles and the spec folder's own `target/*.yaml`."""
    from compiler.resources import target_names

    own = [p.stem for p in (root / "target").glob("*.yaml")] if (root / "target").is_dir() else []
    return sorted({*target_names(), *own})


def issues(overrides: list[str], root: Path) -> list[SpecIssue]:
    available_targets = target_options(root)
    parser = OverridesParser.create()
    out = []
    for item in overrides:
        try:
            parsed = _parse(parser, item)
        except HydraException:
            continue  # a syntax error: compose reports it with Hydra's message
        except ValueError as exc:
            out.append(SpecIssue(key_of(item), f"cannot parse the value: {str(exc).splitlines()[0]}", "command line"))
            continue
        if parsed.is_sweep_override() or parsed.is_delete():
            continue
        value = parsed.value()
        group = parsed.key_or_group.lstrip("/")
        key, problem = key_of(item), None
        found = _long_int(value)
        if found:
            key, problem = format_path((key, *found[0])), found[1]
        elif group == "target":
            problem = _target_issue(value, available_targets)
        elif (root / group).is_dir() and not _strings(value):
            problem = f"a config group option name, got {value!r} ({type(value).__name__}); quote it as a string"
        if problem:
            out.append(SpecIssue(key, problem, "command line"))
    return out


def _parse(parser: OverridesParser, item: str):
    """Hydra's parse; a digit run Python cannot convert is shortened first (still too long for
    _long_int, which then names the key inside the value)."""
    try:
        return parser.parse_overrides([item])[0]
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
    return parser.parse_overrides([re.sub(r"[0-9]{4000,}", "9" * (MAX_INT_DIGITS + 1), item)])[0]


def _long_int(value, where: tuple = ()) -> tuple[tuple, str] | None:
    """(path inside the value, problem) for the first integer that is too long."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _long_int(item, where + (key,))
        if found:
            return found
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > MAX_INT_DIGITS:
        return where, f"an integer of more than {MAX_INT_DIGITS} digits; no spec value is that large"
    return None


def _strings(value) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _target_issue(value, available: list[str]) -> str | None:
    names = ", ".join(available)
    if not isinstance(value, str):
        return f"must name a target profile, got {value!r} ({type(value).__name__}); available: {names}"
    if not _OPTION.match(value) or ".." in value:
        return f"{value!r} is not a profile name (no path, no '..'); available: {names}"
    return None
