"""One definition and one default per setting: schemas/spec.yaml owns the defaults.

The typed dataclasses of compiler/frontend/spec.py give the settings their types and carry no
defaults of their own (a second default is how a setting once silently diverged), and
runtime.json's RuntimeConfig has none either. These tests hold that shape.
"""

from __future__ import annotations

import dataclasses
import typing

import yaml

from compiler.frontend import load_spec, spec as spec_module
from compiler.resources import schemas_dir
from compiler.runtime.config import RuntimeConfig
from tests.conftest import EXAMPLES

SECTIONS = ("optimize", "serve", "image", "rollout", "monitoring")
# Not settings with a default: an unset gate is "no gate" (None), a canary step sets one of three.
UNSET_MEANS_ABSENT = {"Gates", "StudentGates", "CanaryStep"}


def _schema() -> dict:
    return yaml.safe_load((schemas_dir() / "spec.yaml").read_text())


def _dataclass_of(tp):
    for arg in (tp, *typing.get_args(tp)):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def _pairs(cls, rule: dict, path: str):
    """(dotted path, dataclass, field, schema rule) for every field below a section."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        sub = rule["schema"].get(f.name)
        yield path + "." + f.name, cls, f, sub
        inner = _dataclass_of(hints[f.name])
        if inner is not None and sub is not None and "schema" in sub and sub.get("type") == "dict":
            yield from _pairs(inner, sub, path + "." + f.name)


def test_every_section_field_is_a_schema_key_with_a_schema_default_and_no_dataclass_default():
    schema = _schema()
    hints = typing.get_type_hints(spec_module.Spec)
    problems = []
    for section in SECTIONS:
        cls = hints[section]
        for path, owner, f, rule in _pairs(cls, schema[section], section):
            if rule is None:
                problems.append(f"{path}: a dataclass field with no schema key")
                continue
            if owner.__name__ in UNSET_MEANS_ABSENT:
                continue
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                problems.append(f"{path}: {owner.__name__}.{f.name} has a default of its own")
            if "default" not in rule and not rule.get("required"):
                problems.append(f"{path}: the schema gives no default")
        keys = set(schema[section]["schema"])
        fields = {f.name for f in dataclasses.fields(cls)}
        problems += [f"{section}.{k}: a schema key with no dataclass field" for k in sorted(keys - fields)]
    assert not problems, "\n".join(problems)


def test_runtime_config_has_no_defaults():
    assert [f.name for f in dataclasses.fields(RuntimeConfig)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING] == []


def test_a_minimal_spec_gets_every_default_from_the_schema(tmp_path):
    """A spec that sets nothing optional still freezes: each default came from the schema."""
    example = yaml.safe_load((EXAMPLES / "digits-cnn" / "deploy.yaml").read_text())
    minimal = {k: example[k] for k in ("defaults", "name", "version", "model")}
    for name in ("model.py", "weights.safetensors", "calibration.npz", "holdout.npz"):
        (tmp_path / name).write_bytes((EXAMPLES / "digits-cnn" / name).read_bytes())
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump(minimal))
    spec = load_spec(tmp_path / "deploy.yaml", [])
    schema = _schema()
    assert spec.serve.batching.max_batch_size == schema["serve"]["schema"]["batching"]["schema"]["max_batch_size"]["default"]
    assert spec.rollout.strategy == schema["rollout"]["schema"]["strategy"]["default"]
    assert spec.optimize.export.exporter == schema["optimize"]["schema"]["export"]["schema"]["exporter"]["default"]
