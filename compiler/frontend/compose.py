"""Compose a spec with Hydra's compose API.

The spec's own folder is the primary config dir and the packaged hardware profiles are
registered as the config group `target`, so `target=nvidia-a100` on the command line works
like any Hydra override. `@hydra.main` is not used: nothing may chdir.
"""

from __future__ import annotations

import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from compiler.errors import SpecError, SpecIssue
from compiler.frontend import preload, yamlsafe
from compiler.frontend.overrides import target_options
from compiler.resources import target_names, targets_dir

DEFAULT_TARGET = "cpu-x86"


def read_yaml(path: Path) -> dict:
    """The spec file alone, parsed with limits (yamlsafe.py); Hydra's own syntax errors lose the line."""
    data = yamlsafe.read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(SpecIssue("", "the spec must be a YAML mapping", path.name, 1))
    return data


def register_targets() -> None:
    store = ConfigStore.instance()
    for name in target_names():
        store.store(group="target", name=name, node=preload.load_profile(targets_dir() / f"{name}.yaml"))


def _declares_target(raw: dict) -> bool:
    defaults = raw.get("defaults") or []
    return any(isinstance(d, dict) and "target" in d for d in defaults)


def _add_or_set(item: str) -> str:
    """`key=value` sets a key whether or not the spec file wrote it (schema defaults fill the
    rest later). Hydra would refuse keys the file lacks; a misspelled key still fails, in
    validation, with a did-you-mean hint."""
    if item.startswith(("+", "~")) or "=" not in item or item.split("=", 1)[0] == "target":
        return item
    return "++" + item


def normalize_overrides(raw: dict, overrides: list[str]) -> list[str]:
    """A spec without `defaults: [{target: ...}]` still takes `target=X`, or gets the default."""
    overrides = [_add_or_set(o) for o in overrides]
    if _declares_target(raw):
        return overrides
    out, seen = [], False
    for item in overrides:
        if item.startswith("target="):
            item, seen = "+" + item, True
        seen = seen or item.startswith("+target=")
        out.append(item)
    if not seen and "target" not in raw:
        out.append(f"+target={DEFAULT_TARGET}")
    return out


def compose_spec(spec_path: Path, overrides: list[str]) -> DictConfig:
    spec_path = spec_path.resolve()
    raw = preload.check_spec(spec_path, overrides)  # before Hydra reads any of it
    register_targets()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(spec_path.parent), version_base="1.3", job_name="deployc"):
            return compose(config_name=spec_path.stem, overrides=normalize_overrides(raw, overrides))
    except MissingConfigException as exc:
        raise SpecError(_missing_config_issue(exc, spec_path.parent)) from None
    except (HydraException, OmegaConfBaseException) as exc:
        raise SpecError(_override_issue(exc)) from None
    finally:
        GlobalHydra.instance().clear()


def _missing_config_issue(exc: MissingConfigException, root: Path) -> SpecIssue:
    missing = exc.missing_cfg_file or ""
    if exc.options is not None:  # a config group exists but has no such option
        group, _, option = missing.partition("/")
        if group == "target":  # Hydra lists the options of the folder the name points into
            return SpecIssue(group, f"unknown target '{option}'; available: {', '.join(target_options(root))}")
        return SpecIssue(group, f"unknown option '{option}' of config group '{group}'; "
                                f"available: {', '.join(exc.options)}")
    return SpecIssue("defaults", f"no config '{missing}' in the spec's folder (looked for {missing}.yaml)")


def _override_issue(exc: Exception) -> SpecIssue:
    if isinstance(exc, OverrideParseException):
        key = exc.override.partition("=")[0].lstrip("+~")
        return SpecIssue(key, f"cannot parse the override {exc.override!r}: {exc.message} (quote values with "
                              "spaces or special characters: key='a value')")
    cause = _omegaconf_cause(exc)
    if cause is not None:
        # Hydra resolves the defaults list while composing; its interpolation errors carry a
        # dummy key, so they are named by the list they are in.
        key = getattr(cause, "full_key", "") or ""
        key = "defaults" if key in ("", "_dummy_") else key
        return SpecIssue(key, f"cannot resolve: {_first_line(cause)}")
    # Hydra has no typed error for an override of a key the config lacks; its message is the only
    # place the key is named.
    match = re.match(r"Could not override '([^']+)'", _first_line(exc))
    if match:
        return SpecIssue(match.group(1), "no such key in the spec; check the spelling (deployc schema lists the keys)")
    return SpecIssue(getattr(exc, "full_key", "") or "", _first_line(exc))


def _omegaconf_cause(exc: BaseException) -> OmegaConfBaseException | None:
    """The OmegaConf error under a Hydra one (Hydra wraps it and keeps only a summary)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OmegaConfBaseException):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def to_container(cfg: DictConfig) -> dict:
    """Resolve interpolations; an unresolvable one names its key."""
    try:
        data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", "") or ""
        raise SpecError(SpecIssue(key, f"cannot resolve: {_first_line(exc)}")) from None
    data.pop("defaults", None)
    return data
