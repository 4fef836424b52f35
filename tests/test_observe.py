"""Reading the live state with the fewest calls (reconciler.observe), against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import client_for, make_emulator

from reconciler.errors import ObserveError
from reconciler.observe import observe, read_groups
from reconciler.state import Group, GroupType, Member
from reconciler.tim import wire


def _app(tmp_path: Path, groups: list[dict], accounts=()):
    app = make_emulator(tmp_path / "emu.sqlite3")
    app.state.store.seed(groups, accounts=list(accounts))
    return app


def _calls(app) -> dict[str, int]:
    return {k.split("/")[1]: v for k, v in app.state.emulator.stats()["requests"].items()}


async def test_fifty_groups_per_read_and_community_members_by_paging(tmp_path: Path) -> None:
    live = [
        {"GroupId": f"p{i}", "Type": "Public", "Name": "P", "Owner_Account": "o"}
        for i in range(120)
    ]
    community = {
        "GroupId": "@TGS#_c",
        "Type": "Community",
        "Name": "C",
        "Owner_Account": "o",
        "MemberList": [{"Member_Account": f"m{i}"} for i in range(450)],
    }
    app = _app(tmp_path, [*live, community])
    desired = [Group(id=g["GroupId"], type=GroupType.Public, members={}) for g in live]
    desired.append(Group(id="@TGS#_c", type=GroupType.Community, members={}))
    settled: list[str] = []
    async with client_for(app) as client:
        observation = await observe(client, desired, lambda want, have: settled.append(want.id))
    calls = _calls(app)
    assert calls["get_group_info"] == 3  # 121 groups, 50 per call
    assert calls["get_group_member_info"] == 3  # 451 members, 200 per page
    assert sorted(settled) == sorted(g.id for g in desired)
    assert len(observation.groups["@TGS#_c"].members) == 451
    assert list(observation.groups) == [g.id for g in desired]  # in the config's order


async def test_groups_with_reads_to_follow_are_read_first_and_results_keep_the_config_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Community listed last in the config is in the first get_group_info call, so its
    member pages run beside the other groups' reads; the observation stays in config order."""
    live = [
        {"GroupId": f"p{i}", "Type": "Public", "Name": "P", "Owner_Account": "o"}
        for i in range(120)
    ]
    community = {"GroupId": "@TGS#_c", "Type": "Community", "Name": "C", "Owner_Account": "o"}
    app = _app(tmp_path, [*live, community])
    desired = [Group(id=g["GroupId"], type=GroupType.Public, members={}) for g in live]
    desired.append(Group(id="@TGS#_c", type=GroupType.Community, members={}))
    asked: list[list[str]] = []
    async with client_for(app) as client:
        read = wire.groups.get_group_profiles

        async def recorded(client, ids: list[str], *rest):
            asked.append(list(ids))
            return await read(client, ids, *rest)

        monkeypatch.setattr(wire.groups, "get_group_profiles", recorded)
        observation = await observe(client, desired)
    assert asked[0][0] == "@TGS#_c" and len(asked) == 3
    assert list(observation.groups) == [g.id for g in desired]


async def test_only_accounts_that_would_join_are_checked_and_missing_ones_reported(
    tmp_path: Path,
) -> None:
    app = _app(
        tmp_path,
        [{"GroupId": "g", "Type": "Public", "Name": "G", "Owner_Account": "o"}],
        accounts=["known"],
    )
    want = Group(
        id="g",
        type=GroupType.Public,
        members={a: Member(account=a) for a in ("o", "known", "ghost")},
    )
    async with client_for(app) as client:
        observation = await observe(client, [want])
    assert observation.missing_accounts == {"ghost"}
    assert _calls(app)["account_check"] == 1


async def test_avchatroom_marks_are_read_per_declared_mark_and_nothing_else(tmp_path: Path) -> None:
    room = {
        "GroupId": "@TGS#aLive",
        "Type": "AVChatRoom",
        "Name": "L",
        "Owner_Account": "o",
        "MemberList": [
            {"Member_Account": "h", "Online": True, "Marks": [1000]},
            {"Member_Account": "v", "Online": True},
        ],
    }
    app = _app(tmp_path, [room])
    want = Group(id="@TGS#aLive", type=GroupType.AVChatRoom, marks={1000: ["h"], 1001: []})
    async with client_for(app) as client:
        observation = await observe(client, [want])
    have = observation.groups["@TGS#aLive"]
    assert have.marks == {1000: ["h"]} and have.online == ["h", "v"]
    assert _calls(app)["get_members"] == 3  # the online list, then marks 1000 and 1001
    unmanaged = Group(id="@TGS#aLive", type=GroupType.AVChatRoom)
    async with client_for(app) as client:
        await observe(client, [unmanaged])
    assert _calls(app)["get_members"] == 3  # marks not managed: not read


async def test_a_group_that_does_not_exist_is_observed_as_none(tmp_path: Path) -> None:
    app = _app(tmp_path, [])
    async with client_for(app) as client:
        observation = await observe(client, [Group(id="nope", type=GroupType.Public, name="N")])
    assert observation.groups == {"nope": None}


async def test_read_groups_returns_whole_member_lists_for_export(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        [
            {"GroupId": "w", "Type": "Work", "Name": "W", "Owner_Account": "o",
             "MemberList": [{"Member_Account": "a"}]},
            {"GroupId": "@TGS#_c", "Type": "Community", "Name": "C", "Owner_Account": "o"},
        ],
    )  # fmt: skip
    async with client_for(app) as client:
        groups = await read_groups(client, ["w", "@TGS#_c"])
    assert [sorted(g.members) for g in groups] == [["a", "o"], ["o"]]


async def test_read_groups_names_the_missing_groups_or_lists_them(tmp_path: Path) -> None:
    app = _app(tmp_path, [{"GroupId": "w", "Type": "Work", "Name": "W", "Owner_Account": "o"}])
    async with client_for(app) as client:
        with pytest.raises(ObserveError, match="not found in the app: gone, lost"):
            await read_groups(client, ["gone", "w", "lost"])
        missing: list[str] = []
        taken: list[str] = []
        await read_groups(client, ["gone", "w"], missing=missing, take=lambda g: taken.append(g.id))
    assert missing == ["gone"] and taken == ["w"]


def _community(n: int, **member: object) -> dict:
    members = [{"Member_Account": f"m{i}"} for i in range(n - 1)]
    members[1] = {**members[1], **member}
    return {
        "GroupId": "@TGS#_big",
        "Type": "Community",
        "Name": "Big",
        "Owner_Account": "o",
        "MemberList": members,
    }


def _declared(mode: str) -> Group:
    members = {
        "m0": Member(account="m0"),
        "m1": Member(account="m1", name_card="One"),
        "newbie": Member(account="newbie"),
    }
    return Group(id="@TGS#_big", type=GroupType.Community, members_mode=mode, members=members)


def _ops(plan) -> list:
    from reconciler.tim.calls import request_to_json

    return [(op.step, op.api, request_to_json(op.request)) for op in plan.operations]


async def test_an_additive_community_reads_only_its_declared_members_and_plans_the_same(
    tmp_path: Path,
) -> None:
    """3 declared accounts of a 5,000-member Community: one read by name, not 25 pages, and the
    plan is the one a full read gives."""
    from reconciler.observe import Observation
    from reconciler.plan import build_plan

    app = _app(tmp_path, [_community(5000, NameCard="old")], accounts=["newbie"])
    want = _declared("additive")
    async with client_for(app) as client:
        observation = await observe(client, [want])
        whole = await read_groups(client, [want.id])
    calls = _calls(app)
    assert calls["get_specified_group_member_info"] == 1
    # the only pages are export's full read
    assert calls["get_group_member_info"] == 25
    have = observation.groups[want.id]
    assert sorted(have.members) == ["m0", "m1", "o"] and have.members_selected
    assert have.member_num == 5000
    options = {"admin": "administrator", "max_removal_fraction": 1.0}
    by_name = build_plan([want], observation, **options)
    full = build_plan([want], Observation({want.id: whole[0]}), **options)
    assert _ops(by_name) == _ops(full)
    assert [api for _, api, _ in _ops(by_name)] == [
        "import_group_member",
        "modify_group_member_info",
    ]
    assert not by_name.errors and by_name.counts() == full.counts()


async def test_an_authoritative_community_still_pages_every_member(tmp_path: Path) -> None:
    app = _app(tmp_path, [_community(5000)], accounts=["newbie"])
    async with client_for(app) as client:
        observation = await observe(client, [_declared("authoritative")])
    calls = _calls(app)
    assert calls["get_group_member_info"] == 25 and "get_specified_group_member_info" not in calls
    assert len(observation.groups["@TGS#_big"].members) == 5000


async def test_additive_groups_listed_whole_or_small_need_no_read_by_name(tmp_path: Path) -> None:
    public = {**_community(120), "GroupId": "pub", "Type": "Public"}
    app = _app(tmp_path, [public], accounts=["newbie"])
    want = _declared("additive").model_copy(update={"id": "pub", "type": GroupType.Public})
    async with client_for(app) as client:
        await observe(client, [want])
    calls = _calls(app)  # get_group_info lists a Public group whole: nothing more to read
    assert "get_specified_group_member_info" not in calls and "get_group_member_info" not in calls


async def test_many_declared_accounts_page_when_pages_are_fewer(tmp_path: Path) -> None:
    app = _app(tmp_path, [_community(400)])
    members = {f"m{i}": Member(account=f"m{i}") for i in range(300)}
    want = Group(id="@TGS#_big", type=GroupType.Community, members_mode="additive", members=members)
    async with client_for(app) as client:
        await observe(client, [want])
    calls = _calls(app)  # 301 accounts by name: 7 calls; 400 members: 2 pages
    assert calls["get_group_member_info"] == 2 and "get_specified_group_member_info" not in calls


def test_the_benchmarks_minimum_reads_declared_members_of_additive_groups_by_name() -> None:
    """benchmarks.scale_shape counts from the shape and the documented limits: 3 declared
    accounts and the owner of a 5,000-member additive Community are 1 read by name; the same
    group authoritative is 25 pages; the stale check reads only the members the plan touches."""
    from benchmarks.scale_shape import DEFAULT, GroupShape, Shape, minimum

    live = {"o": ("Owner", *DEFAULT[1:]), **{f"m{i}": DEFAULT for i in range(4999)}}
    want = {"m0": DEFAULT, "m1": ("Member", "One", *DEFAULT[2:]), "m2": DEFAULT}
    profile = ("Big", "", "")
    group = GroupShape(
        "@TGS#_big", "Community", "Community", "o", True, "present", profile, profile
    )
    group.live, group.want, group.mode = live, want, "additive"
    mins = minimum(Shape([group], sorted(live), set(), 1_800_000_000))
    assert mins.observe == {"get_group_info": 1, "get_specified_group_member_info": 1}
    assert mins.apply == {"modify_group_member_info": 1}
    assert mins.stale == {"get_group_info": 1, "get_specified_group_member_info": 1}
    group.mode, group.want = "authoritative", dict(live)
    group.want["m1"] = want["m1"]
    mins = minimum(Shape([group], sorted(live), set(), 1_800_000_000))
    assert mins.observe == {"get_group_info": 1, "get_group_member_info": 25}
    assert mins.stale == {"get_group_info": 1, "get_specified_group_member_info": 1}


def test_the_benchmarks_stale_check_floor_counts_its_reads_and_their_chain() -> None:
    """benchmarks.scale_shape's floor of apply --plan's stale check: its busiest read API at
    the rate limit plus one latency per dependent step: get_group_info, then the touched
    members, by name side by side, or a Community's pages one ``Next`` after another."""
    from benchmarks.scale_shape import DEFAULT, GroupShape, Shape, minimum

    live = {"o": ("Owner", *DEFAULT[1:]), **{f"m{i}": DEFAULT for i in range(599)}}
    changed = ("Member", "Card", *DEFAULT[2:])
    profile = ("Big", "", "")
    group = GroupShape("@TGS#_c", "Community", "Community", "o", True, "present", profile, profile)
    group.live = live
    group.want = {a: changed if a != "o" else t for a, t in live.items()}  # 599 modified
    mins = minimum(Shape([group], sorted(live), set(), 1_800_000_000))
    # 599 by name is 12 calls, 600 members paged is 3: paged, one page after another
    assert mins.stale == {"get_group_info": 1, "get_group_member_info": 3}
    assert mins.stale_depth == 1 + 3
    assert mins.stale_floor_s(200, 0.02) == pytest.approx(3 / 200 + 4 * 0.02)
    group.want = {**live, "m1": changed}  # one modified: read by name, one step
    mins = minimum(Shape([group], sorted(live), set(), 1_800_000_000))
    assert mins.stale == {"get_group_info": 1, "get_specified_group_member_info": 1}
    assert mins.stale_depth == 2


async def test_the_stale_checks_group_read_asks_only_for_what_a_fingerprint_reads(
    tmp_path: Path,
) -> None:
    members = [
        {"Member_Account": "a", "NameCard": "A", "AppMemberDefinedData": [
            {"Key": "dept", "Value": "x"}, {"Key": "other", "Value": "y"}]},
    ]  # fmt: skip
    app = _app(
        tmp_path,
        [
            {"GroupId": "g", "Type": "Public", "Name": "G", "Owner_Account": "o",
             "AppDefinedData": [{"Key": "k", "Value": "v"}, {"Key": "z", "Value": "w"}],
             "MemberList": members},
        ],
    )  # fmt: skip
    async with client_for(app) as client:
        bare = (await wire.groups.get_group_profiles(client, ["g"], ["k"]))[0]
        listed = (await wire.groups.get_group_profiles(client, ["g"], [], ["dept"]))[0]
        cards = (await wire.groups.get_group_profiles(client, ["g"], [], [], ["name_card"]))[0]
    # only the fields asked for: a plan that changes name cards is checked by name cards
    assert {m["Member_Account"]: m for m in cards["MemberList"]}["a"] == {
        "Member_Account": "a",
        "NameCard": "A",
    }
    assert "MemberList" not in bare and bare["AppDefinedData"] == [{"Key": "k", "Value": "v"}]
    assert bare["Name"] == "G" and bare["MemberNum"] == 2 and bare["Owner_Account"] == "o"
    a = next(m for m in listed["MemberList"] if m["Member_Account"] == "a")
    assert a["NameCard"] == "A" and a["AppMemberDefinedData"] == [{"Key": "dept", "Value": "x"}]
    assert "JoinTime" not in a and "MsgSeq" not in a  # chat moves these: not asked for
