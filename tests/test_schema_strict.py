"""The committed JSON Schema as editors and validators outside this repository read it: valid
draft 2020-12, strict (ajv's strict mode, and the same rules checked here in Python), and
agreeing with the tool: every example validates, and values the tool refuses are refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from reconciler.config import ConfigError, load_config, render_sources
from reconciler.config.schema import DEFAULT_PATH, SCHEMA_ID, TYPE_OF_KEYWORD
from reconciler.state import LOCK_GROUP_ID

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads(DEFAULT_PATH.read_text())
EXAMPLES = ROOT / "examples"


def _example_documents() -> list[tuple[str, Any]]:
    """Every example config file (templates rendered with their first values file) as data."""
    import yaml_rs

    def as_json(data: Any) -> Any:  # as editors see YAML: a timestamp is a string
        return json.loads(json.dumps(data, default=lambda v: v.isoformat()))

    docs = []
    for app_dir in sorted({p.parent for p in EXAMPLES.rglob("*.yaml*") if "values" not in p.parts}):
        if app_dir.name in ("ci", "kubernetes"):  # pipelines and manifests, not configs
            continue
        values = sorted((app_dir / "values").glob("*.yaml"))[:1]
        texts = render_sources(app_dir, None, [str(v) for v in values])
        for path, text in texts.items():
            docs.append((str(Path(path).relative_to(ROOT)), as_json(yaml_rs.loads(text))))
    return docs


EXAMPLE_DOCS = _example_documents()


def _config(**app: Any) -> dict[str, Any]:
    return {"app": {"sdkappid": 1400000000, **app}, "groups": []}


def _group(**group: Any) -> dict[str, Any]:
    return {"app": {"sdkappid": 1400000000}, "groups": [group]}


# Values the tool refuses; the schema must refuse them too.
REFUSED = {
    "region typo": _config(endpoint="singapur"),
    "plain http off loopback": _config(endpoint="http://example.com"),
    "URL with a query": _config(endpoint="https://example.com/?a=1"),
    "Community ID without @TGS#_": _group(id="guild", type="Community", name="g"),
    "@TGS#_ ID on a Public group": _group(id="@TGS#_abc", type="Public", name="g"),
    "the lock group": _group(id=LOCK_GROUP_ID, type="Work", name="g"),
    "name card too long": _group(
        id="g", type="Public", name="g", members=[{"account": "a", "name_card": "x" * 51}]
    ),
    "unknown role": _group(id="g", type="Public", name="g", members=[{"account": "a", "role": 1}]),
    "max_members above the type's ceiling": _group(id="g", type="Work", max_members=6001),
}

ACCEPTED = {
    "region": _config(endpoint="tokyo"),
    "local emulator server": _config(endpoint="http://127.0.0.1:8787"),
    "https URL": _config(endpoint="https://adminapisgp.im.qcloud.com"),
    "adopted server-assigned ID": _group(id="@TGS#abc", type="Public", name="g"),
    "Community ID": _group(id="@TGS#_guild", type="Community", name="g"),
    "nulls where the tool takes them": _group(
        id="g", type="Public", name=None, members=[{"account": "a", "muted_until": None}]
    ),
}


def _strictness_problems(node: Any, where: str = "#") -> list[str]:
    """What ajv's strict mode refuses or validators explain badly: an optional value written
    as anyOf [X, null], and a type-specific keyword without its type in the same schema."""
    problems: list[str] = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            problems += _strictness_problems(item, f"{where}/{i}")
        return problems
    if not isinstance(node, dict):
        return problems
    if {"type": "null"} in node.get("anyOf", []):
        problems.append(f"{where}: anyOf with null (use type: [..., 'null'])")
    if "$ref" not in node:
        kinds = node.get("type", [])
        kinds = set(kinds if isinstance(kinds, list) else [kinds])
        if "integer" in kinds:
            kinds.add("number")
        for keyword, kind in TYPE_OF_KEYWORD.items():
            if keyword in node and kind not in kinds:
                problems.append(f"{where}: {keyword} without type {kind}")
    for key, value in node.items():
        if key in ("properties", "$defs"):
            for name, sub in value.items():
                problems += _strictness_problems(sub, f"{where}/{key}/{name}")
        elif key not in ("enum", "const", "default", "required", "examples"):
            problems += _strictness_problems(value, f"{where}/{key}")
    return problems


def test_the_schema_is_valid_draft_2020_12_with_a_stable_id():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == SCHEMA_ID


def test_the_schema_is_strict():
    assert _strictness_problems(SCHEMA) == []


def test_the_strictness_check_finds_what_ajv_refuses():
    loose = {"properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}], "maxLength": 2}}}
    assert len(_strictness_problems({"type": "object", **loose})) == 2


VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())


@pytest.mark.parametrize(("name", "doc"), EXAMPLE_DOCS, ids=[n for n, _ in EXAMPLE_DOCS])
def test_every_example_validates(name, doc):
    assert [e.message for e in VALIDATOR.iter_errors(doc)] == []


def _tool_accepts(doc: dict[str, Any], tmp_path: Path) -> bool:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    try:
        load_config(path)
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("name", REFUSED)
def test_the_schema_refuses_what_the_tool_refuses(name, tmp_path):
    assert not _tool_accepts(REFUSED[name], tmp_path)
    assert not VALIDATOR.is_valid(REFUSED[name])


@pytest.mark.parametrize("name", ACCEPTED)
def test_the_schema_accepts_what_the_tool_accepts(name, tmp_path):
    assert _tool_accepts(ACCEPTED[name], tmp_path)
    assert VALIDATOR.is_valid(ACCEPTED[name])


AJV_CHECK = """
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats");
const fs = require("fs");
const [schemaPath, casesPath] = process.argv.slice(2);
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath)));
const cases = JSON.parse(fs.readFileSync(casesPath));
console.log(JSON.stringify(Object.fromEntries(
  Object.entries(cases).map(([name, doc]) => [name, validate(doc)]))));
"""


@pytest.fixture(scope="session")
def ajv(tmp_path_factory) -> Path:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("npm and node are not installed")
    where = tmp_path_factory.mktemp("ajv")
    subprocess.run(
        [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(where)]
        + ["ajv@8", "ajv-formats@3"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (where / "check.js").write_text(AJV_CHECK)
    return where


def test_ajv_strict_mode_compiles_the_schema_and_agrees(ajv, tmp_path):
    cases = {f"example {n}": d for n, d in EXAMPLE_DOCS}
    cases |= {f"refused {n}": d for n, d in REFUSED.items()}
    cases |= {f"accepted {n}": d for n, d in ACCEPTED.items()}
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    done = subprocess.run(
        ["node", str(ajv / "check.js"), str(DEFAULT_PATH), str(tmp_path / "cases.json")],
        cwd=ajv,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr  # strict mode throws on any loose keyword
    verdicts = json.loads(done.stdout)
    assert verdicts == {name: not name.startswith("refused") for name in cases}
