"""Member lists as answers list them, on a varied state: every field in the documented order
(roles, name cards, message flags, mutes under both names, custom data), filters, paging with
Offset/Limit and with Next; each answer checked against the store's own dump."""

from __future__ import annotations

import random

import httpx
import pytest

from reconciler.emulator import create_app
from reconciler.emulator.testing import RestCaller

SDKAPPID = 1400000001
KEY = "emulator-test-key"
G = "group_open_http_svc/"
NOW = 1_760_000_000
FIELDS = ("Role", "JoinTime", "MsgSeq", "MsgFlag", "LastSendMsgTime", "MuteUntil", "NameCard")


def _members(rng: random.Random, prefix: str, n: int) -> list[dict]:
    members = []
    for i in range(n):
        m: dict = {"Member_Account": f"{prefix}{i:04d}", "JoinTime": NOW - 1000 + i}
        if i % 7 == 0:
            m["Role"] = "Admin"
        if i % 3 == 0:
            m["NameCard"] = rng.choice(["card", 'quote " and \\ back', "名片", ""])
        if i % 5 == 0:
            m["MsgFlag"] = rng.choice(["AcceptNotNotify", "Discard"])
        if i % 4 == 0:
            m["MuteUntil"] = NOW + 3600 + i
        if i % 6 == 0:
            m["AppMemberDefinedData"] = [{"Key": "Dept", "Value": f"d{i}"}]
        if i % 11 == 0:
            m["AppMemberDefinedData"] = [
                {"Key": "Zeta", "Value": "z"},
                {"Key": "Dept", "Value": "x"},
            ]
        members.append(m)
    return members


@pytest.fixture
def app(tmp_path):
    app = create_app(tmp_path / "emu.db", sdkappid=SDKAPPID, secret_key=KEY)
    rng = random.Random(7)
    app.state.store.seed(
        groups=[
            {
                "GroupId": "work1",
                "Type": "Public",
                "Owner_Account": "owner1",
                "MemberList": _members(rng, "p", 450),
            },
            {
                "GroupId": "@TGS#_comm1",
                "Type": "Community",
                "Owner_Account": "owner2",
                "MemberList": _members(rng, "c", 430),
            },
        ],
        now=NOW,
    )
    return app


@pytest.fixture
async def tim(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://console.tim.qq.com") as c:
        caller = RestCaller(c, SDKAPPID, KEY)

        async def call(api: str, body: dict) -> dict:
            answer = await caller(G + api, body)
            assert answer["ErrorCode"] == 0, answer
            return answer

        yield call


def expected(app, gid: str, fields=None, keys=None, custom=True) -> list[list[tuple]]:
    """The group's members from the store's dump, each as the ordered (name, value) pairs an
    answer lists: Member_Account, the fields (MuteUntil also as ShutUpUntil), custom data."""
    out = []
    for m in app.state.store.dump()["groups"][gid]["MemberList"]:
        values = {**m, "MsgSeq": 0, "LastSendMsgTime": 0}
        item = [("Member_Account", m["Member_Account"])]
        for name in FIELDS:
            if fields is None or name in fields:
                item.append((name, values[name]))
                if name == "MuteUntil":
                    item.append(("ShutUpUntil", values[name]))
        if custom:
            data = m["AppMemberDefinedData"]
            item.append(
                (
                    "AppMemberDefinedData",
                    [{"Key": k, "Value": v} for k, v in data.items() if keys is None or k in keys],
                )
            )
        out.append(item)
    return out


def pairs(members: list[dict]) -> list[list[tuple]]:
    return [list(m.items()) for m in members]


async def test_get_group_info_lists_every_member_field_in_order(app, tim):
    answer = await tim("get_group_info", {"GroupIdList": ["work1", "@TGS#_comm1"]})
    for item in answer["GroupInfo"]:
        assert pairs(item["MemberList"]) == expected(app, item["GroupId"])
        assert item["MemberNum"] == len(item["MemberList"])
    filtered = await tim(
        "get_group_info",
        {
            "GroupIdList": ["work1"],
            "ResponseFilter": {
                "MemberInfoFilter": ["Role", "ShutUpUntil"],
                "AppDefinedDataFilter_GroupMember": ["Dept"],
            },
        },
    )
    listed = filtered["GroupInfo"][0]["MemberList"]
    assert pairs(listed) == expected(app, "work1", {"Role", "MuteUntil"}, {"Dept"})


@pytest.mark.parametrize(
    ("filters", "fields", "keys", "custom"),
    [
        ({}, None, None, True),
        ({"MemberInfoFilter": ["NameCard", "MsgFlag"]}, {"NameCard", "MsgFlag"}, None, False),
        ({"AppDefinedDataFilter_GroupMember": ["Zeta"]}, None, {"Zeta"}, True),
        ({"MemberInfoFilter": [], "AppDefinedDataFilter_GroupMember": []}, set(), set(), True),
    ],
)
async def test_offset_pages_add_up_to_the_whole_list(app, tim, filters, fields, keys, custom):
    listed: list[dict] = []
    while True:
        body = {"GroupId": "work1", "Limit": 97, "Offset": len(listed), **filters}
        page = await tim("get_group_member_info", body)
        assert page["MemberNum"] == 451
        if not page["MemberList"]:
            break
        listed += page["MemberList"]
    assert pairs(listed) == expected(app, "work1", fields, keys, custom)
    roles = await tim("get_group_member_info", {"GroupId": "work1", "MemberRoleFilter": ["Admin"]})
    assert pairs(roles["MemberList"]) == [
        m for m in expected(app, "work1") if ("Role", "Admin") in m
    ]


async def test_next_pages_add_up_to_the_whole_list(app, tim):
    listed: list[dict] = []
    cursor = ""
    while True:
        page = await tim(
            "get_group_member_info", {"GroupId": "@TGS#_comm1", "Limit": 100, "Next": cursor}
        )
        listed += page["MemberList"]
        cursor = page["Next"]
        if not cursor:
            break
        assert len(page["MemberList"]) == 100
    assert pairs(listed) == expected(app, "@TGS#_comm1")


async def test_named_members_in_join_order(app, tim):
    whole = expected(app, "work1")
    named = [m[0][1] for m in whole[::10]][::-1] + ["stranger"]
    answer = await tim(
        "get_specified_group_member_info", {"GroupId": "work1", "Member_List_Account": named}
    )
    assert pairs(answer["MemberList"]) == whole[::10]
    filtered = await tim(
        "get_specified_group_member_info",
        {"GroupId": "work1", "Member_List_Account": named, "MemberInfoFilter": ["JoinTime"]},
    )
    assert pairs(filtered["MemberList"]) == expected(app, "work1", {"JoinTime"}, custom=False)[::10]
