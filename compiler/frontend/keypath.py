"""Dotted key paths of YAML values (`serve.batching.max_batch_size`, `model.inputs[0].range`).

Below both the bounded YAML reader (yamlsafe.py) and the line locator (locate.py), which use it.
"""

from __future__ import annotations

import yaml


def format_path(parts: tuple | list) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def path_at(text: str, index: int) -> str:
    """The dotted path of the value written at character `index` of a YAML text ('' if none)."""
    todo = [(yaml.compose(text), ())]
    while todo:
        node, parts = todo.pop()
        if isinstance(node, yaml.ScalarNode) and node.start_mark.index == index:
            return format_path(parts)
        if isinstance(node, yaml.MappingNode):
            todo += [(v, parts + (k.value,)) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            todo += [(v, parts + (i,)) for i, v in enumerate(node.value)]
    return ""
