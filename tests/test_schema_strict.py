"""The committed JSON Schema as editors and validators outside this repository read it: valid
draft 2020-12, strict (ajv's strict mode, and the same rules checked here in Python), and
agreeing with the tool: every example validates, and values the tool refuses are refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import cli_in_process
from jsonschema import Draft202012Validator, FormatChecker

from reconciler.config import render_sources
from reconciler.config.schema import DEFAULT_PATH, SCHEMA_ID, TYPE_OF_KEYWORD
from reconciler.state import LOCK_GROUP_ID

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
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


def _room(**keys: Any) -> dict[str, Any]:
    return _group(id="live", type="AVChatRoom", name="Live", **keys)


def _community(**keys: Any) -> dict[str, Any]:
    return _group(id="@TGS#_guild", type="Community", name="Guild", **keys)


def _topics(**keys: Any) -> dict[str, Any]:
    return _community(support_topic=True, **keys)


def _member(gtype: str, **member: Any) -> dict[str, Any]:
    return _group(id="g", type=gtype, name="g", members=[{"account": "a", **member}])


ACCEPTED, REFUSED = True, False
# Inputs on which the schema and `reconciler validate` must agree: name -> (document, verdict).
# The first six are the disagreements issue 29 found; the rest, the same kinds found since.
CASES: dict[str, tuple[dict[str, Any], bool]] = {
    "max_members null": (_group(id="g", type="Public", max_members=None), ACCEPTED),
    "mark 999": (_room(marks={"999": ["a"]}), REFUSED),
    "members on an AVChatRoom": (_room(members=["a"]), REFUSED),
    "topics on a Public group": (
        _group(id="g", type="Public", topics=[{"id": "t", "name": "T"}]),
        REFUSED,
    ),
    "apply_join on a Community": (_community(apply_join="FreeAccess"), REFUSED),
    "default_permission without enable_permission": (_topics(default_permission=1), REFUSED),
    # every key only some group types take, on one that does not
    "max_members on an AVChatRoom": (_room(max_members=100), REFUSED),
    "invite_join on an AVChatRoom": (_room(invite_join="FreeAccess"), REFUSED),
    "marks on a Public group": (_group(id="g", type="Public", marks={"1000": ["a"]}), REFUSED),
    "admins on a Work group": (_group(id="g", type="Work", admins=["a"]), REFUSED),
    "muted on a Meeting group": (_group(id="g", type="Meeting", muted={"a": 0}), REFUSED),
    "banned on a Community": (_community(banned={"a": 0}), REFUSED),
    "support_topic on a Public group": (
        _group(id="g", type="Public", support_topic=True),
        REFUSED,
    ),
    "enable_permission on a Work group": (
        _group(id="g", type="Work", enable_permission=True),
        REFUSED,
    ),
    "permission_groups on an AVChatRoom": (_room(permission_groups=[{"id": "p"}]), REFUSED),
    "topics on a Community without support_topic": (
        _community(topics=[{"id": "t", "name": "T"}]),
        REFUSED,
    ),
    "enable_permission with support_topic false": (
        _community(support_topic=False, enable_permission=True),
        REFUSED,
    ),
    "default_permission with permission groups on": (
        _topics(enable_permission=True, default_permission=1),
        ACCEPTED,
    ),
    "the type-only keys null on other types": (
        _room(members=None, invite_join=None, max_members=None, topics=None),
        ACCEPTED,
    ),
    "apply_join null on a Community": (_community(apply_join=None), ACCEPTED),
    # marks: 500, 600, or 1000 to 2^63-1, as numbers with leading zeros too
    "the special marks and the bounds": (
        _room(marks={"500": ["a"], "600": ["b"], "01000": ["c"], str(2**63 - 1): ["d"]}),
        ACCEPTED,
    ),
    "mark 2^63": (_room(marks={str(2**63): ["a"]}), REFUSED),
    "mark 501": (_room(marks={"501": ["a"]}), REFUSED),
    "an account twice under a mark": (_room(marks={"1000": ["a", "a"]}), REFUSED),
    "an admin twice": (_room(admins=["a", "a"]), REFUSED),
    "a muted account that is not printable ASCII": (_room(muted={"é": 0}), REFUSED),
    "a banned account over 32 bytes": (_room(banned={"a" * 33: 0}), REFUSED),
    # IDs
    "Community ID without @TGS#_": (_group(id="guild", type="Community", name="g"), REFUSED),
    "Community ID without a custom part": (_group(id="@TGS#_", type="Community"), REFUSED),
    "@TGS#_ ID on a Public group": (_group(id="@TGS#_abc", type="Public", name="g"), REFUSED),
    "the lock group": (_group(id=LOCK_GROUP_ID, type="Work", name="g"), REFUSED),
    "adopted server-assigned ID": (_group(id="@TGS#abc", type="Public", name="g"), ACCEPTED),
    "Community ID": (_group(id="@TGS#_guild", type="Community", name="g"), ACCEPTED),
    # the other rules between a group's keys
    "a protected group absent": (
        _group(id="g", type="Public", protect=True, state="absent"),
        REFUSED,
    ),
    "an unprotected group absent": (
        _group(id="g", type="Public", protect=False, state="absent"),
        ACCEPTED,
    ),
    "an empty custom key": (_group(id="g", type="Public", custom={"": "x"}), REFUSED),
    "an empty custom key on a member": (_member("Public", custom={"": "x"}), REFUSED),
    "max_members above the type's ceiling": (
        _group(id="g", type="Work", max_members=6001),
        REFUSED,
    ),
    "max_members at the Community ceiling": (_community(max_members=100000), ACCEPTED),
    # muted_until: RFC 3339 date-times in the Unix seconds' years; not in Work groups
    "a Work member muted": (_member("Work", muted_until="2026-12-01T00:00:00Z"), REFUSED),
    "a Work member not muted": (_member("Private", muted_until=0), ACCEPTED),
    "a Work member muted until null": (_member("Work", muted_until=None), ACCEPTED),
    "a Public member muted, lower-case t and z": (
        _member("Public", muted_until="2026-12-01t00:00:00z"),
        ACCEPTED,
    ),
    "a date-time without seconds": (_member("Public", muted_until="2026-12-01T00:00Z"), REFUSED),
    "a date-time with a space": (_member("Public", muted_until="2026-12-01 00:00:00Z"), REFUSED),
    "a leap second": (_member("Public", muted_until="2026-12-31T23:59:60Z"), REFUSED),
    "a date-time in 1960": (_member("Public", muted_until="1960-01-01T00:00:00Z"), REFUSED),
    "a date-time in 2200": (_member("Public", muted_until="2200-01-01T00:00:00Z"), REFUSED),
    "February 30": (_member("Public", muted_until="2026-02-30T00:00:00Z"), REFUSED),
    "Unix seconds past 2106": (_room(banned={"a": 2**32}), REFUSED),
    # topics and permission groups
    "a topic without a name": (_topics(topics=[{"id": "t", "name": ""}]), REFUSED),
    "a topic destroyed, its name empty": (
        _topics(topics=[{"id": "t", "name": "", "state": "absent"}]),
        ACCEPTED,
    ),
    "a topic ID with @TGS#_": (_topics(topics=[{"id": "a@TGS#_b"}]), REFUSED),
    "a topic ID of 49 bytes": (_topics(topics=[{"id": "t" * 49}]), REFUSED),
    "a full topic ID": (_topics(topics=[{"id": "@TGS#_guild@TOPIC#_t", "name": "T"}]), ACCEPTED),
    "a permission group ID of the server's": (
        _topics(enable_permission=True, permission_groups=[{"id": "@PMG#abc"}]),
        REFUSED,
    ),
    "a full permission group ID": (
        _topics(enable_permission=True, permission_groups=[{"id": "@PMG#_p", "name": "P"}]),
        ACCEPTED,
    ),
    "a permission group ID of 49 bytes": (
        _topics(enable_permission=True, permission_groups=[{"id": "p" * 49}]),
        REFUSED,
    ),
    "a permission group deleted with members": (
        _topics(
            enable_permission=True,
            permission_groups=[{"id": "p", "state": "absent", "members": ["a"]}],
        ),
        REFUSED,
    ),
    "a permission group member twice": (
        _topics(enable_permission=True, permission_groups=[{"id": "p", "members": ["a", "a"]}]),
        REFUSED,
    ),
    "a topic permission on another group's topic": (
        _topics(
            enable_permission=True,
            permission_groups=[{"id": "p", "topic_permissions": {"x@TOPIC#_t": 1}}],
        ),
        REFUSED,
    ),
    # the app section
    "region typo": (_config(endpoint="singapur"), REFUSED),
    "region in capitals": (_config(endpoint="Tokyo"), REFUSED),
    "local with a space": (_config(endpoint="local "), REFUSED),
    "plain http off loopback": (_config(endpoint="http://example.com"), REFUSED),
    "http on 127.999.0.1": (_config(endpoint="http://127.999.0.1"), REFUSED),
    "URL with a query": (_config(endpoint="https://example.com/?a=1"), REFUSED),
    "URL with credentials": (_config(endpoint="https://u:p@example.com"), REFUSED),
    "port 65536": (_config(endpoint="https://example.com:65536"), REFUSED),
    "scheme in capitals": (_config(endpoint="HTTPS://example.com"), REFUSED),
    "region": (_config(endpoint="tokyo"), ACCEPTED),
    "local emulator server": (_config(endpoint="http://127.0.0.1:8787"), ACCEPTED),
    "https URL with a port and path": (
        _config(endpoint="https://adminapisgp.im.qcloud.com:443/v4/"),
        ACCEPTED,
    ),
    "IPv6 loopback": (_config(endpoint="http://[::1]:8787"), ACCEPTED),
    "secret_key_env not a name": (_config(secret_key_env="my-key"), REFUSED),
    "secret_key_env that looks like a secret": (_config(secret_key_env="a" * 40), REFUSED),
    "a long environment variable name": (_config(callback_token_env="A_" * 20), ACCEPTED),
    "required_version not a specifier": (_config(required_version="latest"), REFUSED),
    "required_version": (_config(required_version=">=0"), ACCEPTED),
    "rate_limit 0": (_config(rate_limit=0), REFUSED),
    "batch size of an unknown API": (_config(limits={"batch": {"send_msg": 10}}), REFUSED),
    # members
    "name card too long": (_member("Public", name_card="x" * 51), REFUSED),
    "unknown role": (_member("Public", role=1), REFUSED),
    "nulls where the tool takes them": (
        _group(id="g", type="Public", name=None, members=[{"account": "a", "muted_until": None}]),
        ACCEPTED,
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


def _write(doc: dict[str, Any] | list[dict[str, Any]], where: Path) -> Path:
    """A config of one file (a document) or a directory (a list of documents); JSON is YAML."""
    if isinstance(doc, dict):
        where.write_text(json.dumps(doc))
        return where
    where.mkdir()
    for number, part in enumerate(doc):
        (where / f"c{number}.yaml").write_text(json.dumps(part))
    return where


def _validate(doc: dict[str, Any] | list[dict[str, Any]], where: Path) -> str | None:
    """`reconciler validate`'s verdict: None (exit 0), or its errors (exit 1; not a crash)."""
    run = cli_in_process("validate", str(_write(doc, where)))
    assert run.code == 0 or (run.code == 1 and "unexpected" not in run.err), run
    return None if run.code == 0 else run.err


def _tool_accepts(doc: dict[str, Any] | list[dict[str, Any]], where: Path) -> bool:
    return _validate(doc, where) is None


def _parts(doc: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return doc if isinstance(doc, list) else [doc]


def check_jsonschema(docs: dict[str, Any], where: Path) -> dict[str, bool]:
    """name -> whether check-jsonschema accepts the document (all of a list's) with the committed
    schema, as a user's CI runs it: ECMA-262 regexes, formats checked. One run for all."""
    files: dict[str, list[Path]] = {}
    for number, (name, doc) in enumerate(docs.items()):
        files[name] = [where / f"case{number}-{part}.json" for part in range(len(_parts(doc)))]
        for path, part in zip(files[name], _parts(doc), strict=True):
            path.write_text(json.dumps(part))
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--schemafile", str(DEFAULT_PATH), "-o", "json"]
        + [str(path) for paths in files.values() for path in paths],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    assert not report.get("parse_errors"), report
    failed = {error["filename"] for error in report["errors"]}
    return {name: not failed & {str(p) for p in paths} for name, paths in files.items()}


@pytest.fixture(scope="module")
def schema_verdicts(tmp_path_factory) -> dict[str, bool]:
    return check_jsonschema({n: d for n, (d, _) in CASES.items()}, tmp_path_factory.mktemp("s"))


@pytest.mark.parametrize("name", CASES)
def test_the_schema_and_validate_agree(name, schema_verdicts, tmp_path):
    """For every case, check-jsonschema with the committed schema and `reconciler validate` on
    the same file give the verdict the case expects."""
    doc, verdict = CASES[name]
    assert (schema_verdicts[name], _tool_accepts(doc, tmp_path / "c.yaml")) == (verdict, verdict)


CJK = "群"  # 3 bytes in UTF-8: a text within the schema's characters and over the bytes
LONG_COMMUNITY = "@TGS#_" + "g" * 42  # a 48-byte Community ID


def _bytes_over(where: tuple[str, str], limit: int, doc: Any) -> tuple[tuple[str, str], str, Any]:
    return where, f"{limit:,} bytes", doc(CJK * (limit // 3 + 1))


# Rules JSON Schema cannot state: UTF-8 byte lengths; what spans files; what compares one value
# with another (an account with the owner, a topic ID with the group's); a number's spelling.
# Each: the property whose description states it (("(root)", "") for the file's own), words of
# that description, and a config the schema accepts and `reconciler validate` refuses.
BEYOND_THE_SCHEMA: dict[str, tuple[tuple[str, str], str, Any]] = {
    "group name": _bytes_over(
        ("GroupSpec", "name"), 30, lambda t: _group(id="g", type="Work", name=t)
    ),
    "introduction": _bytes_over(
        ("GroupSpec", "introduction"), 240, lambda t: _group(id="g", type="Work", introduction=t)
    ),
    "notification": _bytes_over(
        ("GroupSpec", "notification"), 300, lambda t: _group(id="g", type="Work", notification=t)
    ),
    "face_url": _bytes_over(
        ("GroupSpec", "face_url"), 100, lambda t: _group(id="g", type="Work", face_url=t)
    ),
    "name_card": _bytes_over(
        ("MemberSpec", "name_card"), 50, lambda t: _member("Public", name_card=t)
    ),
    "topic name": _bytes_over(
        ("TopicSpec", "name"), 30, lambda t: _topics(topics=[{"id": "t", "name": t}])
    ),
    "topic introduction": _bytes_over(
        ("TopicSpec", "introduction"),
        240,
        lambda t: _topics(topics=[{"id": "t", "introduction": t}]),
    ),
    "topic notification": _bytes_over(
        ("TopicSpec", "notification"),
        300,
        lambda t: _topics(topics=[{"id": "t", "notification": t}]),
    ),
    "topic face_url": _bytes_over(
        ("TopicSpec", "face_url"), 100, lambda t: _topics(topics=[{"id": "t", "face_url": t}])
    ),
    "topic custom_string": _bytes_over(
        ("TopicSpec", "custom_string"),
        3000,
        lambda t: _topics(topics=[{"id": "t", "custom_string": t}]),
    ),
    "permission group name": _bytes_over(
        ("PermissionGroupSpec", "name"),
        150,
        lambda t: _topics(enable_permission=True, permission_groups=[{"id": "p", "name": t}]),
    ),
    "permission group custom_string": _bytes_over(
        ("PermissionGroupSpec", "custom_string"),
        3000,
        lambda t: _topics(
            enable_permission=True, permission_groups=[{"id": "p", "custom_string": t}]
        ),
    ),
    "group IDs unique across the files": (
        ("(root)", "groups"),
        "IDs unique across all files",
        [_group(id="g", type="Work"), {"groups": [{"id": "g", "type": "Public"}]}],
    ),
    "app in one file": (("(root)", "app"), "in one file of the config", {"groups": []}),
    "app once": (("(root)", "app"), "once across all files", [_config(), _config()]),
    "policy once": (
        ("(root)", "policy"),
        "once across all files",
        [{**_config(), "policy": {}}, {"policy": {}}],
    ),
    "a member once": (
        ("GroupSpec", "members"),
        "each account once",
        _group(id="g", type="Work", members=["a", {"account": "a"}]),
    ),
    "role Owner on the owner's entry only": (
        ("MemberSpec", "role"),
        "only on the owner's own entry",
        _member("Public", role="Owner"),
    ),
    "no other role on the owner's entry": (
        ("MemberSpec", "role"),
        "takes no other role",
        _group(id="g", type="Work", owner="a", members=[{"account": "a", "role": "Admin"}]),
    ),
    "max_members not below the members": (
        ("GroupSpec", "max_members"),
        "not less than the declared members (+ the owner)",
        _group(id="g", type="Work", owner="o", max_members=2, members=["a", "b"]),
    ),
    "the owner not banned": (
        ("GroupSpec", "banned"),
        "neither the group's owner nor app.admin",
        _room(owner="o", banned={"o": "2026-12-01T00:00:00Z"}),
    ),
    "app.admin not banned": (
        ("GroupSpec", "banned"),
        "neither the group's owner nor app.admin",
        _room(banned={"administrator": "2026-12-01T00:00:00Z"}),
    ),
    "a mark once": (
        ("GroupSpec", "marks"),
        "1000 and 01000 are one mark",
        _room(marks={"1000": ["a"], "01000": ["b"]}),
    ),
    "permission group members in the community": (
        ("PermissionGroupSpec", "members"),
        "members of the community",
        _topics(
            enable_permission=True, members=["a"], permission_groups=[{"id": "p", "members": ["b"]}]
        ),
    ),
    "no permission in a topic destroyed": (
        ("PermissionGroupSpec", "topic_permissions"),
        "not one declared `state: absent`",
        _topics(
            enable_permission=True,
            topics=[{"id": "t", "state": "absent"}],
            permission_groups=[{"id": "p", "topic_permissions": {"t": 1}}],
        ),
    ),
    "a topic permission once": (
        ("PermissionGroupSpec", "topic_permissions"),
        "each topic once",
        _topics(
            enable_permission=True,
            permission_groups=[
                {"id": "p", "topic_permissions": {"t": 1, "@TGS#_guild@TOPIC#_t": 2}}
            ],
        ),
    ),
    "a topic once": (
        ("TopicSpec", "id"),
        "Each topic once",
        _topics(topics=[{"id": "t"}, {"id": "@TGS#_guild@TOPIC#_t"}]),
    ),
    "a full topic ID begins with its group's": (
        ("TopicSpec", "id"),
        "beginning with this group's ID",
        _topics(topics=[{"id": "@TGS#_other@TOPIC#_t"}]),
    ),
    "a full topic ID of at most 96 bytes": (
        ("TopicSpec", "id"),
        "the full ID at most 96 bytes",
        _group(id=LONG_COMMUNITY, type="Community", support_topic=True, topics=[{"id": "t" * 41}]),
    ),
    "a permission group once": (
        ("PermissionGroupSpec", "id"),
        "Each permission group once",
        _topics(enable_permission=True, permission_groups=[{"id": "p"}, {"id": "@PMG#_p"}]),
    ),
    "a date-time's instant from 1970": (
        ("MemberSpec", "muted_until"),
        "between 1970 and 2106",
        _member("Public", muted_until="1970-01-01T00:00:00+01:00"),
    ),
    "a Work member muted at the start of 1970": (
        ("MemberSpec", "muted_until"),
        "Not in Work groups",
        _member("Work", muted_until="1970-01-01T00:00:01Z"),
    ),
    "required_version in PEP 440's grammar": (
        ("AppConfig", "required_version"),
        "PEP 440 specifier",
        _config(required_version=">=1 or so"),
    ),
    "required_version admits this tool": (
        ("AppConfig", "required_version"),
        "refuses the config",
        _config(required_version="<0"),
    ),
    "a whole number without a decimal point": (
        ("(root)", ""),
        "without a decimal point",
        {"app": {"sdkappid": 1400000000.0}},
    ),
}


def _description(where: tuple[str, str]) -> str:
    owner, key = where
    node = SCHEMA if owner == "(root)" else SCHEMA["$defs"][owner]
    return node["properties"][key]["description"] if key else node["description"]


def test_each_rule_beyond_the_schema_is_in_a_description_and_only_the_tool_refuses(tmp_path):
    verdicts = check_jsonschema({n: d for n, (_, _, d) in BEYOND_THE_SCHEMA.items()}, tmp_path)
    for name, (where, words, doc) in BEYOND_THE_SCHEMA.items():
        assert words in _description(where), (name, where)
        assert verdicts[name], f"{name}: the schema refuses it now: move it to CASES"
        errors = _validate(doc, tmp_path / f"case{list(verdicts).index(name)}")
        assert errors is not None and "\n1 error(s) in the configuration." in errors, name


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
    cases |= {f"{'accepted' if v else 'refused'} {n}": d for n, (d, v) in CASES.items()}
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
