"""The front end in one call: compose -> resolve -> validate -> cross-check -> freeze."""

from __future__ import annotations

from pathlib import Path

from compiler.errors import SpecError
from compiler.frontend import rules
from compiler.frontend.compose import compose_spec, to_container
from compiler.frontend.locate import Locator
from compiler.frontend.spec import Spec, freeze
from compiler.frontend.validate import normalize_and_validate
from compiler.resources import targets_dir


def load_spec(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    spec_path = Path(spec_path)
    cfg = compose_spec(spec_path, list(overrides))
    data = to_container(cfg)
    locator = Locator(spec_path, _target_file(data))
    document = normalize_and_validate(data, locator)
    spec = freeze(document, spec_path.resolve().parent)
    issues = rules.check(spec)
    if issues:
        for issue in issues:
            issue.file, issue.line = locator.find(issue.path)
        raise SpecError(issues)
    return spec


def _target_file(data: dict) -> Path | None:
    name = (data.get("target") or {}).get("name")
    path = targets_dir() / f"{name}.yaml" if isinstance(name, str) else None
    return path if path is not None and path.is_file() else None
