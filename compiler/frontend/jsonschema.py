"""A JSON Schema (draft 2020-12) of the spec, generated from the Cerberus schemas, for editors."""

from __future__ import annotations

from compiler.frontend.validate import spec_schema

TYPES = {"string": "string", "integer": "integer", "float": "number", "number": "number",
         "boolean": "boolean", "dict": "object", "list": "array"}


def field_schema(rules: dict) -> dict:
    out: dict = {}
    types = rules.get("type")
    if types:
        names = [TYPES[t] for t in (types if isinstance(types, list) else [types])]
        out["type"] = names[0] if len(names) == 1 else sorted(set(names))
    if rules.get("nullable"):
        out["type"] = sorted({*([out["type"]] if isinstance(out.get("type"), str) else out.get("type", [])), "null"})
    for cerberus_key, json_key in (("min", "minimum"), ("max", "maximum"), ("regex", "pattern"),
                                   ("minlength", "minItems"), ("maxlength", "maxItems"), ("default", "default")):
        if cerberus_key in rules:
            out[json_key] = rules[cerberus_key]
    if rules.get("empty") is False:
        out["minLength"] = 1
    if "allowed" in rules:
        out["enum"] = list(rules["allowed"])
    if rules.get("type") in ("list", ["string", "list"]) and "allowed" in rules:
        out.pop("enum")
        out["anyOf"] = [{"enum": list(rules["allowed"])},
                        {"type": "array", "items": {"enum": list(rules["allowed"])}}]
    sub = rules.get("schema")
    if isinstance(sub, dict) and rules.get("type") == "list":
        out["items"] = field_schema(sub)
    elif isinstance(sub, dict):
        out.update(object_schema(sub))
    if "valuesrules" in rules:
        out["additionalProperties"] = field_schema(rules["valuesrules"])
    return out


def object_schema(fields: dict) -> dict:
    return {"type": "object", "additionalProperties": False,
            "properties": {k: field_schema(v) for k, v in sorted(fields.items())},
            "required": sorted(k for k, v in fields.items() if v.get("required"))}


def spec_json_schema() -> dict:
    schema = object_schema(spec_schema())
    # The target usually comes from the defaults list, and a spec may override single fields of it.
    schema["required"].remove("target")
    schema["properties"]["target"]["required"] = []
    schema["properties"]["defaults"] = {"type": "array", "description": "Hydra defaults list, e.g. [{target: cpu-x86}, _self_]"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "deployc spec", **schema}
