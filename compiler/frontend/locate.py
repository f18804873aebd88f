"""Map dotted key paths of a YAML file to the line where each key is written."""

from __future__ import annotations

from pathlib import Path

import yaml

from compiler.frontend.keypath import format_path  # noqa: F401 (re-exported)


def key_lines(path: Path) -> dict[str, int]:
    """Every key and list item of the file, by dotted path, to its 1-based line."""
    from compiler.errors import SpecError
    from compiler.frontend.yamlsafe import MAX_BYTES, check_structure

    try:
        if path.stat().st_size > MAX_BYTES:
            return {}
        text = path.read_text(encoding="utf-8")
        check_structure(text, path.name)  # the walk below expands aliases: never on a bomb
        root = yaml.compose(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, SpecError):
        return {}
    lines: dict[str, int] = {}
    _walk(root, (), lines)
    return lines


def _walk(node, prefix: tuple, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            parts = prefix + (key_node.value,)
            lines[format_path(parts)] = key_node.start_mark.line + 1
            _walk(value_node, parts, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            parts = prefix + (index,)
            lines[format_path(parts)] = item.start_mark.line + 1
            _walk(item, parts, lines)


class Locator:
    """Finds where a spec key was written: on the command line, in the spec file, in a file its
    defaults list includes, or in the target profile it came from."""

    COMMAND_LINE = "command line"

    def __init__(self, spec_path: Path, target_path: Path | None, overridden: list[str] | tuple = (),
                 included: list[tuple[Path, str]] | tuple = ()):
        self._overridden = list(overridden)  # key paths set on the command line
        self._spec = (spec_path, "", key_lines(spec_path))
        # The spec's own keys win over the files it includes (Hydra puts _self_ last by default).
        self._target = [(target_path, "target.", key_lines(target_path))] if target_path is not None else []
        self._exact = [self._spec] + [(f, prefix, key_lines(f)) for f, prefix in included] + self._target

    def find(self, dotted: str) -> tuple[str | None, int | None]:
        for file, prefix, lines in self._exact:
            if dotted.startswith(prefix) and dotted[len(prefix):] in lines:
                return file.name, lines[dotted[len(prefix):]]
        # Not written in any file: a key the command line added is located there, not at its parent.
        if any(dotted == k or dotted.startswith((k + ".", k + "[")) for k in self._overridden):
            return self.COMMAND_LINE, None
        # An unknown or missing key is reported at its closest written parent.
        for file, prefix, lines in [self._spec] + self._target:
            if prefix and not dotted.startswith(prefix):
                continue
            key = dotted[len(prefix):]
            while key:
                if key in lines:
                    return file.name, lines[key]
                key = _parent(key)
        return None, None


def _parent(key: str) -> str:
    """'a.b[0]' -> 'a.b'; 'a.b' -> 'a'; 'a' -> ''."""
    cut = max(key.rfind("."), key.rfind("["))
    return key[:cut] if cut > 0 else ""
