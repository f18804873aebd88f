"""Validate the composed spec once, with Cerberus, against schemas/ (unknown keys rejected)."""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Mapping

from cerberus import TypeDefinition, Validator
from cerberus.errors import BasicErrorHandler, EMPTY_NOT_ALLOWED, NOT_NULLABLE, UNKNOWN_FIELD, ValidationError

from compiler.errors import SpecError, SpecIssue
from compiler.frontend.locate import Locator, format_path
from compiler.resources import load_schema


def spec_schema() -> dict:
    """The full spec schema: target.yaml nested under `target`, one gates schema everywhere."""
    schema = copy.deepcopy(load_schema("spec"))
    target = copy.deepcopy(load_schema("target"))
    target["gates"]["schema"] = copy.deepcopy(schema["optimize"]["schema"]["gates"]["schema"])
    schema["target"] = {"type": "dict", "required": True, "schema": target}
    return schema


class _FiniteType(type):
    def __instancecheck__(cls, value) -> bool:
        return isinstance(value, (int, float)) and math.isfinite(value)


class _Finite(metaclass=_FiniteType):
    """`isinstance(x, _Finite)`: an int or a finite float (what Cerberus' type check asks)."""


class SpecValidator(Validator):
    """Cerberus with two rules for every field of every schema, kept here rather than per key:

    - a `float` or `number` is finite. NaN compares false with everything, so `min`/`max` let it
      through and a NaN gate then passes every artifact; an infinite threshold never fires.
      No key of the spec means "unbounded" with .inf (absent or null says that where allowed).
    - null is a value only where the schema says `nullable`. Cerberus' normalization replaces a
      null by the field's default, so `serve: null` would silently become the default serve
      section; normalize_and_validate looks for nulls before normalizing.
    """

    types_mapping = {**Validator.types_mapping,
                     "float": TypeDefinition("float", (_Finite,), ()),
                     "number": TypeDefinition("number", (_Finite,), (bool,))}


def normalize_and_validate(data: dict, locator: Locator | None = None) -> dict:
    validator = SpecValidator(spec_schema(), allow_unknown=False)
    # Without normalization a null meets `nullable` instead of being replaced by a default.
    nulls = [] if validator.validate(data, normalize=False) else \
        [e for e in _leaf_errors(validator._errors) if e.code == NOT_NULLABLE.code]
    if validator.validate(data) and not nulls:
        return validator.document
    errors = nulls + [e for e in _leaf_errors(validator._errors) if e.document_path not in
                      {n.document_path for n in nulls}]
    issues = [_issue(err, validator.schema, locator) for err in errors]
    issues.sort(key=lambda i: i.path)
    raise SpecError(issues)


def _leaf_errors(errors) -> list[ValidationError]:
    out = []
    for err in errors:
        if err.is_group_error and err.child_errors:
            out.extend(_leaf_errors(err.child_errors))
        else:
            out.append(err)
    return out


def _issue(err: ValidationError, schema, locator: Locator | None) -> SpecIssue:
    path = format_path(err.document_path)
    message = _message(err)
    if err.code == UNKNOWN_FIELD.code:
        message = f"unknown key '{err.field}'" + _did_you_mean(err, schema)
    file, line = locator.find(path) if locator else (None, None)
    return SpecIssue(path, message, file, line)


def _message(err: ValidationError) -> str:
    if err.rule == "type" and isinstance(err.value, float) and not math.isfinite(err.value):
        return f"must be a finite number (got {err.value!r})"
    if err.code == NOT_NULLABLE.code:
        return "must not be null (leave the key out to get the default)"
    if err.code == EMPTY_NOT_ALLOWED.code:
        return "must not be empty"
    template = BasicErrorHandler.messages.get(err.code, "invalid value")
    try:
        text = template.format(*err.info, constraint=err.constraint, field=err.field, value=err.value)
    except (IndexError, KeyError):
        text = template
    if err.rule in ("allowed", "type", "regex", "min", "max") and err.value is not None:
        text += f" (got {err.value!r})"
    return text


def _did_you_mean(err: ValidationError, schema) -> str:
    siblings = _schema_keys_at(schema, err.document_path[:-1])
    close = difflib.get_close_matches(str(err.field), siblings, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; known keys: {', '.join(sorted(siblings))}" if siblings else ""


def _schema_keys_at(schema, parts: tuple) -> list[str]:
    # A dict field's "schema" holds its keys; a list field's holds the rules of its items.
    node = schema
    for part in parts:
        rules = node if isinstance(part, int) else (node.get(part, {}) if isinstance(node, Mapping) else {})
        node = rules.get("schema", {}) if isinstance(rules, Mapping) else {}
    return list(node.keys()) if isinstance(node, Mapping) else []
