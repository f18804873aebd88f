"""A transformer student by depth reduction (optimize.distill.layers): the teacher with N of its
layers, evenly spaced (6 -> 3 keeps layers 0, 2 and 4), initialised from them, its config saying so.

The layer stack is the ModuleList whose length is the config's num_hidden_layers; every layer's
`layer_idx` (the KV-cache slot of decoder layers) and per-layer config lists follow the cut.
"""

from __future__ import annotations

import copy

from compiler.errors import SpecError, SpecIssue


def reduced(teacher, layers: int, key: str):
    import torch

    student = copy.deepcopy(teacher)
    config = next((m.config for m in student.modules() if hasattr(getattr(m, "config", None), "num_hidden_layers")), None)
    if config is None:
        raise SpecError(SpecIssue(key, "the teacher has no transformers config with num_hidden_layers to reduce"))
    n = config.num_hidden_layers
    if layers >= n:
        raise SpecError(SpecIssue(key, f"the teacher has {n} layers: a student keeps fewer (got {layers})"))
    stacks = [(name, m) for name, m in student.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n]
    if len(stacks) != 1:
        raise SpecError(SpecIssue(key, f"found {len(stacks)} layer stacks of {n} layers in the teacher, not one; "
                                       "give a student factory instead"))
    name, stack = stacks[0]
    keep = [i * n // layers for i in range(layers)]
    parent = student.get_submodule(name.rsplit(".", 1)[0]) if "." in name else student
    setattr(parent, name.rsplit(".", 1)[-1], torch.nn.ModuleList([stack[i] for i in keep]))
    for new, i in enumerate(keep):
        for m in stack[i].modules():
            if isinstance(getattr(m, "layer_idx", None), int):
                m.layer_idx = new
    for attr in ("layer_types",):  # per-layer lists some configs carry (attention kinds)
        value = getattr(config, attr, None)
        if isinstance(value, list) and len(value) == n:
            setattr(config, attr, [value[i] for i in keep])
    config.num_hidden_layers = layers
    return student
