"""The front end in one call: compose -> resolve -> validate -> cross-check -> freeze."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from compiler.errors import SpecError
from compiler.frontend import files, huggingface, mlflow_source, npzcheck, preload, rules, rules_early, textdata
from compiler.frontend.compose import compose_spec, read_yaml, to_container
from compiler.frontend.locate import Locator
from compiler.frontend.overrides import key_of
from compiler.frontend.spec import Spec, freeze
from compiler.frontend.validate import normalize_and_validate
from compiler.resources import targets_dir


def load_spec(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    spec_path = Path(spec_path)
    try:
        data = to_container(compose_spec(spec_path, list(overrides)))
    except SpecError as exc:
        _locate(exc, Locator(spec_path, None, _overridden(spec_path, overrides)))  # e.g. an unresolvable ${}
        raise
    locator = Locator(spec_path, _target_file(spec_path, overrides, data), _overridden(spec_path, overrides),
                      preload.included_files(spec_path, list(overrides)))
    document = normalize_and_validate(data, locator)
    try:  # a registry source becomes a local one; a huggingface source's signature comes from its folder
        registry, written = mlflow_source.apply(document)
        huggingface.derive(document, spec_path.resolve().parent)
    except SpecError as exc:
        raise SpecError(_locate(exc, locator).issues) from None
    spec = freeze(document, spec_path.resolve().parent)
    if registry is not None:  # the digest and `explain` see the spec as written, not the download's path
        public = {**document, "model": mlflow_source.public_model(document["model"], written)}
        spec = replace(spec, resolved=public, registry=registry)
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


def _overridden(spec_path: Path, overrides) -> list[str]:
    """Key paths whose value the command line set; `target=X` picks a file, so it is not one."""
    root = spec_path.resolve().parent
    keys = [key_of(o) for o in overrides if "=" in o]
    return [k for k in keys if k != "target" and not (root / k).is_dir()]


def _target_file(spec_path: Path, overrides, data: dict) -> Path | None:
    """The profile file the target came from: the option picked on the command line or in the
    defaults list (a profile's own `name` may differ from its file's), in the spec's `target/`
    folder or the packaged ones."""
    picked = [o.partition("=")[2] for o in overrides if o.lstrip("+").startswith("target=")]
    defaults = read_yaml(spec_path.resolve()).get("defaults") or []
    picked = picked or [d["target"] for d in defaults if isinstance(d, dict) and "target" in d]
    name = picked[-1] if picked else (data.get("target") or {}).get("name")
    if not isinstance(name, str):
        return None
    for folder in (spec_path.resolve().parent / "target", targets_dir()):
        if (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    return None
