"""A plan's typed requests on the wire (reconciler.tim.calls): the bodies sent, the answers read."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reconciler.state import GroupType
from reconciler.tim.calls import (
    ChangeMarks,
    ChangeOwner,
    CreateGroup,
    DestroyGroup,
    ImportAccounts,
    ImportMembers,
    Joiner,
    ModifyGroup,
    ModifyMember,
    RemoveMembers,
)
from reconciler.tim.client import TimClient
from reconciler.tim.errors import TimApiError

OK = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}


class Recorder:
    def __init__(self, answers: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self.answers = answers or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        command = request.url.path.rsplit("/", 1)[-1]
        self.bodies.append((command, json.loads(request.content)))
        queue = self.answers.get(command)
        return httpx.Response(200, json=queue.pop(0) if queue else OK)


def client(recorder: Recorder, now: float = 1_800_000_000.0) -> TimClient:
    return TimClient(
        sdkappid=1400000001,
        admin="administrator",
        secret_key="k",
        base_url="https://tim.example.com",
        transport=httpx.MockTransport(recorder),
        max_attempts=1,
        clock=lambda: now,
    )


async def send(request, answers=None) -> tuple[Any, list]:
    recorder = Recorder(answers)
    async with client(recorder) as c:
        outcome = await c.perform(request)
    return outcome, recorder.bodies


async def test_create_group_carries_profile_members_roles_and_set_custom_keys() -> None:
    request = CreateGroup(
        "class-7a",
        GroupType.ChatRoom,
        "Class 7A",
        owner="t1",
        notification="hi",
        apply_join="FreeAccess",
        max_members=500,
        custom={"k": "v"},
        members=[Joiner("s1", admin=True, custom={"c": "d"}), Joiner("s2")],
    )
    _, bodies = await send(request)
    assert bodies == [
        (
            "create_group",
            {
                "Type": "ChatRoom",
                "GroupId": "class-7a",
                "Owner_Account": "t1",
                "Name": "Class 7A",
                "Notification": "hi",
                "ApplyJoinOption": "FreeAccess",
                "MaxMemberCount": 500,
                "AppDefinedData": [{"Key": "k", "Value": "v"}],
                "MemberList": [
                    {
                        "Member_Account": "s1",
                        "Role": "Admin",
                        "AppMemberDefinedData": [{"Key": "c", "Value": "d"}],
                    },
                    {"Member_Account": "s2"},
                ],
            },
        )
    ]


async def test_modify_group_sends_only_what_changes_and_empty_values_delete_keys() -> None:
    request = ModifyGroup("g", name="N", mute_all=False, max_members=10, custom={"a": None})
    _, bodies = await send(request)
    assert bodies == [
        (
            "modify_group_base_info",
            {
                "GroupId": "g",
                "Name": "N",
                "MuteAllMember": "Off",
                "AppDefinedData": [{"Key": "a", "Value": ""}],
                "MaxMemberNum": 10,
            },
        )
    ]


async def test_import_reports_the_members_the_api_refused() -> None:
    answer = {
        **OK,
        "MemberList": [
            {"Member_Account": "a", "Result": 1},
            {"Member_Account": "b", "Result": 0},
            {"Member_Account": "c", "Result": 2},  # already a member: success
        ],
    }
    members = [Joiner("a", admin=True), Joiner("b", join_time=5, unread=2), Joiner("c")]
    outcome, bodies = await send(ImportMembers("g", members), {"import_group_member": [answer]})
    assert outcome.refused == ["b"]
    assert bodies[0][1]["MemberList"] == [
        {"Member_Account": "a", "Role": "Admin"},
        {"Member_Account": "b", "JoinTime": 5, "UnreadMsgNum": 2},
        {"Member_Account": "c"},
    ]


async def test_a_mute_deadline_becomes_mute_time_relative_to_the_moment_of_sending() -> None:
    request = ModifyMember("g", "a", name_card="A", muted_until=1_800_000_060, custom={"k": "v"})
    _, bodies = await send(request)
    assert bodies[0][1] == {
        "GroupId": "g",
        "Member_Account": "a",
        "NameCard": "A",
        "AppMemberDefinedData": [{"Key": "k", "Value": "v"}],
        "MuteTime": 60,
    }
    _, bodies = await send(ModifyMember("g", "a", muted_until=0))
    assert bodies[0][1]["MuteTime"] == 0
    _, bodies = await send(ModifyMember("g", "a", muted_until=1_700_000_000))  # passed
    assert bodies[0][1]["MuteTime"] == 0


async def test_marks_of_members_who_went_offline_are_reported_not_failed() -> None:
    answer = {**OK, "CommandType": 2, "MemberList": [{"Member_Account": "h", "Marks": [1000]}]}
    request = ChangeMarks("live", {"h": [1000], "gone": [1001]}, delete=True)
    outcome, bodies = await send(request, {"modify_user_info": [answer]})
    assert outcome.offline == ["gone"]
    assert bodies[0] == (
        "modify_user_info",
        {
            "GroupId": "live",
            "CommandType": 2,
            "MemberList": [
                {"Member_Account": "h", "Marks": [1000]},
                {"Member_Account": "gone", "Marks": [1001]},
            ],
        },
    )


async def test_small_requests_have_their_documented_bodies() -> None:
    for request, expected in [
        (ChangeOwner("g", "o"), ("change_group_owner", {"GroupId": "g", "NewOwner_Account": "o"})),
        (
            RemoveMembers("g", ["a", "b"]),
            (
                "delete_group_member",
                {"GroupId": "g", "Silence": 1, "MemberToDel_Account": ["a", "b"]},
            ),
        ),
        (DestroyGroup("g"), ("destroy_group", {"GroupId": "g"})),
        (ImportAccounts(["x", "y"]), ("multiaccount_import", {"Accounts": ["x", "y"]})),
    ]:
        _, bodies = await send(request)
        assert bodies == [expected]


async def test_destroying_a_group_that_is_gone_is_done() -> None:
    gone = {"ActionStatus": "FAIL", "ErrorCode": 10010, "ErrorInfo": "dissolved"}
    outcome, _ = await send(DestroyGroup("g"), {"destroy_group": [gone]})
    assert outcome.refused == []


async def test_create_on_a_taken_id_looks_and_takes_a_group_of_the_same_type_only() -> None:
    taken = {"ActionStatus": "FAIL", "ErrorCode": 10021, "ErrorInfo": "used"}
    same = {**OK, "GroupInfo": [{"GroupId": "g", "ErrorCode": 0, "Type": "Private"}]}
    request = CreateGroup("g", GroupType.Private, "G")
    outcome, bodies = await send(request, {"create_group": [taken], "get_group_info": [same]})
    assert outcome.existed and [c for c, _ in bodies] == ["create_group", "get_group_info"]
    other = {**OK, "GroupInfo": [{"GroupId": "g", "ErrorCode": 0, "Type": "Public"}]}
    with pytest.raises(TimApiError, match="10021"):
        await send(request, {"create_group": [taken], "get_group_info": [other]})
