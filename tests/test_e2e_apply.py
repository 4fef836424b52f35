"""apply, end to end through the CLI against the embedded emulator: for every kind of change on
every group type, apply makes the live state match and the next plan is empty."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from conftest import Workspace

from reconciler import engine

MEMBER_TYPES = {
    "Work": "work-1",
    "Public": "pub-1",
    "Meeting": "meet-1",
    "Community": "@TGS#_comm-1",
}
ALL_TYPES = {**MEMBER_TYPES, "AVChatRoom": "av-1"}
FUTURE = int(time.time()) + 30 * 86400


def base_group(gtype: str) -> dict[str, Any]:
    group: dict[str, Any] = {
        "id": ALL_TYPES[gtype],
        "type": gtype,
        "name": f"{gtype} one",
        "owner": "o1",
        "introduction": "intro",
        "custom": {"color": "red"},
    }
    if gtype != "AVChatRoom":
        group["max_members"] = 20
        group["members"] = [
            {"account": "m1", "role": "Admin", "name_card": "First"},
            "m2",
            {"account": "m3", "msg_flag": "AcceptNotNotify", "custom": {"level": "1"}},
        ]
    return group


def live_members(ws: Workspace, gid: str) -> dict[str, dict[str, Any]]:
    return ws.members(gid)


@pytest.mark.parametrize("gtype", list(ALL_TYPES))
def test_create_then_profile_custom_and_mute_all_changes(ws: Workspace, gtype: str) -> None:
    group = base_group(gtype)
    gid = group["id"]
    ws.write([group])
    ws.converge()
    live = ws.live(gid)
    assert live["Type"] in ("Private", "Public", "ChatRoom", "AVChatRoom", "Community")
    assert live["Name"] == f"{gtype} one" and live["Introduction"] == "intro"
    assert live["Owner_Account"] == "o1"
    assert live["AppDefinedData"] == {"color": "red"}
    if gtype != "AVChatRoom":
        members = live_members(ws, gid)
        assert set(members) == {"o1", "m1", "m2", "m3"}
        assert members["o1"]["Role"] == "Owner" and members["m1"]["Role"] == "Admin"
        assert members["m1"]["NameCard"] == "First"
        assert members["m3"]["MsgFlag"] == "AcceptNotNotify"
        assert members["m3"]["AppMemberDefinedData"] == {"level": "1"}
        assert live["MaxMemberNum"] == 20

    # Every profile field at once.
    group.update(
        name="Renamed",
        introduction="new intro",
        notification="read me",
        face_url="https://example.com/a.png",
    )
    if gtype != "Community":
        group["apply_join"] = "NeedPermission" if gtype != "Public" else "FreeAccess"
    if gtype != "AVChatRoom":
        group["invite_join"] = "DisableInvite"
    ws.write([group])
    run = ws.plan("--detailed-exitcode")
    assert run.code == 2, run
    assert "name:" in run.out and "notification:" in run.out
    ws.converge()
    live = ws.live(gid)
    assert (live["Name"], live["Introduction"], live["Notification"], live["FaceUrl"]) == (
        "Renamed",
        "new intro",
        "read me",
        "https://example.com/a.png",
    )
    if gtype != "AVChatRoom":
        assert live["InviteJoinOption"] == "DisableInvite"

    # Custom data: change one key, add one, then delete one with null.
    group["custom"] = {"color": "blue", "size": "L"}
    ws.write([group])
    ws.converge()
    assert ws.live(gid)["AppDefinedData"] == {"color": "blue", "size": "L"}
    group["custom"] = {"color": None, "size": "L"}
    ws.write([group])
    run = ws.plan()
    assert "custom.color" in run.out, run
    ws.converge()
    assert ws.live(gid)["AppDefinedData"] == {"size": "L"}

    # mute_all on, then off.
    group["mute_all"] = True
    ws.write([group])
    ws.converge()
    assert ws.live(gid)["MuteAllMember"] == "On"
    group["mute_all"] = False
    ws.write([group])
    ws.converge()
    assert ws.live(gid)["MuteAllMember"] == "Off"


@pytest.mark.parametrize("gtype", list(MEMBER_TYPES))
def test_max_members_raise_and_lower(ws: Workspace, gtype: str) -> None:
    group = base_group(gtype)
    gid = group["id"]
    ws.write([group])
    ws.converge()
    group["max_members"] = 500
    ws.write([group])
    ws.converge()
    assert ws.live(gid)["MaxMemberNum"] == 500
    # Lower below the current size while adding members: the plan must order it right
    # (lower after removals) and the result is exactly the declared members.
    group["max_members"] = 4
    group["members"] = ["m1", "m2", "m5"]
    ws.write([group])
    ws.converge()
    live = ws.live(gid)
    assert live["MaxMemberNum"] == 4
    assert set(live_members(ws, gid)) == {"o1", "m1", "m2", "m5"}
    # Raise and add past the old limit in one apply.
    group["max_members"] = 8
    group["members"] = [f"m{i}" for i in range(1, 8)]
    ws.write([group])
    ws.converge()
    assert len(live_members(ws, gid)) == 8


@pytest.mark.parametrize("gtype", list(MEMBER_TYPES))
def test_member_add_remove_modify(ws: Workspace, gtype: str) -> None:
    group = base_group(gtype)
    gid = group["id"]
    ws.write([group])
    ws.converge()

    # add m4/m5 (with attributes), remove m2, modify m1 and m3 on every attribute.
    m3: dict[str, Any] = {
        "account": "m3",
        "role": "Admin",
        "name_card": "Third",
        "msg_flag": "Discard",
        "custom": {"level": None, "team": "core"},
    }
    if gtype != "Work":
        m3["muted_until"] = FUTURE
    group["members"] = [
        {"account": "m1", "role": "Member", "name_card": ""},
        m3,
        {"account": "m4", "role": "Admin", "name_card": "Fourth", "custom": {"k": "v"}},
        {"account": "m5", "msg_flag": "AcceptNotNotify"}
        | ({"muted_until": FUTURE} if gtype != "Work" else {}),
    ]
    ws.write([group])
    run = ws.plan("--detailed-exitcode")
    assert run.code == 2, run
    assert "- member m2" in run.out and "+ member m4" in run.out, run
    ws.converge()
    members = live_members(ws, gid)
    assert set(members) == {"o1", "m1", "m3", "m4", "m5"}
    assert members["m1"]["Role"] == "Member" and members["m1"]["NameCard"] == ""
    assert members["m3"]["Role"] == "Admin" and members["m3"]["NameCard"] == "Third"
    assert members["m3"]["MsgFlag"] == "Discard"
    assert members["m3"]["AppMemberDefinedData"] == {"team": "core"}
    assert members["m4"]["Role"] == "Admin" and members["m4"]["AppMemberDefinedData"] == {"k": "v"}
    assert members["m5"]["MsgFlag"] == "AcceptNotNotify"
    if gtype != "Work":
        assert abs(members["m3"]["MuteUntil"] - FUTURE) <= 5
        assert abs(members["m5"]["MuteUntil"] - FUTURE) <= 5
        # Unmute with null.
        m3["muted_until"] = None
        ws.write([group])
        ws.converge()
        assert live_members(ws, gid)["m3"]["MuteUntil"] == 0


@pytest.mark.parametrize("gtype", list(MEMBER_TYPES))
def test_owner_change_to_member_and_to_newcomer(ws: Workspace, gtype: str) -> None:
    group = base_group(gtype)
    gid = group["id"]
    ws.write([group])
    ws.converge()
    # To an existing member (m1 loses its Admin entry: the owner's role is Owner).
    group["owner"] = "m1"
    group["members"] = ["o1", "m1", "m2", "m3"]
    ws.write([group])
    ws.converge()
    live = ws.live(gid)
    assert live["Owner_Account"] == "m1"
    assert live_members(ws, gid)["m1"]["Role"] == "Owner"
    # To an account that is not a member yet (imported, then made owner); the old owner
    # is no longer declared and is removed after the change.
    group["owner"] = "newboss"
    group["members"] = ["m2", "m3"]
    ws.write([group])
    ws.converge()
    assert ws.live(gid)["Owner_Account"] == "newboss"
    assert set(live_members(ws, gid)) == {"newboss", "m2", "m3"}


@pytest.mark.parametrize("gtype", list(MEMBER_TYPES))
def test_additive_members_keep_undeclared(ws: Workspace, gtype: str) -> None:
    group = base_group(gtype)
    gid = group["id"]
    ws.write([group])
    ws.converge()
    group["members_mode"] = "additive"
    group["members"] = [{"account": "m2", "name_card": "Two"}, "m9"]
    ws.write([group])
    run = ws.plan()
    assert "- member" not in run.out, run
    ws.converge()
    members = live_members(ws, gid)
    assert set(members) == {"o1", "m1", "m2", "m3", "m9"}
    assert members["m2"]["NameCard"] == "Two"
    # Back to authoritative: the undeclared ones go.
    group["members_mode"] = "authoritative"
    ws.write([group])
    ws.converge()
    assert set(live_members(ws, gid)) == {"o1", "m2", "m9"}


@pytest.mark.parametrize("gtype", list(ALL_TYPES))
def test_destroy_needs_allow_destroy(ws: Workspace, gtype: str) -> None:
    group = base_group(gtype)
    gid = group["id"]
    keep = {"id": "keep-me", "type": "Public", "name": "Keep", "owner": "o1"}
    ws.write([group, keep])
    ws.converge()
    ws.write([{"id": gid, "type": gtype, "state": "absent"}, keep])
    run = ws.plan("--detailed-exitcode")
    assert run.code == 2 and "destroy" in run.out, run
    run = ws.apply()
    assert run.code == 3, run
    assert "--allow-destroy" in run.err
    assert ws.live(gid) is not None
    ws.converge("--allow-destroy")
    assert ws.live(gid) is None
    assert ws.live("keep-me") is not None


def test_avchatroom_marks_set_delete_pending(ws: Workspace) -> None:
    group = base_group("AVChatRoom")
    gid = group["id"]
    group["marks"] = {1000: ["u1", "u2"], 1001: ["u3"]}
    ws.write([group])
    run = ws.apply()
    assert run.code == 0, run
    # Nobody is online: all marks wait.
    run = ws.plan("--detailed-exitcode")
    assert run.code == 0, run
    assert "pending until online" in run.out and "3 mark(s) pending" in run.out, run
    ws.seed([], accounts=["u1", "u2", "u3", "u4"])
    for account in ("u1", "u2", "u3", "u4"):
        ws.control("online", GroupId=gid, Account=account, Online=True)
    run = ws.plan("--detailed-exitcode")
    assert run.code == 2, run
    assert "mark 1000 set: u1, u2" in run.out and "mark 1001 set: u3" in run.out, run
    ws.converge()
    marks = {m["Member_Account"]: m["Marks"] for m in ws.live(gid)["MemberList"]}
    assert marks["u1"] == [1000] and marks["u2"] == [1000] and marks["u3"] == [1001]
    # Move marks: delete u2's, set u4's, and one for an offline account stays pending.
    group["marks"] = {1000: ["u1", "u4"], 1001: ["u3", "offline-user"], 500: ["u1"]}
    ws.write([group])
    run = ws.plan("--detailed-exitcode")
    assert run.code == 2, run
    assert "mark 1000 delete: u2" in run.out and "mark 1000 set: u4" in run.out, run
    assert "mark 1001 pending until online: offline-user" in run.out, run
    ws.converge()
    marks = {m["Member_Account"]: sorted(m["Marks"]) for m in ws.live(gid)["MemberList"]}
    assert marks == {"u1": [500, 1000], "u2": [], "u3": [1001], "u4": [1000]}
    # Unmanaged again (marks: null) -> nothing to do; an empty mark deletes everyone's.
    group["marks"] = {1000: [], 1001: ["u3"], 500: ["u1"]}
    ws.write([group])
    ws.converge()
    marks = {m["Member_Account"]: sorted(m["Marks"]) for m in ws.live(gid)["MemberList"]}
    assert marks["u1"] == [500] and marks["u4"] == []


def test_every_type_in_one_config_converges_and_second_apply_is_a_no_op(ws: Workspace) -> None:
    groups = [base_group(t) for t in ALL_TYPES]
    ws.write(groups)
    ws.converge()
    before = ws.dump()
    run = ws.apply()
    assert run.code == 0 and "0 call(s)" in run.out or "No changes" in run.out, run
    assert ws.dump() == before


def test_saved_plan_applies_and_converges(ws: Workspace) -> None:
    groups = [base_group(t) for t in ALL_TYPES]
    ws.write(groups)
    run = ws.plan("-o", "plan.json")
    assert run.code == 0, run
    doc = json.loads((ws.dir / "plan.json").read_text())
    assert doc["format_version"] == 7 and doc["operations"]
    run = ws.cli("apply", "--plan", "plan.json")
    assert run.code == 0, run
    ws.assert_clean()


async def _console(ws: Workspace, api: str, body: dict[str, Any]) -> None:
    """A console edit: one REST call on the workspace's emulator."""
    from conftest import client_for, make_emulator

    from reconciler.tim import wire

    async with client_for(make_emulator(ws.db)) as client:
        await client.call(wire.SERVICE_OF[api], api, body)


def test_stale_plan_is_refused_naming_the_groups(ws: Workspace) -> None:
    groups = [base_group(t) for t in ("Public", "Meeting", "Work", "Community")]
    ws.write(groups)
    ws.converge()
    for g in groups:
        g["name"] = g["name"] + " v2"
    ws.seed([], accounts=["late1", "intruder"])
    groups[0]["members"][2]["msg_flag"] = "Discard"  # pub-1: changes m3's message flag
    groups[1]["members"][1] = {"account": "m2", "name_card": "Two"}  # meet-1: sets m2's card
    groups[3]["members"][0]["name_card"] = "First v2"  # the Community: changes m1's card
    ws.write(groups)
    assert ws.plan("-o", "plan.json").code == 0
    # Between plan and apply, members the plan modifies change in three of the groups.
    pub_edit = {"GroupId": "pub-1", "Member_Account": "m3", "MsgFlag": "AcceptAndNotify"}
    asyncio.run(_console(ws, "modify_group_member_info", pub_edit))
    ws.control("leave", GroupId="meet-1", Account="m2")
    edit = {"GroupId": groups[3]["id"], "Member_Account": "m1", "NameCard": "Edited"}
    asyncio.run(_console(ws, "modify_group_member_info", edit))  # read back by name
    # Someone joining a group by themselves is no change to what the plan does: the next plan
    # removes them.
    ws.control("join", GroupId="pub-1", Account="intruder")
    before = ws.dump()
    run = ws.cli("apply", "--plan", "plan.json")
    assert run.code == 1, run
    stale = run.err.split("stale")[1]
    assert "pub-1" in stale and "meet-1" in stale and groups[3]["id"] in stale, run
    assert "work-1" not in stale, run
    assert ws.dump() == before  # nothing applied
    # A fresh plan applies and converges.
    ws.converge()


def test_a_member_added_or_removed_first_by_someone_else_leaves_the_plan_valid(
    ws: Workspace,
) -> None:
    """The plan adds late1 and removes m2; between plan and apply late1 joins and m2 leaves by
    themselves. Applying the plan still ends as reviewed (an import of a member already there
    and a removal of one already gone count as done), so it is not stale."""
    group = base_group("Public")
    ws.write([group])
    ws.converge()
    ws.seed([], accounts=["late1"])
    group["members"] = [group["members"][0], group["members"][2], "late1"]
    ws.write([group])
    assert ws.plan("-o", "plan.json").code == 0
    ws.control("join", GroupId="pub-1", Account="late1")
    ws.control("leave", GroupId="pub-1", Account="m2")
    run = ws.cli("apply", "--plan", "plan.json")
    assert run.code == 0, run
    assert set(ws.members("pub-1")) == {"o1", "m1", "m3", "late1"}
    ws.assert_clean()


def test_chat_between_plan_and_apply_does_not_make_the_plan_stale(ws: Workspace) -> None:
    """Members post messages all the time (MsgSeq, LastSendMsgTime move): that is not a change
    to what the plan manages, so a reviewed plan still applies."""
    groups = [base_group(t) for t in ("Public", "Meeting", "Work", "Community")]
    ws.write(groups)
    ws.converge()
    for g in groups:
        g["members"] = [*g["members"], "late1"]
    ws.write(groups)
    assert ws.plan("-o", "plan.json").code == 0
    seqs = [
        ws.control("message", GroupId=g["id"], Account=account)["MsgSeq"]
        for g in groups
        for account in ws.members(g["id"])
    ]
    assert len(seqs) > 8 and min(seqs) >= 1
    run = ws.cli("apply", "--plan", "plan.json")
    assert run.code == 0, run
    ws.assert_clean()


def test_saved_plan_for_a_group_created_meanwhile_is_stale(ws: Workspace) -> None:
    group = base_group("Public")
    ws.write([group])
    assert ws.plan("-o", "plan.json").code == 0
    ws.seed([{"GroupId": "pub-1", "Type": "Public", "Name": "Other", "Owner_Account": "x"}])
    run = ws.cli("apply", "--plan", "plan.json")
    assert run.code == 1 and "pub-1" in run.err, run
    assert ws.live("pub-1")["Name"] == "Other"


def test_already_a_member_counts_as_success(ws: Workspace) -> None:
    group = base_group("Public")
    ws.write([group])
    ws.converge()
    group["members"] = [*group["members"], {"account": "late1", "name_card": "L"}, "late2"]
    ws.write([group])
    assert ws.plan("-o", "plan.json").code == 0
    doc = json.loads((ws.dir / "plan.json").read_text())
    assert any(op["api"] == "import_group_member" for op in doc["operations"])
    assert ws.cli("apply", "--plan", "plan.json").code == 0
    # The same operations again, as after a run cut off once its calls reached the server:
    # every import answers "already a member" (Result 2), which is success.
    saved = engine.read_plan(ws.dir / "plan.json")
    result, _ = asyncio.run(engine.apply(saved.app, saved.base_dir, saved.operations))
    assert result.ok and result.calls_done == len(saved.operations), result.failures
    ws.assert_clean()


@pytest.mark.parametrize("gtype", list(MEMBER_TYPES))
def test_owner_change_with_unmanaged_members_converges(ws: Workspace, gtype: str) -> None:
    """The new owner must be a member first, even when the config does not list members."""
    group = base_group(gtype)
    gid = group["id"]
    ws.write([group])
    ws.converge()
    del group["members"]
    group["owner"] = "outsider"
    ws.write([group])
    ws.converge()
    assert ws.live(gid)["Owner_Account"] == "outsider"
    assert set(live_members(ws, gid)) == {"o1", "m1", "m2", "m3", "outsider"}


def test_lowering_max_members_below_the_members_kept_is_a_plan_error(ws: Workspace) -> None:
    group = base_group("Public")
    ws.write([group])
    ws.converge()
    group.update(members_mode="additive", members=["m1"], max_members=3)  # 4 members stay
    ws.write([group])
    run = ws.plan()
    assert run.code == 1, run
    assert "max_members 3" in run.out and "4 members" in run.out, run
    before = ws.dump()
    assert ws.apply().code == 1
    assert ws.dump() == before


def test_avchatroom_owner_change_is_a_plan_error(ws: Workspace) -> None:
    """change_group_owner does not work on AVChatRoom groups: say so in the plan."""
    group = base_group("AVChatRoom")
    ws.write([group])
    ws.converge()
    group["owner"] = "someone-else"
    ws.write([group])
    run = ws.plan()
    assert run.code == 1, run
    assert "AVChatRoom" in run.out and "owner" in run.out, run
    assert ws.apply().code == 1
    assert ws.live("av-1")["Owner_Account"] == "o1"


@pytest.mark.parametrize("gtype", ["Public", "AVChatRoom"])
def test_custom_value_empty_string_means_delete_and_converges(ws: Workspace, gtype: str) -> None:
    """An empty Value deletes a custom key on the server; "" in the config must converge."""
    group = base_group(gtype)
    group["custom"] = {"color": "red", "blank": ""}
    if gtype != "AVChatRoom":
        group["members"] = [{"account": "m1", "custom": {"a": "1", "b": ""}}]
    ws.write([group])
    ws.converge()
    group["custom"] = {"color": ""}
    if gtype != "AVChatRoom":
        group["members"] = [{"account": "m1", "custom": {"a": ""}}]
    ws.write([group])
    ws.converge()
    assert ws.live(group["id"])["AppDefinedData"] == {}
    if gtype != "AVChatRoom":
        assert live_members(ws, group["id"])["m1"]["AppMemberDefinedData"] == {}


@pytest.mark.parametrize(
    ("owner", "live_type", "ok", "code"),
    [
        ("boss", "Public", True, "10025"),  # the request's owner owns it already
        ("someone", "Public", True, "10021"),  # taken, but it is the group asked for
        (None, "Public", True, "10021"),
        ("boss", "ChatRoom", False, "10025"),  # taken by a group of another type
    ],
)
def test_create_group_that_already_happened_is_success(
    tmp_path, owner, live_type: str, ok: bool, code: str
) -> None:
    """create_group answering 10021/10025 means "look": same type -> done, else a failure."""
    import asyncio

    from conftest import client_for, make_emulator

    from reconciler.engine import apply_operations
    from reconciler.plan import Operation
    from reconciler.state import GroupType
    from reconciler.tim.calls import CreateGroup

    app = make_emulator(tmp_path / "emu.sqlite3")
    app.state.store.seed(
        [{"GroupId": "g1", "Type": live_type, "Name": "G", "Owner_Account": "boss"}],
        accounts=["someone"],
    )
    create = CreateGroup("g1", GroupType.Public, "G", owner=owner or None)

    async def go():
        async with client_for(app) as client:
            return await apply_operations(client, [Operation("g1", "create", create)])

    result = asyncio.run(go())
    assert result.ok is ok, result.failures
    assert code in app.state.emulator.stats()["errors"]
    if not ok:
        assert "10025" in result.failures[0].message or "already" in result.failures[0].message


@pytest.mark.parametrize("gtype", list(MEMBER_TYPES))
def test_big_groups_past_every_batch_limit_converge(ws: Workspace, gtype: str) -> None:
    """Over create_group's 100 members, import's 300 and delete's 100 per call."""
    gid = MEMBER_TYPES[gtype]
    members: list[Any] = [f"u{i:03d}" for i in range(340)]
    members[5] = {"account": "u005", "role": "Admin", "name_card": "Five", "custom": {"a": "b"}}
    group = {"id": gid, "type": gtype, "name": "Big", "owner": "boss", "members": members}
    ws.write([group])
    run = ws.plan("--format", "json")
    calls = json.loads(run.out)["calls_by_api"]
    # 100 members in create_group, the other 240 in one import (not 340 in two imports).
    assert calls["create_group"] == 1 and calls["import_group_member"] == 1, calls
    assert calls["multiaccount_import"] == 4, calls
    ws.converge()
    live = live_members(ws, gid)
    assert len(live) == 341 and live["u005"]["Role"] == "Admin"
    assert live["u005"]["AppMemberDefinedData"] == {"a": "b"}
    group["members"] = members[:200]
    ws.write([group], policy={"max_removal_fraction": 0.5})
    run = ws.plan("--format", "json")
    assert json.loads(run.out)["calls_by_api"] == {"delete_group_member": 2}
    ws.converge()
    assert len(live_members(ws, gid)) == 201


def test_saved_plan_with_destroy_needs_allow_destroy(ws: Workspace) -> None:
    ws.seed([{"GroupId": "old", "Type": "Public", "Name": "Old", "Owner_Account": "o"}])
    ws.write([{"id": "old", "type": "Public", "state": "absent"}])
    assert ws.plan("-o", "plan.json").code == 0
    run = ws.cli("apply", "--plan", "plan.json")
    assert run.code == 3 and "--allow-destroy" in run.err, run
    assert ws.live("old") is not None
    assert ws.cli("apply", "--plan", "plan.json", "--allow-destroy").code == 0
    assert ws.live("old") is None
    ws.assert_clean()


def test_saved_plan_from_another_config_version_is_refused(ws: Workspace) -> None:
    ws.write([{"id": "g", "type": "Public", "name": "G"}])
    assert ws.plan("-o", "plan.json").code == 0
    ws.write([{"id": "g", "type": "Public", "name": "Changed"}])
    run = ws.cli("apply", ".", "--plan", "plan.json")
    assert run.code == 1 and "run plan again" in run.err, run
    assert ws.live("g") is None
