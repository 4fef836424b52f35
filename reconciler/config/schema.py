"""JSON Schema of the config format, generated from the pydantic models.

Regenerate the committed copy with ``python -m reconciler.config.schema`` (or
``write_schema(path)``); a test fails when schemas/reconciler.schema.json is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from reconciler import state as st
from reconciler.config.models import (
    GROUP_TYPE_NAMES,
    NEEDS_TRUE,
    TYPE_ONLY_KEYS,
    ConfigFile,
    literal_pattern,
)
from reconciler.tim import limits
from reconciler.tim.endpoints import LOCAL, REGIONS, WRITTEN_URL_PATTERNS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Where the schema is published: the committed file on the repository's default branch (HEAD),
# a URL that stays the same across releases, as editors and validators cache and cross-reference
# a schema by its ID (docs/configuration.md: the modeline and the editor association).
SCHEMA_ID = (
    "https://raw.githubusercontent.com/your-org/tim-reconciler/HEAD/schemas/reconciler.schema.json"
)
NULL = {"type": "null"}
PRINTABLE = limits.PRINTABLE_ASCII_CLASS
# Keywords that apply to one type only: a validator in strict mode wants that type stated.
TYPE_OF_KEYWORD = {
    "maxLength": "string",
    "minLength": "string",
    "pattern": "string",
    "format": "string",
    "maximum": "number",
    "minimum": "number",
    "exclusiveMaximum": "number",
    "exclusiveMinimum": "number",
    "properties": "object",
    "required": "object",
    "additionalProperties": "object",
    "propertyNames": "object",
    "maxProperties": "object",
    "items": "array",
    "maxItems": "array",
}
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "schemas" / "reconciler.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one config file: what the loader accepts, in the form
    strict validators (ajv's strict mode) and editors read best."""
    schema = ConfigFile.model_json_schema(mode="validation")
    _add_rules(schema)
    schema = _tidy(schema)
    return {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_ID, **schema}


def _nullable(branch: dict[str, Any]) -> dict[str, Any]:
    """``branch`` that also admits null: ``type: [X, "null"]`` (and null in its enum)."""
    kind = branch["type"]
    out = {**branch, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _tidy(node: Any, parent_key: str = "") -> Any:
    """pydantic writes an optional field as ``anyOf: [X, {type: null}]``, which validators
    explain poorly ("not valid under any of the given schemas"); write it as a nullable X. A
    field that is a reference stays the reference (``app: null`` means nothing). Keywords
    that apply to one type get that type."""
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    if parent_key in ("properties", "$defs"):  # names -> schemas, not a schema itself
        return {name: _tidy(sub) for name, sub in node.items()}
    node = {key: _tidy(value, key) for key, value in node.items()}
    branches = node.get("anyOf")
    if isinstance(branches, list) and NULL in branches:
        others = [b for b in branches if b != NULL]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(others) == 1 and "$ref" in others[0]:
            if rest.get("default", ...) is None:
                del rest["default"]
            node = {**others[0], **rest}
        elif len(others) == 1 and "type" in others[0]:
            node = {**_nullable(others[0]), **rest}
        elif all("type" in b for b in others):  # a union: null joins its first branch
            node = {**rest, "anyOf": [_nullable(others[0]), *others[1:]]}
    patterns = node.get("patternProperties")
    if isinstance(patterns, dict) and len(patterns) == 1 and "additionalProperties" not in node:
        # pydantic states a key's pattern only for the keys that match it: every key must.
        ((pattern, value),) = patterns.items()
        node = {k: v for k, v in node.items() if k != "patternProperties"}
        node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": pattern}
        node["additionalProperties"] = value
    if "type" not in node and "$ref" not in node and "anyOf" not in node:
        kinds = {TYPE_OF_KEYWORD[k] for k in node if k in TYPE_OF_KEYWORD}
        if len(kinds) == 1:
            node["type"] = kinds.pop()
    return node


def _add_rules(schema: dict[str, Any]) -> None:
    """Rules the loader holds that pydantic's types do not state: the endpoint's forms, the
    group ID's prefixes and reserved names, and the rules between a group's keys (per type)."""
    defs = schema["$defs"]
    defs["AppConfig"]["properties"]["endpoint"]["anyOf"] = [
        {"type": "string", "enum": [LOCAL, *REGIONS]},
        *({"type": "string", "pattern": pattern} for pattern in WRITTEN_URL_PATTERNS),
    ]
    group = defs["GroupSpec"]
    group["properties"]["id"]["not"] = {"enum": sorted(st.TOOL_GROUP_IDS)}
    group["allOf"] = _group_rules()
    absent = {"properties": {"state": {"const": "absent"}}, "required": ["state"]}
    # A topic kept needs a name (the checker: "name is empty"); a permission group deleted
    # takes no members or permissions.
    defs["TopicSpec"]["allOf"] = [
        {
            "if": absent,
            "else": {"properties": {"name": {"type": ["string", "null"], "minLength": 1}}},
        }
    ]
    defs["PermissionGroupSpec"]["allOf"] = [
        {"if": absent, "then": {"properties": {"members": NULL, "topic_permissions": NULL}}}
    ]


def _of_types(types: frozenset[st.GroupType], then: dict[str, Any]) -> dict[str, Any]:
    """The rule: a group of one of ``types`` (by any of their names) has ``then``'s properties."""
    names = [n for n in GROUP_TYPE_NAMES if st.normalize_type(n) in types]
    return {
        "if": {"properties": {"type": {"enum": names}}, "required": ["type"]},
        "then": {"properties": then},
    }


def _unless_true(key: str, then: dict[str, Any]) -> dict[str, Any]:
    """The rule: a group whose ``key`` is not declared true has ``then``'s properties."""
    return {
        "if": {"properties": {key: {"const": True}}, "required": [key]},
        "else": {"properties": then},
    }


def _group_rules() -> list[dict[str, Any]]:
    """The checker's rules between a group's keys, as JSON Schema (from the same tables)."""
    every = frozenset(st.GroupType)
    community = frozenset({st.GroupType.Community})
    prefix = "^" + literal_pattern(limits.COMMUNITY_ID_PREFIX)
    rules = [
        _of_types(community, {"id": {"type": "string", "pattern": prefix + PRINTABLE}}),
        _of_types(
            every - community,
            {"id": {"type": "string", "not": {"type": "string", "pattern": prefix}}},
        ),
    ]
    for ceiling in sorted(set(limits.MAX_MEMBERS_CEILING.values())):
        types = frozenset(t for t in every if limits.MAX_MEMBERS_CEILING.get(t.value) == ceiling)
        rules.append(
            _of_types(types, {"max_members": {"type": ["integer", "null"], "maximum": ceiling}})
        )
    refused: dict[frozenset[st.GroupType], dict[str, Any]] = {}
    for key, (types, _fix) in TYPE_ONLY_KEYS.items():
        refused.setdefault(every - types, {})[key] = NULL
    rules += [_of_types(types, keys) for types, keys in refused.items()]
    needs: dict[str, dict[str, Any]] = {}
    for key, required in NEEDS_TRUE.items():
        for other, _fix in required:
            needs.setdefault(other, {})[key] = NULL
    rules += [_unless_true(other, keys) for other, keys in needs.items()]
    rules.append(
        {
            "if": {"properties": {"protect": {"const": True}}, "required": ["protect"]},
            "then": {"properties": {"state": {"const": "present"}}},
        }
    )
    # Members of Work groups cannot be muted: muted_until says "not muted" or nothing.
    not_muted = {
        "anyOf": [
            NULL,
            {"type": "integer", "enum": [0]},
            {"type": "string", "pattern": "^(1969-12-31|1970-01-01)[Tt]"},
        ]
    }
    member = {"type": "object", "properties": {"muted_until": not_muted}}
    rules.append(
        _of_types(
            frozenset({st.GroupType.Private}),
            {
                "members": {
                    "type": ["array", "null"],
                    "items": {"anyOf": [{"type": "string"}, member]},
                }
            },
        )
    )
    return rules


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: str | Path = DEFAULT_PATH) -> Path:
    """Write the schema to ``path`` (default: the repository's schemas/reconciler.schema.json)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(schema_text(), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(f"usage: python -m reconciler.config.schema [PATH | -]  (default: {DEFAULT_PATH})")
        return 0
    if args and args[0] == "-":
        sys.stdout.write(schema_text())
        return 0
    print(f"wrote {write_schema(args[0] if args else DEFAULT_PATH)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
