"""Validate the composed spec once, with Cerberus, against schemas/ (unknown keys rejected)."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping

from cerberus import Validator
from cerberus.errors import BasicErrorHandler, UNKNOWN_FIELD, ValidationError

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


def normalize_and_validate(data: dict, locator: Locator | None = None) -> dict:
    validator = Validator(spec_schema(), allow_unknown=False)
    if validator.validate(data):
        return validator.document
    issues = [_issue(err, validator.schema, locator) for err in _leaf_errors(validator._errors)]
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
