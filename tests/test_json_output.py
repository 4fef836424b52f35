"""JSON a pipeline can trust (issue 27): validate, plan, show and apply with --format json print
one JSON document on stdout, also on failure (the error document, same exit codes); the plan
view, the apply result and the error document match their schemas in schemas/; counts agree
with each group's action, and a destroy counts the members it removes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import Workspace

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def _valid(doc: dict[str, Any], name: str) -> dict[str, Any]:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)
    return doc


def _one_document(out: str) -> dict[str, Any]:
    return json.loads(out)  # raises on anything but exactly one document


def _consistent(view: dict[str, Any]) -> None:
    counts, changes = view["counts"], view["changes"]
    for action in ("create", "update", "destroy"):
        assert counts[f"groups_{action}"] == sum(c["action"] == action for c in changes)
    removed = sum(m["action"] == "remove" for c in changes for m in c["members"])
    removed += sum(c.get("members_before", 0) for c in changes)
    assert counts["members_remove"] == removed
    assert all((c["action"] == "none") == c["empty"] for c in changes)


def _club(n: int, gid: str = "club") -> dict[str, Any]:
    members = ["boss", *(f"m{i:02d}" for i in range(n))]
    return {"id": gid, "type": "Public", "name": gid, "owner": "boss", "members": members}


def test_plan_show_and_apply_documents_match_their_schemas(ws: Workspace) -> None:
    ws.write([_club(12), _club(2, "other")])
    ws.converge()
    room = {"id": "room", "type": "AVChatRoom", "name": "R", "owner": "boss"}
    room["marks"] = {1000: ["offline"]}  # only a mark waiting for its member to come online
    ws.write([{"id": "club", "type": "Public", "state": "absent"}, _club(3, "other"), room])
    run = ws.plan("--format", "json", "-o", "p.json")
    assert run.code == 0, run
    view = _valid(_one_document(run.out), "plan-view")
    _consistent(view)
    assert view["destructive"] is True
    assert view["counts"]["groups_destroy"] == 1 and view["counts"]["members_remove"] == 13
    assert next(c for c in view["changes"] if c["group"] == "club")["members_before"] == 13
    shown = ws.cli("show", "p.json", "--format", "json")
    assert shown.code == 0, shown
    saved = _valid(_one_document(shown.out), "plan-view")
    _consistent(saved)
    assert saved["counts"] == view["counts"] and saved["destructive"] is True
    run = ws.cli("apply", ".", "--plan", "p.json", "--allow-destroy", "--format", "json")
    assert run.code == 0, run
    result = _valid(_one_document(run.out), "apply-result")
    assert result["ok"] is True and result["failed"] == 0


def test_a_group_with_only_pending_marks_is_counted_as_nothing_to_do(ws: Workspace) -> None:
    room = {"id": "room", "type": "AVChatRoom", "name": "R", "owner": "boss"}
    ws.write([room])
    ws.converge()
    room["marks"] = {1000: ["offline"]}
    ws.write([room, _club(1)])
    run = ws.plan("--format", "json", "-o", "p.json")
    view = _valid(_one_document(run.out), "plan-view")
    pending = next(c for c in view["changes"] if c["group"] == "room")
    assert pending["action"] == "none" and view["counts"]["marks_pending"] == 1
    assert view["destructive"] is False
    _consistent(view)
    shown = ws.cli("show", "p.json", "--format", "json")
    _consistent(_valid(_one_document(shown.out), "plan-view"))


def _error(run, kind: str, code: int = 1) -> dict[str, Any]:
    assert run.code == code, run
    doc = _valid(_one_document(run.out), "error")["error"]
    assert doc["kind"] == kind, doc
    return doc


def test_a_missing_template_value_is_an_error_document(ws: Workspace) -> None:
    (ws.dir / "groups.yaml.j2").write_text(
        "app: {sdkappid: 1400000000}\ngroups:\n  - {id: g, type: Public, name: {{ title }}}\n"
    )
    for command in ("validate", "plan"):
        doc = _error(ws.cli(command, ".", "--format", "json"), "config")
        assert "title" in doc["message"] and doc["location"].startswith("groups.yaml.j2:3:")
        assert doc["issues"][0]["location"] == doc["location"]


def test_validate_json_lists_each_config(ws: Workspace) -> None:
    ws.write([_club(2)])
    run = ws.cli("validate", ".", "--format", "json")
    assert run.code == 0, run
    doc = _one_document(run.out)
    assert doc["valid"] is True and doc["configs"][0]["groups"] == 1


def test_a_stale_plan_and_a_broken_plan_file_are_error_documents(ws: Workspace) -> None:
    import asyncio

    from conftest import client_for, make_emulator

    from reconciler.tim.calls import ModifyGroup

    ws.write([_club(2)])
    ws.converge()
    ws.write([_club(2) | {"name": "Club"}])
    assert ws.plan("-o", "p.json").code == 0

    async def rename() -> None:  # someone renames the group in the console meanwhile
        async with client_for(make_emulator(ws.db)) as client:
            await client.perform(ModifyGroup("club", name="Console"))

    asyncio.run(rename())
    doc = _error(ws.cli("apply", "--plan", "p.json", "--format", "json"), "stale_plan")
    assert "club" in doc["message"]
    assert ws.live("club")["Name"] == "Console"
    (ws.dir / "broken.json").write_text("{")
    doc = _error(ws.cli("show", "broken.json", "--format", "json"), "plan_file")
    assert "broken.json" in doc["message"]


def test_a_refused_plan_prints_one_document_the_plan(ws: Workspace) -> None:
    ws.write([_club(12)])
    ws.converge()
    ws.write([_club(2)])  # 10 of 13 removed: over the 25% guard
    run = ws.plan("--format", "json")
    assert run.code == 3, run
    view = _valid(_one_document(run.out), "plan-view")
    assert view["refusals"] and view["destructive"] is True


def test_apply_refused_by_a_guard_is_an_error_document(ws: Workspace) -> None:
    ws.write([_club(12)])
    ws.converge()
    ws.write([_club(2)])
    _error(ws.apply("--format", "json"), "refused", code=3)


@pytest.mark.parametrize("args", [["--format", "json"], ["--format=json"]])
def test_a_usage_error_is_an_error_document_too(ws: Workspace, args: list[str]) -> None:
    ws.write([_club(2)])
    _error(ws.cli("plan", ".", "--group", "nope", *args), "usage")


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("example", "args"),
    [
        ("community", []),
        ("school", ["--values", "values/term1.yaml"]),
        ("roster", ["--values", "values/staging.yaml"]),
    ],
)
def test_the_examples_plans_and_applies_match_the_schemas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, example: str, args: list[str]
) -> None:
    from conftest import cli_in_process

    monkeypatch.delenv("TIM_SECRET_KEY", raising=False)
    work = tmp_path / example
    shutil.copytree(EXAMPLES / example, work)
    run = cli_in_process("plan", ".", *args, "--format", "json", "-o", "p.json", cwd=work)
    assert run.code == 0, run
    _consistent(_valid(_one_document(run.out), "plan-view"))
    run = cli_in_process("show", "p.json", "--format", "json", cwd=work)
    _consistent(_valid(_one_document(run.out), "plan-view"))
    run = cli_in_process("apply", ".", "--plan", "p.json", "--format", "json", cwd=work)
    assert run.code == 0, run
    _valid(_one_document(run.out), "apply-result")
