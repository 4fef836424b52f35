"""The rest of the group API, end to end against the embedded emulator: mutes in batches
(forbid_send_msg), AVChatRoom admins, mutes and bans, and new groups with more members than
create_group carries."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from conftest import Workspace, cli_in_process, client_for, make_emulator, plan_groups

from reconciler import engine

FUTURE = int(time.time()) + 30 * 86400
LATER = FUTURE + 86400
DEADLINE = "2031-01-01T00:00:00Z"


def calls(ws: Workspace) -> dict[str, int]:
    run = ws.plan("--format", "json")
    assert run.code == 0, run
    return json.loads(run.out)["calls_by_api"]


def public(members: list[Any], **extra: Any) -> dict[str, Any]:
    return {"id": "pub-1", "type": "Public", "name": "Pub", "owner": "o1", "members": members}


def test_1200_members_muted_until_one_deadline_take_3_forbid_send_msg_calls(
    ws: Workspace,
) -> None:
    accounts = [f"m{i:04d}" for i in range(1200)]
    ws.seed(
        [
            {
                "GroupId": "pub-1",
                "Type": "Public",
                "Name": "Pub",
                "Owner_Account": "o1",
                "MemberList": [{"Member_Account": a} for a in accounts],
            }
        ]
    )
    ws.write([public(["o1", *({"account": a, "muted_until": DEADLINE} for a in accounts)])])
    assert calls(ws) == {"forbid_send_msg": 3}  # 500 + 500 + 200, not 1,200 modify calls
    ws.converge()
    deadline = int(time.mktime(time.strptime(DEADLINE, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone)
    live = ws.members("pub-1")
    assert all(abs(live[a]["MuteUntil"] - deadline) <= 5 for a in accounts)

    # All unmutes of the group go in one call (up to 500), whatever the old deadlines.
    ws.write([public(["o1", *({"account": a, "muted_until": None} for a in accounts[:400])]
                     + accounts[400:])])  # fmt: skip
    assert calls(ws) == {"forbid_send_msg": 1}
    ws.converge()
    assert all(ws.members("pub-1")[a]["MuteUntil"] == 0 for a in accounts[:400])


@pytest.mark.parametrize(("gtype", "gid"), [("Meeting", "meet-1"), ("Community", "@TGS#_c-1")])
def test_mutes_share_calls_by_deadline_and_ride_along_with_other_changes(
    ws: Workspace, gtype: str, gid: str
) -> None:
    group = {"id": gid, "type": gtype, "name": "G", "owner": "o1", "members": ["o1", "a", "b"]}
    ws.write([group])
    ws.converge()
    group["members"] = [
        "o1",
        {"account": "a", "muted_until": FUTURE},
        {"account": "b", "muted_until": FUTURE, "name_card": "Bee"},  # rides with its modify
        {"account": "c", "muted_until": FUTURE},  # joins, then muted with a
        {"account": "d", "muted_until": LATER},
    ]
    ws.write([group])
    got = calls(ws)
    assert got["forbid_send_msg"] == 2 and got["modify_group_member_info"] == 1, got
    ws.converge()
    live = ws.members(gid)
    assert abs(live["c"]["MuteUntil"] - FUTURE) <= 5 and abs(live["d"]["MuteUntil"] - LATER) <= 5
    assert live["b"]["NameCard"] == "Bee" and abs(live["b"]["MuteUntil"] - FUTURE) <= 5


def room(**extra: Any) -> dict[str, Any]:
    return {"id": "live-1", "type": "AVChatRoom", "name": "Live", "owner": "host", **extra}


def test_avchatroom_admins_mutes_and_bans_converge_and_export_round_trips(ws: Workspace) -> None:
    ws.write([room(admins=["a1", "a2"], muted={"troll": FUTURE}, banned={"spam": None})])
    run = ws.plan()
    assert "+ admin a1" in run.out and "muted troll" in run.out, run
    assert "spam" not in run.out, run  # not banned, and declared so: nothing to do
    ws.converge()
    ws.seed([], accounts=["spam"])
    ws.control("online", GroupId="live-1", Account="spam")
    ws.write([room(admins=["a1", "a2"], muted={"troll": FUTURE}, banned={"spam": FUTURE})])
    run = ws.plan()
    assert "ban spam until" in run.out and "removes them from the room" in run.out, run
    ws.converge()
    live = ws.live("live-1")
    assert live["AdminList"] == ["a1", "a2"]
    assert abs(live["MutedAccounts"]["troll"] - FUTURE) <= 5
    assert abs(live["BannedAccounts"]["spam"] - FUTURE) <= 5
    assert all(m["Member_Account"] != "spam" for m in live["MemberList"])  # banned = out

    # Admins are exact: a2 is revoked, a3 made; mutes and bans of listed accounts only.
    ws.write([room(admins=["a1", "a3"], muted={"troll": None}, banned={"spam": None})])
    got = calls(ws)
    assert got == {
        "modify_admin": 2,
        "forbid_send_msg": 1,
        "unban_group_member": 1,
        "multiaccount_import": 1,  # a3 is a new account
    }, got
    ws.converge()
    live = ws.live("live-1")
    assert live["AdminList"] == ["a1", "a3"] and live["BannedAccounts"] == {}
    assert live["MutedAccounts"] == {}

    ws.write([room(admins=["a1"], muted={"troll": FUTURE}, banned={"spam": LATER})])
    ws.converge()
    out = ws.dir.parent / "export.yaml"  # outside: the config declares the group already
    run = cli_in_process("export", str(ws.dir), "--group", "live-1", "--output", str(out))
    assert run.code == 0, run
    text = out.read_text()
    assert "admins:" in text and "muted:" in text and "banned:" in text, text
    run = cli_in_process("plan", str(out), "--detailed-exitcode")  # the export alone
    assert run.code == 0 and "No changes." in run.out, run


def observe_calls(ws: Workspace) -> dict[str, int]:
    """The calls a plan of the workspace's config makes, by API."""

    async def go() -> dict[str, int]:
        app = make_emulator(ws.db)
        try:
            async with client_for(app) as client:
                await plan_groups(client, engine.load_config(ws.dir).groups)
                return dict(client.stats.calls)
        finally:
            app.state.store.close()

    return asyncio.run(go())


def test_avchatroom_room_state_is_read_with_one_call_each_and_only_when_declared(
    ws: Workspace,
) -> None:
    ws.write([room(muted={"troll": FUTURE})])
    ws.converge()
    assert observe_calls(ws) == {"get_group_info": 1, "get_group_muted_account": 1}
    ws.write([room(muted={"troll": FUTURE}, admins=["troll"], banned={})])
    ws.converge()
    assert observe_calls(ws) == {
        "get_group_info": 1,
        "get_group_muted_account": 1,
        "get_admin_list": 1,
        "get_group_ban_member": 1,
    }


@pytest.mark.parametrize(
    ("group", "where", "says"),
    [
        (public(["o1"]) | {"muted": {"x": FUTURE}}, "muted", "muted_until"),
        (public(["o1"]) | {"admins": ["x"]}, "admins", "role: Admin"),
        (
            {"id": "@TGS#_c", "type": "Community", "name": "C", "banned": {"x": FUTURE}},
            "banned",
            "AVChatRoom",
        ),
        (room(admins=["a", "b", "c", "d", "e", "f"]), "admins", "at most 5"),
        (room(admins=["a", "a"]), "admin", "listed twice"),
        (room(muted={"x": "tomorrow"}), "muted", "not a date-time"),
    ],
)
def test_room_keys_are_located_errors_where_they_do_not_apply(
    ws: Workspace, group: dict, where: str, says: str
) -> None:
    path = ws.write([group])
    run = ws.cli("validate", ".")
    assert run.code == 1, run
    assert f"{path.name}:" in run.text and says in run.text, run
    assert where in run.text


def test_a_new_group_of_350_members_creates_with_100_and_imports_the_rest(ws: Workspace) -> None:
    members = [f"m{i:03d}" for i in range(350)]
    ws.write([public(["o1", *members[:-5], *({"account": a, "custom": {"k": "v"}}
                                             for a in members[-5:])])])  # fmt: skip
    got = calls(ws)
    # 100 in create_group (custom data first: it rides along), 250 imported in one call; no
    # modify for the custom data. Before: 2 imports and 5 modify calls.
    assert got == {"create_group": 1, "import_group_member": 1, "multiaccount_import": 4}, got
    ws.converge()
    live = ws.members("pub-1")
    assert len(live) == 351 and all(live[a]["AppMemberDefinedData"] == {"k": "v"}
                                    for a in members[-5:])  # fmt: skip


def test_emulator_bans_keep_the_account_out_of_the_room(ws: Workspace) -> None:
    ws.write([room(banned={"spam": FUTURE})])
    ws.converge()
    app = make_emulator(ws.db)

    async def go() -> dict:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as http:
            body = {"GroupId": "live-1", "Account": "spam"}
            return (await http.post("/emulator/online", json=body)).json()

    try:
        answer = asyncio.run(go())
    finally:
        app.state.store.close()
    assert answer["ErrorCode"] == 10007 and "banned" in answer["ErrorInfo"], answer


def test_the_benchmarks_minimum_counts_mutes_by_deadline_500_a_call() -> None:
    from benchmarks.scale_shape import DEFAULT, GroupShape, Shape, minimum

    now = int(time.time())
    live = {"o1": ("Owner", *DEFAULT[1:]), **{f"m{i:04d}": DEFAULT for i in range(1200)}}
    want = {
        a: (t[0], "", "AcceptAndNotify", FUTURE if a != "o1" else 0, "") for a, t in live.items()
    }
    profile = ("Pub", "", "")
    group = GroupShape("pub-1", "Public", "Public", "o1", True, "present", profile, profile)
    group.live, group.want = live, want
    mins = minimum(Shape([group], sorted(live), set(), now))
    assert mins.apply == {"forbid_send_msg": 3}
    assert mins.observe == {"get_group_info": 1}
