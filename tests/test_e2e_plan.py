"""plan, end to end: what it shows for every kind of change on every group type, its guards,
output formats, exit codes, group selection, and the number of calls observe makes."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
from conftest import SDKAPPID, Server, Workspace

NOW = int(time.time())
FUTURE = NOW + 30 * 86400
IDS = {
    "Work": "work-1",
    "Public": "pub-1",
    "Meeting": "meet-1",
    "AVChatRoom": "av-1",
    "Community": "@TGS#_comm-1",
}
API_TYPE = {"Work": "Private", "Meeting": "ChatRoom"}


def seeded(gtype: str, members: list[dict[str, Any]] | None = None, **fields: Any) -> dict:
    """A live group in the REST API's own field names."""
    group = {
        "GroupId": IDS[gtype],
        "Type": API_TYPE.get(gtype, gtype),
        "Name": "Old name",
        "Owner_Account": "o1",
        "Introduction": "old intro",
        "AppDefinedData": [{"Key": "color", "Value": "red"}, {"Key": "gone", "Value": "x"}],
        **fields,
    }
    if gtype != "AVChatRoom":
        group["MaxMemberNum"] = 50
        group["MemberList"] = members or [
            {"Member_Account": "m1", "Role": "Admin", "NameCard": "One"},
            {"Member_Account": "m2", "MsgFlag": "Discard"},
            {"Member_Account": "m3", "AppMemberDefinedData": [{"Key": "lvl", "Value": "1"}]},
        ]
    return group


def plan_json(ws: Workspace, *args: str) -> dict[str, Any]:
    run = ws.plan("--format", "json", *args)
    assert run.code in (0, 2), run
    return json.loads(run.out)


def change_of(doc: dict[str, Any], gid: str) -> dict[str, Any]:
    found = [c for c in doc["changes"] if c["group"] == gid]
    assert len(found) == 1, doc["changes"]
    return found[0]


# --- what the plan shows -----------------------------------------------------------------------


@pytest.mark.parametrize("gtype", list(IDS))
def test_plan_create_lists_everything_and_one_create_call(ws: Workspace, gtype: str) -> None:
    group: dict[str, Any] = {
        "id": IDS[gtype],
        "type": gtype,
        "name": "New",
        "owner": "o1",
        "custom": {"k": "v"},
    }
    if gtype != "AVChatRoom":
        group["members"] = ["m1", {"account": "m2", "role": "Admin"}]
    ws.write([group])
    doc = plan_json(ws, "--detailed-exitcode")
    change = change_of(doc, IDS[gtype])
    assert change["action"] == "create"
    assert {f["field"] for f in change["fields"]} >= {"name", "owner", "custom.k"}
    calls = doc["calls_by_api"]
    assert calls["create_group"] == 1
    assert calls["multiaccount_import"] == 1  # o1 (and the members) do not exist yet
    if gtype != "AVChatRoom":
        assert {m["account"] for m in change["members"] if m["action"] == "add"} >= {"m1", "m2"}
        assert "import_group_member" not in calls  # small groups get members in create_group
    assert doc["counts"]["groups_create"] == 1


@pytest.mark.parametrize("gtype", list(IDS))
def test_plan_update_shows_each_field_and_member_change(ws: Workspace, gtype: str) -> None:
    ws.seed([seeded(gtype)], accounts=["m4", "m5"])
    group: dict[str, Any] = {
        "id": IDS[gtype],
        "type": gtype,
        "name": "New name",
        "introduction": "new intro",
        "notification": "notice",
        "mute_all": True,
        "custom": {"color": "blue", "gone": None, "added": "1"},
    }
    if gtype != "AVChatRoom":
        group["max_members"] = 100
        m3: dict[str, Any] = {
            "account": "m3",
            "role": "Admin",
            "name_card": "Three",
            "msg_flag": "AcceptNotNotify",
            "custom": {"lvl": None, "team": "a"},
        }
        if gtype != "Work":
            m3["muted_until"] = FUTURE
        group["members"] = [{"account": "m1", "role": "Member"}, m3, "m4"]
    ws.write([group])
    doc = plan_json(ws, "--detailed-exitcode")
    change = change_of(doc, IDS[gtype])
    assert change["action"] == "update"
    fields = {f["field"]: (f["before"], f["after"]) for f in change["fields"]}
    assert fields["name"] == ("Old name", "New name")
    assert fields["introduction"] == ("old intro", "new intro")
    assert fields["notification"] == ("", "notice")
    assert fields["mute_all"] == (False, True)
    assert fields["custom.color"] == ("red", "blue")
    assert fields["custom.gone"][0] == "x"
    assert fields["custom.added"][1] == "1"
    calls = doc["calls_by_api"]
    if gtype == "AVChatRoom":
        assert calls == {"modify_group_base_info": 1}
        return
    assert fields["max_members"] == (50, 100)
    members = {m["account"]: m for m in change["members"]}
    assert members["m4"]["action"] == "add"
    assert members["m2"]["action"] == "remove"
    assert members["m1"]["action"] == "modify"
    assert {f["field"] for f in members["m1"]["fields"]} == {"role"}
    m3_fields = {f["field"] for f in members["m3"]["fields"]}
    expected = {"role", "name_card", "msg_flag", "custom.lvl", "custom.team"}
    if gtype != "Work":
        expected.add("muted_until")
    assert m3_fields == expected
    # One base call, one import, one modify per changed member, one delete.
    assert calls == {
        "delete_group_member": 1,
        "import_group_member": 1,
        "modify_group_base_info": 1,
        "modify_group_member_info": 2,
    }
    steps = [op["step"] for op in doc["operations"] if op["group"] == IDS[gtype]]
    assert steps == sorted(steps, key=ORDER.index), steps


ORDER = [
    "import_accounts",
    "create",
    "base",
    "import_members",
    "change_owner",
    "modify_members",
    "set_marks",
    "delete_marks",
    "remove_members",
    "lower_max",
    "destroy",
]


@pytest.mark.parametrize("gtype", ["Work", "Public", "Meeting", "Community"])
def test_plan_owner_change_and_lowering_max_members_are_ordered(ws: Workspace, gtype: str) -> None:
    ws.seed([seeded(gtype)])
    group = {
        "id": IDS[gtype],
        "type": gtype,
        "owner": "newboss",
        "max_members": 2,
        "members": ["m1"],
    }
    ws.write([group])
    doc = plan_json(ws)
    steps = [op["step"] for op in doc["operations"] if op["group"] == IDS[gtype]]
    # The new owner joins, takes over, the others leave, then the limit drops.
    assert steps == ["import_members", "change_owner", "remove_members", "lower_max"], steps
    text = ws.plan().out
    assert 'owner: "o1" -> "newboss"' in text, text


def test_plan_additive_never_removes(ws: Workspace) -> None:
    ws.seed([seeded("Public")])
    ws.write([{"id": "pub-1", "type": "Public", "members_mode": "additive", "members": ["m9"]}])
    doc = plan_json(ws)
    members = change_of(doc, "pub-1")["members"]
    assert [(m["account"], m["action"]) for m in members] == [("m9", "add")]
    assert doc["counts"]["members_remove"] == 0


def test_plan_unmanaged_fields_and_members_are_left_alone(ws: Workspace) -> None:
    ws.seed([seeded(t) for t in IDS])
    ws.write([{"id": gid, "type": t} for t, gid in IDS.items()])
    run = ws.plan("--detailed-exitcode")
    assert run.code == 0, run
    assert "No changes" in run.out


def test_plan_owner_is_never_removed_even_when_not_listed(ws: Workspace) -> None:
    ws.seed([seeded("Public")])
    ws.write([{"id": "pub-1", "type": "Public", "members": ["m1", "m2", "m3"]}])
    run = ws.plan("--detailed-exitcode")
    assert run.code == 0, run  # o1, the live owner, stays without being listed


def test_plan_avchatroom_marks_set_delete_pending(ws: Workspace) -> None:
    members = [
        {"Member_Account": "u1", "Online": True, "Marks": [1000]},
        {"Member_Account": "u2", "Online": True, "Marks": [1000, 600]},
        {"Member_Account": "u3", "Online": True},
    ]
    ws.seed([seeded("AVChatRoom", MemberList=members)])
    ws.write(
        [
            {
                "id": "av-1",
                "type": "AVChatRoom",
                "marks": {1000: ["u1", "u3"], 600: ["u2", "u3"], 1001: ["offline"]},
            }
        ]
    )
    doc = plan_json(ws, "--detailed-exitcode")
    change = change_of(doc, "av-1")
    assert change["marks_set"] == {"600": ["u3"], "1000": ["u3"]}
    assert change["marks_delete"] == {"1000": ["u2"]}
    assert change["marks_pending"] == {"1001": ["offline"]}
    assert doc["calls_by_api"] == {"modify_user_info": 2}  # one set, one delete
    text = ws.plan().out
    assert "mark 1001 pending until online: offline" in text


def test_plan_destroy_and_unknown_absent_group(ws: Workspace) -> None:
    ws.seed([seeded("Public"), seeded("Work")])
    ws.write(
        [
            {"id": "pub-1", "type": "Public", "state": "absent"},
            {"id": "never-was", "type": "Public", "state": "absent"},
            {"id": "work-1", "type": "Work"},
        ]
    )
    doc = plan_json(ws, "--detailed-exitcode")
    assert [c["group"] for c in doc["changes"]] == ["pub-1"]
    assert change_of(doc, "pub-1")["action"] == "destroy"
    assert doc["calls_by_api"] == {"destroy_group": 1}
    text = ws.plan().out
    assert "needs --allow-destroy" in text


# --- guards -------------------------------------------------------------------------------------


def big_group(n: int, **extra: Any) -> dict[str, Any]:
    members = [{"Member_Account": f"s{i:02d}"} for i in range(n - 1)]
    return {
        "GroupId": "big",
        "Type": "Public",
        "Name": "Big",
        "Owner_Account": "t1",
        "MemberList": members,
        **extra,
    }


def test_guard_removal_fraction_refuses_and_force_overrides(ws: Workspace) -> None:
    ws.seed([big_group(12)])
    keep = ["t1", *(f"s{i:02d}" for i in range(8))]  # removes 3 of 12 = 25%: allowed
    ws.write([{"id": "big", "type": "Public", "members": keep}])
    assert ws.plan().code == 0
    keep = keep[:5]  # removes 7 of 12 = 58% > 25%
    ws.write([{"id": "big", "type": "Public", "members": keep}])
    run = ws.plan("--detailed-exitcode")
    assert run.code == 3, run
    assert "Refused: group big: would remove 7 of 12 members" in run.out
    assert "--force" in run.err
    assert ws.plan("-o", "p.json").code == 3 and not (ws.dir / "p.json").exists()
    run = ws.apply()
    assert run.code == 3, run
    assert len(ws.members("big")) == 12  # nothing applied
    # The policy can allow it.
    ws.write(
        [{"id": "big", "type": "Public", "members": keep}], policy={"max_removal_fraction": 0.6}
    )
    assert ws.plan().code == 0
    ws.write([{"id": "big", "type": "Public", "members": keep}])
    # --force on plan saves the plan; --force on apply applies.
    assert ws.plan("--force", "-o", "p.json").code == 0
    assert ws.apply("--force").code == 0
    assert set(ws.members("big")) == set(keep)
    ws.assert_clean()


def test_guard_removal_fraction_does_not_apply_to_small_groups(ws: Workspace) -> None:
    ws.seed([big_group(9)])
    ws.write([{"id": "big", "type": "Public", "members": ["t1"]}])
    assert ws.plan().code == 0  # removes 8 of 9, but the group is below 10 members
    ws.converge()
    assert set(ws.members("big")) == {"t1"}


def test_guard_admin_identifier_refuses_and_force_overrides(ws: Workspace) -> None:
    group = big_group(3)
    group["MemberList"].append({"Member_Account": "administrator", "Role": "Admin"})
    ws.seed([group])
    ws.write([{"id": "big", "type": "Public", "members": ["t1", "s00", "s01"]}])
    run = ws.plan()
    assert run.code == 3, run
    assert "app admin identifier 'administrator'" in run.out
    assert ws.apply().code == 3
    assert "administrator" in ws.members("big")
    assert ws.apply("--force").code == 0
    assert "administrator" not in ws.members("big")


def test_guard_protect_refuses_even_with_force(ws: Workspace) -> None:
    ws.seed([big_group(3)])
    ws.write([{"id": "big", "type": "Public", "protect": True, "members": ["t1", "s00"]}])
    for args in ((), ("--force",)):
        run = ws.plan(*args)
        assert run.code == 3, run
        assert "protected" in run.out
        run = ws.apply(*args)
        assert run.code == 3, run
    assert len(ws.members("big")) == 3
    # Additions to a protected group are fine.
    ws.write(
        [
            {
                "id": "big",
                "type": "Public",
                "protect": True,
                "members_mode": "additive",
                "members": ["new"],
            }
        ]
    )
    ws.converge()
    assert len(ws.members("big")) == 4


def test_guard_protected_group_cannot_be_destroyed(ws: Workspace) -> None:
    ws.seed([big_group(3)])
    ws.write([{"id": "big", "type": "Public", "protect": True, "state": "absent"}])
    run = ws.apply("--allow-destroy", "--force")
    assert run.code == 1, run  # a config error: protect and absent contradict each other
    assert "protect" in run.err
    assert ws.live("big") is not None


def test_one_refused_group_blocks_the_whole_apply(ws: Workspace) -> None:
    ws.seed([big_group(12)])
    ws.write(
        [
            {"id": "big", "type": "Public", "members": ["t1"]},
            {"id": "other", "type": "Public", "name": "Other"},
        ]
    )
    assert ws.apply().code == 3
    assert ws.live("other") is None


# --- formats and exit codes ----------------------------------------------------------------------


def test_formats_text_markdown_json(ws: Workspace) -> None:
    ws.seed([seeded("Public")])
    ws.write(
        [
            {"id": "pub-1", "type": "Public", "name": "Renamed", "members": ["m1", "m9"]},
            {"id": "new-1", "type": "Meeting", "name": "New", "members": ["m1"]},
        ]
    )
    text = ws.plan()
    assert text.code == 0
    assert "~ group pub-1 (Public)" in text.out and "+ group new-1 (Meeting)" in text.out
    assert "Plan: 1 group(s) to create, 1 to update" in text.out
    assert "API calls:" in text.out and "\x1b[" not in text.out
    md = ws.plan("--format", "markdown")
    assert md.code == 0
    assert md.out.startswith("## tim-reconciler plan")
    assert "<details>" in md.out and "```diff" in md.out
    doc = json.loads(ws.plan("--format", "json").out)
    assert doc["format_version"] == 6
    assert {"counts", "calls_by_api", "changes", "operations", "errors", "refusals"} <= set(doc)
    assert doc["counts"]["groups_create"] == 1 and doc["counts"]["members_remove"] == 2
    assert sum(doc["calls_by_api"].values()) == len(doc["operations"])


def test_markdown_of_a_big_plan_is_truncated_below_60000_chars(ws: Workspace) -> None:
    members = [f"member-{i:03d}" for i in range(80)]
    groups = [
        {"id": f"g{i:03d}", "type": "Public", "name": f"G{i}", "members": members}
        for i in range(150)
    ]
    ws.write(groups)
    md = ws.plan("--format", "markdown")
    assert md.code == 0, md
    assert len(md.out) < 60_000
    assert "more changed group(s) not shown" in md.out
    assert "| 150 |" in md.out  # the totals still count every group
    text = ws.plan()
    assert text.out.count("+ group ") == 150  # text shows all


def test_detailed_exitcode(ws: Workspace) -> None:
    ws.write([{"id": "g", "type": "Public", "name": "G"}])
    assert ws.plan().code == 0
    assert ws.plan("--detailed-exitcode").code == 2
    ws.converge()
    assert ws.plan("--detailed-exitcode").code == 0


def test_group_and_exclude_group(ws: Workspace) -> None:
    ws.write([{"id": f"g{i}", "type": "Public", "name": f"G{i}"} for i in range(4)])
    doc = plan_json(ws, "--group", "g1", "--group", "g3")
    assert [c["group"] for c in doc["changes"]] == ["g1", "g3"]
    doc = plan_json(ws, "--exclude-group", "g0")
    assert [c["group"] for c in doc["changes"]] == ["g1", "g2", "g3"]
    run = ws.plan("--group", "nope")
    assert run.code == 1 and "nope" in run.err
    assert ws.apply("--group", "g2").code == 0
    assert ws.live("g2") is not None and ws.live("g1") is None
    assert plan_json(ws, "--group", "g2")["changes"] == []


def test_plan_errors_exit_1_and_apply_changes_nothing(ws: Workspace) -> None:
    ws.seed([seeded("Public")])
    ws.write([{"id": "pub-1", "type": "Meeting", "name": "x"}])
    run = ws.plan()
    assert run.code == 1, run
    assert "cannot change" in run.out
    before = ws.dump()
    assert ws.apply().code == 1
    assert ws.dump() == before


def test_missing_accounts_are_an_error_unless_imported(ws: Workspace) -> None:
    ws.write(
        [{"id": "g", "type": "Public", "name": "G", "members": ["ghost"]}],
        app={"sdkappid": SDKAPPID},
    )
    run = ws.plan()
    assert run.code == 1 and "ghost" in run.out and "create_missing_accounts" in run.out, run
    assert ws.apply().code == 1
    assert ws.live("g") is None


# --- observe makes the minimum number of calls -------------------------------------------------

GROUP_INFO_BATCH = 50  # get_group_info: at most 50 group IDs per call (reference §3)
MEMBER_PAGE = 200  # get_group_member_info: Limit at most 200 per the current page (§4)
ONLINE_PAGE = 500  # get_members: 500 members per page (§9.2)
ONLINE_CAP = 1000  # get_members without Mark lists the latest 1000 online joiners
ACCOUNT_BATCH = 100  # account_check: 100 accounts per call (§10)


def pages(n: int, size: int) -> int:
    return max(1, math.ceil(n / size))


def test_observe_uses_the_minimum_number_of_calls(server: Server, ws: Workspace, monkeypatch):
    monkeypatch.setenv("TIM_SECRET_KEY", server.key)
    live: list[dict[str, Any]] = []
    desired: list[dict[str, Any]] = []
    joining: set[str] = set()
    community_pages = 0
    online_pages = 0
    # 70 Work/Public/Meeting groups: members come whole with get_group_info.
    for i in range(70):
        gtype = ("Private", "Public", "ChatRoom")[i % 3]
        shown = {"Private": "Work", "ChatRoom": "Meeting"}.get(gtype, gtype)
        gid = f"g{i:03d}"
        have = [f"a{i}-{j}" for j in range(5)]
        live.append(
            {
                "GroupId": gid,
                "Type": gtype,
                "Name": gid,
                "Owner_Account": have[0],
                "MemberList": [{"Member_Account": a} for a in have[1:]],
            }
        )
        want = [*have, f"new{i}-a", f"new{i}-b", "shared-newcomer"]
        joining.update(want[5:])
        desired.append({"id": gid, "type": shown, "owner": have[0], "members": want})
    # Community groups with managed members (paged) and one with unmanaged members (not paged).
    for n in (1, 199, 200, 201, 450):
        gid = f"@TGS#_c{n}"
        have = [f"c{n}-{j}" for j in range(n)]
        live.append(
            {
                "GroupId": gid,
                "Type": "Community",
                "Name": gid[6:],
                "Owner_Account": have[0],
                "MemberList": [{"Member_Account": a} for a in have[1:]],
            }
        )
        desired.append({"id": gid, "type": "Community", "owner": have[0], "members": have})
        community_pages += pages(n, MEMBER_PAGE)
    live.append({"GroupId": "@TGS#_free", "Type": "Community", "Name": "f", "Owner_Account": "x"})
    desired.append({"id": "@TGS#_free", "type": "Community", "owner": "x", "name": "f"})
    # AVChatRoom groups: online lists only where marks are managed.
    av_online = {"av-big": 1200, "av-small": 3, "av-empty": 0, "av-nomarks": 50}
    av_marks = {
        "av-big": {1000: 501, 1001: 2, 600: 1},
        "av-small": {1000: 1},
        "av-empty": {1000: 0},
    }
    for gid, n in av_online.items():
        marks = av_marks.get(gid, {})
        members = []
        for j in range(n):
            on = [m for m, count in marks.items() if j < count]
            members.append({"Member_Account": f"{gid}-{j}", "Online": True, "Marks": on})
        live.append(
            {
                "GroupId": gid,
                "Type": "AVChatRoom",
                "Name": gid,
                "Owner_Account": "o1",
                "MemberList": members,
            }
        )
        want: dict[str, Any] = {"id": gid, "type": "AVChatRoom", "owner": "o1"}
        if gid in av_marks:
            want["marks"] = {m: [f"{gid}-{j}" for j in range(c)] for m, c in marks.items()}
            visible = sum(1 for m in members if 600 not in m["Marks"])
            online_pages += pages(min(visible, ONLINE_CAP), ONLINE_PAGE)
            online_pages += sum(pages(c, ONLINE_PAGE) for c in marks.values())
        desired.append(want)
    # New groups: everybody in them joins.
    for i in range(3):
        want_members = [f"fresh{i}-{j}" for j in range(40)]
        joining.update(want_members)
        desired.append({"id": f"fresh{i}", "type": "Public", "name": "F", "members": want_members})
    store = server_store(server)
    store.seed(live, accounts=["o1", "x"])
    store.close()

    ws.write(desired, app=server.app(create_missing_accounts=True))
    before = server.stats()["requests"]
    run = ws.plan("--format", "json")
    assert run.code == 0, run
    after = server.stats()["requests"]
    made = {k.split("/")[1]: after.get(k, 0) - before.get(k, 0) for k in after}
    made = {k: v for k, v in made.items() if v}

    groups = len(desired)
    assert groups == 70 + 5 + 1 + 4 + 3
    expected = {
        "get_group_info": math.ceil(groups / GROUP_INFO_BATCH),
        "get_group_member_info": community_pages,
        "get_members": online_pages,
        "account_check": math.ceil(len(joining) / ACCOUNT_BATCH),
    }
    assert made == expected


def server_store(server: Server):
    from reconciler.emulator import EmulatorStore

    return EmulatorStore(server.db)


def test_observe_of_matching_groups_needs_no_account_check(
    server: Server, ws: Workspace, monkeypatch
):
    """Owners that already own their groups are not checked (AVChatRoom, unmanaged members)."""
    monkeypatch.setenv("TIM_SECRET_KEY", server.key)
    store = server_store(server)
    store.seed(
        [
            {"GroupId": "av", "Type": "AVChatRoom", "Name": "av", "Owner_Account": "o1"},
            {"GroupId": "@TGS#_c", "Type": "Community", "Name": "c", "Owner_Account": "o2"},
            {"GroupId": "pub", "Type": "Public", "Name": "p", "Owner_Account": "o3"},
        ]
    )
    store.close()
    ws.write(
        [
            {"id": "av", "type": "AVChatRoom", "owner": "o1"},
            {"id": "@TGS#_c", "type": "Community", "owner": "o2"},
            {"id": "pub", "type": "Public", "owner": "o3"},
        ],
        app=server.app(),
    )
    before = server.stats()["requests"]
    run = ws.plan("--detailed-exitcode")
    assert run.code == 0, run
    after = server.stats()["requests"]
    made = {
        k.split("/")[1]: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)
    }
    assert made == {"get_group_info": 1}


def test_destroying_groups_reads_no_members_and_shows_member_count(
    server: Server, ws: Workspace, monkeypatch
):
    monkeypatch.setenv("TIM_SECRET_KEY", server.key)
    store = server_store(server)
    members = [{"Member_Account": f"u{i}", "Online": True, "Marks": [1000]} for i in range(3)]
    store.seed(
        [
            {
                "GroupId": "@TGS#_c",
                "Type": "Community",
                "Name": "c",
                "Owner_Account": "o",
                "MemberList": members[:2],
            },
            {"GroupId": "av", "Type": "AVChatRoom", "Name": "av", "MemberList": members},
        ]
    )
    store.close()
    ws.write(
        [
            {"id": "@TGS#_c", "type": "Community", "state": "absent", "members": ["o"]},
            {"id": "av", "type": "AVChatRoom", "state": "absent", "marks": {1000: []}},
        ],
        app=server.app(),
    )
    before = server.stats()["requests"]
    run = ws.plan("--detailed-exitcode")
    assert run.code == 2, run
    assert "destroy group with 3 member(s)" in run.out, run
    after = server.stats()["requests"]
    made = {
        k.split("/")[1]: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)
    }
    assert made == {"get_group_info": 1}


def test_plan_made_as_groups_are_read_equals_the_plan_from_a_whole_observation(
    ws: Workspace,
) -> None:
    """plan diffs each group as soon as it is read in full and lets its members go (a million
    are never all held); that plan is the one a complete observation gives, in config order."""
    import asyncio

    from reconciler import engine, planfile, render
    from reconciler.config import load_config
    from reconciler.connect import make_client
    from reconciler.observe import observe
    from reconciler.plan import build_plan
    from reconciler.revision import Revision

    ws.seed([seeded(t) for t in IDS], accounts=["o1", "m1", "m2", "m3", "n1", "n2"])
    desired = []
    for gtype, gid in IDS.items():
        group: dict[str, Any] = {"id": gid, "type": gtype, "name": "New name", "owner": "o1"}
        if gtype != "AVChatRoom":
            group["members"] = [{"account": "m1", "name_card": "Uno"}, "m2", "n1", "n2"]
        desired.append(group)
    desired.append({"id": "new-1", "type": "Public", "name": "New", "members": ["n1"]})
    ws.write(desired)
    config = load_config(ws.dir)

    streamed = asyncio.run(engine.plan(config))

    async def whole():
        async with make_client(config.app, config.base_dir) as client:
            return await observe(client, config.groups)

    observation = asyncio.run(whole())
    assert len(observation.groups["pub-1"].members) == 4  # kept without a settle
    full = build_plan(
        config.groups,
        observation,
        admin=config.app.admin,
        max_removal_fraction=config.policy.max_removal_fraction,
        create_missing_accounts=config.app.create_missing_accounts,
    )
    assert observation.groups["pub-1"].members_released  # the plan let them go, as streamed

    def doc(plan):
        return planfile.document(
            plan,
            app={},
            endpoint="",
            inputs={"values": [], "vars": []},
            desired=config.groups,
            selection=planfile.Selection(),
            forced=False,
            before=render.before_values(plan),
            revision=Revision("sha256:test", 0),
        )

    assert [c.group_id for c in streamed.changes] == [g.id for g in config.groups]
    assert doc(streamed) == doc(full)
    assert streamed.counts()["members_remove"] == 4 and streamed.counts()["members_add"] == 9
