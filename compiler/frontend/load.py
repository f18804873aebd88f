"""The front end in one call: compose -> resolve -> validate -> cross-check -> freeze."""

from __future__ import annotations

from pathlib import Path

from compiler.errors import SpecError
from compiler.frontend import files, huggingface, npzcheck, rules, rules_early, textdata
from compiler.frontend.compose import compose_spec, to_container
from compiler.frontend.locate import Locator
from compiler.frontend.spec import Spec, freeze
from compiler.frontend.validate import normalize_and_validate
from compiler.resources import targets_dir


def load_spec(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    spec_path = Path(spec_path)
    try:
        data = to_container(compose_spec(spec_path, list(overrides)))
    except SpecError as exc:
        _locate(exc, Locator(spec_path, None))  # e.g. an interpolation that does not resolve
        raise
    locator = Locator(spec_path, _target_file(data))
    document = normalize_and_validate(data, locator)
    try:  # a huggingface source's signature comes from its folder; others must write one
        huggingface.derive(document, spec_path.resolve().parent)
    except SpecError as exc:
        raise SpecError(_locate(exc, locator).issues) from None
    spec = freeze(document, spec_path.resolve().parent)
    # Files before their contents: an .npz header is read only once the file is known to be one.
    issues = rules.check(spec) + files.check(spec) + textdata.check(spec) + rules_early.check(spec)
    if not any(i.path.startswith(("model.calibration", "model.evaluation")) for i in issues):
        issues += npzcheck.check(spec)
    if issues:
        raise SpecError(_locate(SpecError(issues), locator).issues)
    return spec


def _locate(exc: SpecError, locator: Locator) -> SpecError:
    for issue in exc.issues:
        if issue.file is None and issue.path:
            issue.file, issue.line = locator.find(issue.path)
    return exc


def _target_file(data: dict) -> Path | None:
    name = (data.get("target") or {}).get("name")
    path = targets_dir() / f"{name}.yaml" if isinstance(name, str) else None
    return path if path is not None and path.is_file() else None
