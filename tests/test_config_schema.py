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


ROOT = COMMITTED.parents[1]
DOCS = ROOT / "docs"


def test_the_schema_id_is_the_committed_file_on_the_repository() -> None:
    """The `$id` resolves to this file: the raw URL of schemas/reconciler.schema.json on the
    default branch of the repository the site names (mkdocs.yml's repo_url)."""
    import re

    repo_url = re.search(r"^repo_url: (\S+)$", (ROOT / "mkdocs.yml").read_text(), re.M)
    assert repo_url is not None
    owner_and_name = repo_url.group(1).removeprefix("https://github.com/").strip("/")
    path = COMMITTED.relative_to(ROOT).as_posix()
    expected = f"https://raw.githubusercontent.com/{owner_and_name}/HEAD/{path}"
    assert json_schema()["$id"] == expected
    assert json.loads(COMMITTED.read_text())["$id"] == expected


def test_the_docs_name_the_schema_by_its_id_in_modelines_and_associations() -> None:
    """What a user copies from the documentation into their own repository: every modeline
    names the `$id`; the VS Code association and the catalog entry parse, name it, and match
    the config directory of Getting started (groups/app.yaml)."""
    import fnmatch
    import re

    schema_id = json_schema()["$id"]
    modelines = {
        page.relative_to(DOCS).as_posix(): re.findall(
            r"# yaml-language-server: \$schema=(\S+)", page.read_text()
        )
        for page in DOCS.rglob("*.md")
    }
    assert modelines["configuration.md"] and modelines["getting-started.md"]
    assert {url for urls in modelines.values() for url in urls} == {schema_id}
    blocks = re.findall(r"```json\n(.*?)```", (DOCS / "configuration.md").read_text(), re.S)
    documents = [json.loads(block) for block in blocks]
    (settings,) = [doc for doc in documents if "yaml.schemas" in doc]
    (catalog,) = [doc for doc in documents if "schemas" in doc]
    ((url, globs),) = settings["yaml.schemas"].items()
    (entry,) = catalog["schemas"]
    assert url == entry["url"] == schema_id
    assert globs == entry["fileMatch"]
    assert any(fnmatch.fnmatch("groups/app.yaml", glob) for glob in globs)
    assert "# groups/app.yaml" in (DOCS / "getting-started.md").read_text()


# Keywords whose meaning draft-07 (what the YAML language server evaluates) and draft 2020-12
# share; `$defs` is only a place `$ref` points into.
DRAFT_07_AND_2020_12 = {
    "$schema", "$id", "$ref", "$defs", "title", "description", "default", "examples", "type",
    "enum", "const", "properties", "additionalProperties", "propertyNames", "required",
    "maxProperties", "items", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern",
    "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf", "allOf",
    "not", "if", "then", "else",
}  # fmt: skip


def test_the_schema_reads_the_same_under_draft_07() -> None:
    used: set[str] = set()

    def walk(node: Any, names: bool = False) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if names:  # property names or definitions -> schemas
                for sub in node.values():
                    walk(sub)
                return
            used.update(node)
            # draft-07 ignores what stands beside a $ref: only annotations may
            assert "$ref" not in node or set(node) <= {"$ref", "description", "title", "default"}
            for key, value in node.items():
                if key not in ("enum", "const", "default", "examples", "required"):
                    walk(value, names=key in ("properties", "$defs"))

    walk(json_schema())
    assert used <= DRAFT_07_AND_2020_12, used - DRAFT_07_AND_2020_12
