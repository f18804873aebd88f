"""Every file Hydra will load for a spec, read with limits and checked before Hydra reads it.

Hydra and OmegaConf read the files themselves while composing (OmegaConf.load, no limits, and
the defaults list is resolved on the way), so a check after composing is too late: the spec,
each file its defaults list pulls from the spec's folder (recursively), each config-group
option an override picks there, and the target profiles are all read here first, with the
bounded reader of yamlsafe.py, and checked for resolvers that may not appear in a spec.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from compiler.errors import SpecError, SpecIssue
from compiler.frontend import overrides as overrides_check, resolvers
from compiler.frontend.locate import key_lines
from compiler.frontend.yamlsafe import read_yaml

MAX_FILES = 64  # a spec with its group options; a longer chain is a cycle or an attack


def check_spec(spec_path: Path, overrides: list[str]) -> dict:
    """The spec as parsed; raises SpecError for any file Hydra would read that is not acceptable."""
    root = spec_path.parent
    issues = resolvers.override_issues(overrides) + overrides_check.issues(overrides, root)
    if issues:  # Hydra would raise on these while composing, without naming the override
        raise SpecError(issues)
    todo = [(spec_path, Path("."))] + [(f, Path(".")) for f in _override_files(root, overrides)]
    seen: dict[Path, dict] = {}
    while todo:
        path, group = todo.pop(0)
        if path in seen or (seen and not path.is_file()):
            continue  # a missing group option is Hydra's to report (it lists the options)
        if len(seen) >= MAX_FILES:
            raise SpecError(SpecIssue("defaults", f"the defaults lists pull in more than {MAX_FILES} files", path.name))
        data = read_yaml(path, "spec file" if not seen else "config file")
        if not isinstance(data, dict):
            raise SpecError(SpecIssue("", "must be a YAML mapping", path.name, 1))
        seen[path] = data
        issues += resolvers.data_issues(data, path.name, key_lines(path))
        todo += [(f, g) for f, g in _defaults_files(root, group, data.get("defaults"))]
    if issues:
        raise SpecError(issues)
    return seen[spec_path]


def included_files(spec_path: Path, overrides: list[str]) -> list[tuple[Path, str]]:
    """(file, key prefix its values land under) for each file the spec's defaults lists pull in
    from its folder, for error locations; the files were checked by check_spec already."""
    root = spec_path.resolve().parent
    todo = [(f, f.parent.relative_to(root)) for f in _override_files(root, overrides)]
    todo += _defaults_files(root, Path("."), read_yaml(spec_path.resolve()).get("defaults"))
    out: list[tuple[Path, str]] = []
    while todo and len(out) < MAX_FILES:
        path, group = todo.pop(0)
        if path.is_file() and path.parts[-2:-1] != ("target",) and all(path != p for p, _ in out):
            prefix = ".".join(group.parts)
            out.append((path, prefix + "." if prefix else ""))
            todo += _defaults_files(root, group, read_yaml(path, "config file").get("defaults"))
    return out


def load_profile(path: Path):
    """A target profile for Hydra's ConfigStore, through the same limits and resolver rules."""
    data = read_yaml(path, "target profile")
    if not isinstance(data, dict):
        raise SpecError(SpecIssue("", "a target profile must be a YAML mapping", path.name, 1))
    issues = resolvers.data_issues(data, path.name, key_lines(path))
    if issues:
        raise SpecError(issues)
    return OmegaConf.create(data)


def _defaults_files(root: Path, group: Path, defaults) -> list[tuple[Path, Path]]:
    """(file, its group folder) for each defaults-list entry that names a file under root.
    Entries are relative to the including file's group; a leading '/' is relative to root."""
    out = []
    for entry in defaults if isinstance(defaults, list) else []:
        if isinstance(entry, str) and entry != "_self_":
            name = _clean(entry)
            out.append(_option(root, group, *name.rpartition("/")[::2]) if "/" in name
                       else _option(root, group, "", name))
        elif isinstance(entry, dict):
            for key, value in entry.items():
                options = value if isinstance(value, list) else [value]
                out += [_option(root, group, _clean(str(key)), str(v)) for v in options if isinstance(v, str)]
    return out


def _override_files(root: Path, overrides: list[str]) -> list[Path]:
    """Group options picked on the command line (`db=mysql` loads <root>/db/mysql.yaml)."""
    out = []
    for item in overrides:
        key, sep, value = item.lstrip("+~").partition("=")
        key = key.split("@", 1)[0]
        if sep and (root / key).is_dir():
            out += [root / key / f"{v.strip()}.yaml" for v in value.split(",")]
    return out


def _option(root: Path, group: Path, key: str, name: str) -> tuple[Path, Path]:
    base = root if key.startswith("/") or name.startswith("/") else root / group
    sub = base / key.strip("/") if key else base
    return sub / f"{name.strip('/')}.yaml", sub.relative_to(root) if sub.is_relative_to(root) else Path(".")


def _clean(text: str) -> str:
    """'override /db@pkg' -> '/db': the keywords and the package are not part of the path."""
    for word in ("optional ", "override "):
        text = text.strip().removeprefix(word)
    return text.strip().split("@", 1)[0]
