"""Where the documentation is clear the emulator is strict: the answer envelope, the AVChatRoom
create rule, and the documented group fields it stores and returns instead of ignoring."""

from __future__ import annotations

import re
import sqlite3

import httpx
import pytest

from reconciler.emulator import EmulatorStore, create_app
from reconciler.emulator.testing import RestCaller

SDKAPPID = 1400000001
KEY = "emulator-test-key"
G = "group_open_http_svc/"
REQUEST_ID = re.compile(r"Id-[0-9a-f]{32}-O-Seq-[0-9]+")


@pytest.fixture
def app(tmp_path):
    app = create_app(tmp_path / "emu.db", sdkappid=SDKAPPID, secret_key=KEY)
    app.state.store.seed(
        groups=[
            {"GroupId": "pub", "Type": "Public"},
            {"GroupId": "av", "Type": "AVChatRoom"},
            {"GroupId": "@TGS#_plain", "Type": "Community"},
            {"GroupId": "@TGS#_topics", "Type": "Community", "SupportTopic": 1},
        ],
        accounts=["bob"],
    )
    return app


@pytest.fixture
async def tim(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e") as http:
        caller = RestCaller(http, SDKAPPID, KEY)

        async def call(api: str, body: dict | None = None, expect: int = 0, **kw) -> dict:
            answer = await caller(api, body, **kw)
            assert answer["ErrorCode"] == expect, answer
            return answer

        call.caller = caller  # type: ignore[attr-defined]
        yield call


def info_of(answer: dict) -> dict:
    return answer["GroupInfo"][0]


async def test_request_id_in_every_answer(tim):
    # The newer samples' envelope (TRTC/Chat REST overview 647/60703) carries a RequestId such
    # as "Id-70e3...-O-Seq-63504": in successes, command errors, request errors and bad bodies.
    answers = [
        await tim(G + "get_group_info", {"GroupIdList": ["pub"]}),
        await tim(G + "destroy_group", {"GroupId": "gone"}, expect=10010),
        await tim(G + "get_group_info", {}, expect=60002, contenttype="xml"),
        await tim(G + "get_group_info", raw=b"{", expect=60003),
        await tim(G + "get_group_info", {}, expect=70003, usersig="nonsense"),
        await tim("no_such_svc/x", {}, expect=60009),
    ]
    ids = [a["RequestId"] for a in answers]
    assert all(REQUEST_ID.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)
    assert list(answers[1])[:4] == ["ActionStatus", "ErrorInfo", "ErrorCode", "RequestId"]


async def test_member_list_on_avchatroom_create_is_10007(tim):
    # EN-34895: AVChatRoom members, the owner included, join through the client SDK;
    # create_group with a MemberList answers 10007 (reference §16.1).
    body = {"Type": "AVChatRoom", "Name": "live", "MemberList": [{"Member_Account": "bob"}]}
    await tim(G + "create_group", body, expect=10007)
    await tim(G + "create_group", {**body, "MemberList": []})  # an empty list is no list


async def test_history_msg_before_join_is_stored_and_returned(tim):
    # modify_group_base_info (DO's ModifyGroupBaseInfoRequest, reference §7.3):
    # HistoryMsgBeforeJoin is On or Off, for Work, Public and Meeting groups only.
    group = info_of(await tim(G + "get_group_info", {"GroupIdList": ["pub"]}))
    assert group["HistoryMsgBeforeJoin"] == "Off"  # the emulator's default (unconfirmed)
    await tim(G + "modify_group_base_info", {"GroupId": "pub", "HistoryMsgBeforeJoin": "On"})
    body = {
        "GroupIdList": ["pub"],
        "ResponseFilter": {"GroupBaseInfoFilter": ["HistoryMsgBeforeJoin"]},
    }
    assert info_of(await tim(G + "get_group_info", body)) == {
        "GroupId": "pub",
        "ErrorCode": 0,
        "ErrorInfo": "",
        "HistoryMsgBeforeJoin": "On",
    }
    bad = {"GroupId": "pub", "HistoryMsgBeforeJoin": "on"}
    await tim(G + "modify_group_base_info", bad, expect=10004)
    for gid in ("av", "@TGS#_plain"):
        body = {"GroupId": gid, "HistoryMsgBeforeJoin": "On"}
        await tim(G + "modify_group_base_info", body, expect=10004)
    av = info_of(await tim(G + "get_group_info", {"GroupIdList": ["av"]}))
    assert "HistoryMsgBeforeJoin" not in av


async def test_permission_fields_of_communities_with_topics(tim):
    # Seed 003 (modify_group_base_info): "Only communities that support topics can set"
    # EnablePermission (0 disable, 1 enable); DefaultPermission only "groups that enable the
    # permission group". create_group takes both too (DO, RS; reference §5, §16.2).
    modify = G + "modify_group_base_info"
    await tim(modify, {"GroupId": "@TGS#_plain", "EnablePermission": 1}, expect=10004)
    await tim(modify, {"GroupId": "pub", "EnablePermission": 1}, expect=10004)
    await tim(modify, {"GroupId": "@TGS#_topics", "EnablePermission": 2}, expect=10004)
    await tim(modify, {"GroupId": "@TGS#_topics", "DefaultPermission": 3}, expect=10004)
    await tim(modify, {"GroupId": "@TGS#_topics", "EnablePermission": 1, "DefaultPermission": 3})
    group = info_of(await tim(G + "get_group_info", {"GroupIdList": ["@TGS#_topics"]}))
    assert (group["EnablePermission"], group["DefaultPermission"]) == (1, 3)
    await tim(modify, {"GroupId": "@TGS#_topics", "DefaultPermission": -1}, expect=10004)
    await tim(modify, {"GroupId": "@TGS#_topics", "DefaultPermission": 1 << 63}, expect=10004)
    await tim(modify, {"GroupId": "@TGS#_topics", "DefaultPermission": 7})  # already enabled
    group = info_of(await tim(G + "get_group_info", {"GroupIdList": ["@TGS#_topics"]}))
    assert group["DefaultPermission"] == 7
    plain = info_of(await tim(G + "get_group_info", {"GroupIdList": ["@TGS#_plain"]}))
    assert (plain["EnablePermission"], plain["DefaultPermission"]) == (0, 0)
    assert "EnablePermission" not in info_of(
        await tim(G + "get_group_info", {"GroupIdList": ["pub"]})
    )
    create = {
        "Type": "Community",
        "Name": "c",
        "GroupId": "@TGS#_new",
        "SupportTopic": 1,
        "EnablePermission": 1,
        "DefaultPermission": 1,
    }
    await tim(G + "create_group", create)
    group = info_of(await tim(G + "get_group_info", {"GroupIdList": ["@TGS#_new"]}))
    assert (group["EnablePermission"], group["DefaultPermission"]) == (1, 1)
    no_topics = {**create, "GroupId": "@TGS#_new2", "SupportTopic": 0}
    await tim(G + "create_group", no_topics, expect=10004)
    public_topics = {"Type": "Public", "Name": "p", "SupportTopic": 1}
    await tim(G + "create_group", public_topics, expect=10004)


def test_a_file_of_an_earlier_release_gains_the_new_columns(tmp_path):
    """State survives upgrades: a groups table without the new columns is extended on open."""
    path = tmp_path / "old.db"
    EmulatorStore(path).seed(groups=[{"GroupId": "pub", "Type": "Public"}])
    conn = sqlite3.connect(path)
    for column in ("enable_permission", "default_permission", "history_before_join"):
        conn.execute(f"ALTER TABLE groups DROP COLUMN {column}")
    conn.commit()
    conn.close()
    group = EmulatorStore(path).dump()["groups"]["pub"]
    assert (group["EnablePermission"], group["HistoryMsgBeforeJoin"]) == (0, "Off")


async def test_community_paging_ends_with_an_empty_next_never_an_empty_page(app, tim):
    # Unconfirmed (reference §4): the end marker of get_group_member_info's Community ``Next``.
    # Chosen: "" (as the permission-group API documents), on the last page that has members.
    app.state.store.seed(
        groups=[
            {
                "GroupId": "@TGS#_even",
                "Type": "Community",
                "MemberList": [{"Member_Account": f"m{i:03d}"} for i in range(200)],
            }
        ]
    )
    body = {"GroupId": "@TGS#_even", "Limit": 100, "Next": ""}
    first = await tim(G + "get_group_member_info", body)
    assert len(first["MemberList"]) == 100 and first["Next"] != ""
    second = await tim(G + "get_group_member_info", {**body, "Next": first["Next"]})
    assert len(second["MemberList"]) == 100 and second["Next"] == ""
