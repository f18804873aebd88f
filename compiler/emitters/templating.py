"""Jinja2 for text formats only (Dockerfile, README, report.md): sandboxed, strict, stable newlines."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from compiler.resources import templates_dir


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(loader=FileSystemLoader(str(templates_dir())), undefined=StrictUndefined,
                               keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["num"] = lambda x, fmt="{:.4g}": "n/a" if x is None else fmt.format(x)
    return env


def render(name: str, **values) -> str:
    return environment().get_template(name).render(**values)
