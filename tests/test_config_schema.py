"""The JSON Schema: generated from the models, committed, and useful in an editor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from reconciler.config import json_schema, write_schema
from reconciler.config.models import GROUP_KEYS, MEMBER_KEYS

COMMITTED = Path(__file__).resolve().parents[1] / "schemas" / "reconciler.schema.json"


def test_committed_schema_is_current() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == json_schema(), (
        "schemas/reconciler.schema.json is stale: run `python -m reconciler.config.schema`"
    )


def test_write_schema_and_module_entry_point(tmp_path: Path) -> None:
    target = write_schema(tmp_path / "s.json")
    assert json.loads(target.read_text()) == json_schema()
    out = subprocess.run(
        [sys.executable, "-m", "reconciler.config.schema", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == json_schema()
    assert "RuntimeWarning" not in out.stderr


def _properties(schema: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    out = {"(root)": schema["properties"]}
    for name, definition in schema["$defs"].items():
        out[name] = definition["properties"]
    return out


def test_every_field_is_described_for_editors() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for owner, properties in _properties(schema).items():
        for name, prop in properties.items():
            assert prop.get("description"), f"{owner}.{name} has no description"


def test_schema_shape() -> None:
    schema = json_schema()
    defs = schema["$defs"]
    assert set(schema["properties"]) == {"app", "policy", "groups"}
    assert schema["additionalProperties"] is False
    assert set(defs["GroupSpec"]["properties"]) == set(GROUP_KEYS)
    assert set(defs["MemberSpec"]["properties"]) == set(MEMBER_KEYS)
    assert defs["GroupSpec"]["required"] == ["id", "type"]
    assert defs["GroupSpec"]["additionalProperties"] is False
    group = defs["GroupSpec"]["properties"]
    assert group["type"]["enum"] == [
        "Work",
        "Public",
        "Meeting",
        "AVChatRoom",
        "Community",
        "Private",
        "ChatRoom",
    ]
    assert "at most 30 bytes" in group["name"]["description"]
    assert group["name"]["maxLength"] == 30  # characters, for editors; the loader counts bytes
    assert group["id"]["maxLength"] == 48
    member = defs["MemberSpec"]["properties"]
    date_time = member["muted_until"]["anyOf"][0]
    assert date_time["format"] == "date-time" and date_time["type"] == ["string", "null"]
    assert "ge" not in member["muted_until"]  # only JSON Schema keywords
    app = defs["AppConfig"]["properties"]
    assert app["endpoint"]["default"] == "local"
    assert "silicon-valley" in app["endpoint"]["description"]
