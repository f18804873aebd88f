"""Front end: compose the spec with Hydra, validate it with Cerberus, freeze it into dataclasses."""

from compiler.frontend.load import load_spec

__all__ = ["load_spec"]
