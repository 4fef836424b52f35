"""Executing operations (reconciler.apply): order inside a group, failures, pending marks."""

from __future__ import annotations

import json
from typing import Any

import httpx

from reconciler.apply import execute
from reconciler.plan import Operation
from reconciler.state import GroupType
from reconciler.tim.calls import (
    ChangeMarks,
    CreateGroup,
    ImportAccounts,
    ImportMembers,
    Joiner,
    ModifyGroup,
    RemoveMembers,
)
from reconciler.tim.client import TimClient

OK = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}


def client(answer) -> tuple[TimClient, list[str]]:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        command = request.url.path.rsplit("/", 1)[-1]
        sent.append(f"{body.get('GroupId', '')}:{command}")
        return httpx.Response(200, json=answer(command, body))

    tim = TimClient(
        sdkappid=1400000001,
        admin="administrator",
        secret_key="k",
        base_url="https://tim.example.com",
        transport=httpx.MockTransport(handler),
        max_attempts=1,
    )
    return tim, sent


def fail(code: int) -> dict[str, Any]:
    return {"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": "no"}


async def test_a_failed_step_stops_its_group_and_every_other_group_goes_on() -> None:
    def answer(command, body):
        return fail(10004) if body.get("GroupId") == "bad" and command == "create_group" else OK

    ops = [
        Operation("bad", "create", CreateGroup("bad", GroupType.Public, "B")),
        Operation("bad", "import_members", ImportMembers("bad", [Joiner("a")])),
        Operation("good", "base", ModifyGroup("good", name="G")),
        Operation("good", "remove_members", RemoveMembers("good", ["x"])),
    ]
    seen: list[tuple[str, bool]] = []
    tim, sent = client(answer)
    async with tim:
        result = await execute(tim, ops, progress=lambda op, ok: seen.append((op.api, ok)))
    assert [(f.group, f.api) for f in result.failures] == [("bad", "create_group")]
    assert "10004" in result.failures[0].message
    assert result.skipped == 1 and result.calls_done == 3 and not result.ok
    assert sent.index("good:modify_group_base_info") < sent.index("good:delete_group_member")
    assert "bad:import_group_member" not in sent
    assert ("create_group", False) in seen and len(seen) == 3


async def test_account_imports_go_first_and_their_failure_stops_everything() -> None:
    tim, sent = client(
        lambda command, body: fail(70402) if command == "multiaccount_import" else OK
    )
    ops = [
        Operation("g", "base", ModifyGroup("g", name="G")),
        Operation("", "import_accounts", ImportAccounts(["new"])),
    ]
    async with tim:
        result = await execute(tim, ops)
    assert sent == [":multiaccount_import"] and result.skipped == 1


async def test_refused_members_and_offline_marks_are_reported_not_raised() -> None:
    def answer(command, body):
        if command == "import_group_member":
            return {**OK, "MemberList": [{"Member_Account": "a", "Result": 0}]}
        return {**OK, "MemberList": []}  # nobody was online for the marks

    ops = [
        Operation("g", "import_members", ImportMembers("g", [Joiner("a")])),
        Operation("live", "set_marks", ChangeMarks("live", {"h": [1000]})),
    ]
    tim, _ = client(answer)
    async with tim:
        result = await execute(tim, ops)
    assert result.failures == []
    assert [f.message for f in result.item_failures] == [
        "member a was refused by the API (Result 0)"
    ]
    assert result.pending_marks == ["live: h went offline; marks [1000] not set"]
