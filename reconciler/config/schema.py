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
from reconciler.config.models import GROUP_TYPE_NAMES, ConfigFile
from reconciler.tim import limits
from reconciler.tim.endpoints import LOCAL, REGIONS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Stable: editors and validators cache and cross-reference the schema by it.
SCHEMA_ID = "urn:tim-reconciler:config:v1"
NULL = {"type": "null"}
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
    if "type" not in node and "$ref" not in node and "anyOf" not in node:
        kinds = {TYPE_OF_KEYWORD[k] for k in node if k in TYPE_OF_KEYWORD}
        if len(kinds) == 1:
            node["type"] = kinds.pop()
    return node


def _add_rules(schema: dict[str, Any]) -> None:
    """Rules the loader holds that pydantic's types do not state: the endpoint's forms, and
    the group ID's prefixes and reserved name (limits.py and endpoints.py state them once)."""
    app = schema["$defs"]["AppConfig"]["properties"]
    app["endpoint"]["anyOf"] = [
        {"type": "string", "enum": [LOCAL, *REGIONS]},
        {"type": "string", "pattern": "^https://[^/?#@\\s]+(/[^?#\\s]*)?$"},
        {
            "type": "string",
            "pattern": "^http://(localhost|[^/?#@\\s]*\\.localhost|127(\\.[0-9]{1,3}){3}|\\[::1\\])"
            "(:[0-9]{1,5})?(/[^?#\\s]*)?$",
        },
    ]
    group = schema["$defs"]["GroupSpec"]
    group["properties"]["id"]["not"] = {"enum": sorted(st.TOOL_GROUP_IDS)}
    community = [n for n in GROUP_TYPE_NAMES if st.normalize_type(n) is st.GroupType.Community]
    others = [n for n in GROUP_TYPE_NAMES if n not in community]
    prefix = "^" + limits.COMMUNITY_ID_PREFIX.replace("#", "#")
    for names, rule in (
        (community, {"type": "string", "pattern": prefix}),
        (others, {"type": "string", "not": {"type": "string", "pattern": prefix}}),
    ):
        group.setdefault("allOf", []).append(
            {
                "if": {"properties": {"type": {"enum": names}}, "required": ["type"]},
                "then": {"properties": {"id": rule}},
            }
        )


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
