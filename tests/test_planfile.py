"""The saved plan (reconciler.planfile): what it records, what apply --plan honours and refuses."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from conftest import Workspace

from reconciler import __version__, planfile
from reconciler.config import AppConfig
from reconciler.errors import PlanFileError
from reconciler.plan import Operation, Plan, Scope
from reconciler.revision import Revision
from reconciler.state import Group, GroupType
from reconciler.tim import wire
from reconciler.tim.calls import ChangeMarks, CreateGroup, ImportMembers, Joiner, ModifyMember


def _group(gid: str, *members: str) -> dict:
    return {
        "id": gid,
        "type": "Public",
        "name": gid,
        "owner": "boss",
        "members": ["boss", *members],
    }


def test_operations_survive_the_file_as_the_same_typed_requests(tmp_path: Path) -> None:
    ops = [
        Operation(
            "g1",
            "create",
            CreateGroup("g1", GroupType.Public, "G", owner="o", members=[Joiner("a", admin=True)]),
        ),
        Operation("g1", "import_members", ImportMembers("g1", [Joiner("b", join_time=5)])),
        Operation(
            "g1", "modify_members", ModifyMember("g1", "b", muted_until=9, custom={"k": None})
        ),
        Operation("live", "set_marks", ChangeMarks("live", {"h": [1000, 1001]})),
    ]
    desired = [
        Group(id="g1", type=GroupType.Public, name="G"),
        Group(id="live", type=GroupType.AVChatRoom, name="L"),
    ]
    plan = Plan([], ops, fingerprints={"g1": "f1", "live": "f2"})
    plan.scopes = {"g1": Scope(), "live": Scope(marks=(1000, 1001))}
    doc = planfile.document(
        plan,
        app=AppConfig(sdkappid=1400000000).model_dump(),
        endpoint="local",
        inputs={"values": [], "vars": []},
        desired=desired,
        selection=planfile.Selection(["g1"], []),
        forced=False,
        before={},
        revision=Revision("sha256:test", 0),
    )
    path = tmp_path / "p.json"
    planfile.write(path, doc, "k")
    saved = planfile.read(path, lambda app: "k")
    assert saved.operations == ops
    assert saved.selection == planfile.Selection(["g1"], [])
    assert saved.tool_version == __version__ and saved.forced == []


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"{", r"not a plan file \(not JSON\)"),
        (b"[]", "not a tim-reconciler plan file"),
        (b'{"tool": "tim-reconciler", "format_version": 4}', "format_version 4 is not 7"),
        (b'{"tool": "tim-reconciler", "format_version": 6}', "format_version 6 is not 7"),
    ],
)
def test_an_unusable_plan_file_is_a_plan_file_error_naming_it(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(PlanFileError, match=needle) as caught:
        planfile.read(path, lambda app: "k")
    assert str(path) in str(caught.value)


def test_the_plan_file_records_what_it_was_made_with(ws: Workspace) -> None:
    ws.write([_group("a", "m1"), _group("b", "m2")])
    assert ws.plan("-o", "plan.json", "--group", "a").code == 0
    doc = json.loads((ws.dir / "plan.json").read_text())
    assert doc["tool"] == "tim-reconciler" and doc["tool_version"] == __version__
    assert doc["selection"] == {"only": ["a"], "exclude": []}
    assert doc["endpoint"] == "local" and doc["app"]["sdkappid"] == 1400000000
    assert doc["forced"] == []
    assert {op["group"] for op in doc["operations"] if op["group"]} == {"a"}


@pytest.mark.parametrize(
    "extra",
    [
        ["--group", "a"],
        ["--exclude-group", "b"],
        ["--force"],
    ],
)
def test_apply_plan_refuses_options_that_would_change_the_reviewed_plan(
    ws: Workspace, extra: list[str]
) -> None:
    ws.write([_group("a", "m1"), _group("b", "m2")])
    assert ws.plan("-o", "plan.json").code == 0
    before = ws.dump()
    run = ws.cli("apply", "--plan", "plan.json", *extra)
    assert run.code == 1, run
    assert extra[0] in run.err and "cannot be combined with --plan" in run.err, run
    assert ws.dump() == before


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--values", "vals/v.yaml"], "was made with no values files"),
        (["--var", "x=1"], "--var x: the plan was made without it"),
    ],
)
def test_apply_plan_refuses_inputs_the_plan_was_not_made_with(
    ws: Workspace, extra: list[str], needle: str
) -> None:
    ws.write([_group("a", "m1")])
    (ws.dir / "vals").mkdir()
    (ws.dir / "vals" / "v.yaml").write_text("x: 1\n")
    assert ws.plan("-o", "plan.json").code == 0
    run = ws.cli("apply", ".", "--plan", "plan.json", *extra)
    assert run.code == 1 and needle in run.err, run
    assert ws.live("a") is None
    run = ws.cli("apply", "--plan", "plan.json", *extra)  # no config to check them against
    assert run.code == 1 and "need the config PATH" in run.err, run


def test_a_plan_made_with_force_says_so_when_applied(ws: Workspace) -> None:
    members = [f"m{i:02d}" for i in range(12)]
    ws.write([_group("club", *members)])
    ws.converge()
    ws.write([_group("club", *members[:4])])  # 8 of 13 removed: over the 25% guard
    refused = ws.plan("-o", "plan.json")
    assert refused.code == 3 and not (ws.dir / "plan.json").exists(), refused
    assert ws.plan("-o", "plan.json", "--force").code == 0
    doc = json.loads((ws.dir / "plan.json").read_text())
    assert len(doc["forced"]) == 1 and "would remove 8 of 13" in doc["forced"][0]
    run = ws.cli("apply", "--plan", "plan.json")
    assert run.code == 0, run
    assert "made with --force" in run.err and "would remove 8 of 13" in run.err, run
    assert set(ws.members("club")) == {"boss", *members[:4]}


def test_plan_out_into_a_missing_directory_fails_before_any_call(ws: Workspace) -> None:
    ws.write([_group("a", "m1")])
    run = ws.plan("-o", "no/such/dir/p.json")
    assert run.code == 1 and "no/such/dir" in run.err and "does not exist" in run.err, run
    assert not ws.db.exists()  # the emulator was never started: no call was made


def dept(value: str) -> dict:
    return {"Key": "dept", "Value": value}


def _console_edit(ws: Workspace, base: dict | None = None, member: dict | None = None) -> None:
    """Someone edits the group in the console between plan and apply."""
    from conftest import client_for, make_emulator

    async def edit() -> None:
        async with client_for(make_emulator(ws.db)) as client:
            if base:
                await wire.groups.modify_group_base_info(client, {"GroupId": "club", **base})
            if member:
                await wire.members.modify_group_member_info(client, {"GroupId": "club", **member})

    asyncio.run(edit())


@pytest.mark.parametrize(
    ("edit", "stale"),
    [
        ({"base": {"FaceUrl": "https://x.example/f.png"}}, False),
        ({"base": {"Notification": "read me"}}, False),
        ({"base": {"ApplyJoinOption": "FreeAccess"}}, False),
        ({"member": {"Member_Account": "m1", "NameCard": "M-one"}}, False),  # declared bare
        # m2's name card is declared but the plan leaves m2 alone: the next plan sets it back
        ({"member": {"Member_Account": "m2", "NameCard": "Two!"}}, False),
        # the plan changes m3's name card: an edit of what m3 declares makes it stale
        ({"member": {"Member_Account": "m3", "NameCard": "Three!"}}, True),
        ({"member": {"Member_Account": "m3", "MsgFlag": "Discard"}}, True),
        ({"member": {"Member_Account": "m3", "Role": "Admin"}}, False),  # m3 declares no role
        ({"member": {"Member_Account": "m3", "AppMemberDefinedData": [dept("b")]}}, True),
        (
            {
                "member": {
                    "Member_Account": "m3",
                    "AppMemberDefinedData": [{"Key": "x", "Value": "1"}],
                }
            },
            False,
        ),
        ({"base": {"Introduction": "changed"}}, True),  # declared
    ],
)
def test_the_stale_check_covers_what_the_plan_manages_and_only_that(
    ws: Workspace, edit: dict, stale: bool
) -> None:
    group = {
        "id": "club",
        "type": "Public",
        "name": "Club",
        "introduction": "Hello",
        "owner": "boss",
        "members": [
            "boss",
            "m1",
            {"account": "m2", "name_card": "Two"},
            {
                "account": "m3",
                "name_card": "Three",
                "msg_flag": "AcceptAndNotify",
                "custom": {"dept": "a"},
            },
        ],
    }
    ws.write([group])
    ws.converge()
    m3 = {**group["members"][3], "name_card": "Three v2"}
    ws.write([{**group, "name": "Club v2", "members": [*group["members"][:3], m3]}])
    assert ws.plan("-o", "plan.json").code == 0
    _console_edit(ws, **edit)
    run = ws.cli("apply", "--plan", "plan.json")
    if stale:
        assert run.code == 1 and "stale" in run.err and "club" in run.err, run
        assert ws.live("club")["Name"] == "Club"
    else:
        assert run.code == 0, run
        assert ws.live("club")["Name"] == "Club v2"


def _calls(app) -> dict[str, int]:
    """Calls the emulator has answered, by API."""
    return {k.split("/")[1]: v for k, v in app.state.emulator.stats()["requests"].items()}


async def _check_calls(app, client, saved: planfile.SavedPlan) -> dict[str, int]:
    """The calls one stale check of ``saved`` makes, by API."""
    before = _calls(app)
    await planfile.check_fresh(client, saved)
    made = {api: n - before.get(api, 0) for api, n in _calls(app).items()}
    return {api: n for api, n in made.items() if n}


def _saved(tmp_path: Path, plan, desired) -> planfile.SavedPlan:
    """``plan`` as ``plan --out`` saves it and ``apply --plan`` reads it back."""
    from conftest import SDKAPPID

    doc = planfile.document(
        plan,
        app=AppConfig(sdkappid=SDKAPPID).model_dump(),
        endpoint="local",
        inputs={"values": [], "vars": []},
        desired=desired,
        selection=planfile.Selection(),
        forced=False,
        before={},
        revision=Revision("sha256:test", 0),
    )
    planfile.write(tmp_path / "plan.json", doc, "k")
    return planfile.read(tmp_path / "plan.json", lambda app: "k")


async def test_the_stale_check_reads_only_what_the_plan_touches(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 5,000-member Community where the plan changes one member, and 60 renamed groups: the
    stale check is 2 get_group_info calls and 1 read by name, not 25 pages of members, and
    says so while other reads (the lock's) share its client; a console edit of the touched
    member still makes it refuse, naming the group."""
    from conftest import client_for, make_emulator, plan_groups

    from reconciler.errors import StalePlanError
    from reconciler.state import Group, Member

    app = make_emulator(tmp_path / "emu.sqlite3")
    accounts = [f"m{i}" for i in range(4999)]
    big = {
        "GroupId": "@TGS#_big",
        "Type": "Community",
        "Name": "Big",
        "Owner_Account": "o",
        "MemberList": [{"Member_Account": a} for a in accounts],
    }
    small = [
        {"GroupId": f"p{i}", "Type": "Public", "Name": "P", "Owner_Account": "o"} for i in range(60)
    ]
    app.state.store.seed([big, *small], accounts=["o", *accounts])
    declared = {a: Member(account=a) for a in ["o", *accounts]}
    declared["m1"] = Member(account="m1", name_card="One")
    desired = [Group(id="@TGS#_big", type=GroupType.Community, owner="o", members=declared)]
    desired += [Group(id=g["GroupId"], type=GroupType.Public, name="P v2") for g in small]

    async with client_for(app) as client:
        plan = await plan_groups(client, desired)
        assert len(plan.operations) == 61, plan.operations
        saved = _saved(tmp_path, plan, desired)
        assert await _check_calls(app, client, saved) == {
            "get_group_info": 2,
            "get_specified_group_member_info": 1,
        }
        beside = [wire.groups.get_group_info(client, ["p0"]) for _ in range(4)]
        with caplog.at_level(logging.INFO, logger="reconciler.planfile"):
            await asyncio.gather(planfile.check_fresh(client, saved), *beside)
        assert "read again in 3 call(s)" in caplog.text, caplog.text
        edit = {"GroupId": "@TGS#_big", "Member_Account": "m1", "NameCard": "Edited"}
        await wire.members.modify_group_member_info(client, edit)
        with pytest.raises(StalePlanError) as refused:
            await planfile.check_fresh(client, saved)
    assert "@TGS#_big" in str(refused.value) and "p0" not in str(refused.value)


async def test_the_stale_check_reads_the_marks_a_plan_changes_not_the_online_list(
    tmp_path: Path,
) -> None:
    """A live room with 1,200 online members where the plan sets mark 1000 on one more: the
    stale check reads mark 1000 (one get_members call), not the two pages of the online list
    (its latest 1,000) the plan needed; someone else changing mark 1000 meanwhile still makes
    it refuse."""
    from conftest import client_for, make_emulator, plan_groups

    from reconciler.errors import StalePlanError
    from reconciler.state import Group
    from reconciler.tim.calls import ChangeMarks

    app = make_emulator(tmp_path / "emu.sqlite3")
    online = [f"u{i}" for i in range(1200)]
    room = {
        "GroupId": "live",
        "Type": "AVChatRoom",
        "Name": "Live",
        "Owner_Account": "o",
        "MemberList": [
            {"Member_Account": a, "Online": True, "Marks": [1000] if i < 2 else []}
            for i, a in enumerate(online)
        ],
    }
    app.state.store.seed([room], accounts=["o", *online])
    marks = {1000: [*online[:2], online[-1]]}  # the latest joiner is in the online list
    desired = [Group(id="live", type=GroupType.AVChatRoom, owner="o", marks=marks)]

    async with client_for(app) as client:
        plan = await plan_groups(client, desired)
        assert _calls(app)["get_members"] == 2 + 1
        assert [op.api for op in plan.operations] == ["modify_user_info"]
        saved = _saved(tmp_path, plan, desired)
        assert await _check_calls(app, client, saved) == {"get_group_info": 1, "get_members": 1}
        await ChangeMarks(group_id="live", marks={"u5": [1000]}).send(client)
        with pytest.raises(StalePlanError) as refused:
            await planfile.check_fresh(client, saved)
    assert "live" in str(refused.value)


async def test_the_stale_check_spreads_equal_member_reads_over_both_apis(tmp_path: Path) -> None:
    """Four 100-member Communities, one member modified in each: read by name or paged, each
    takes one call, so the stale check reads two by name and pages two (each API has its own
    rate limit), and a console edit of one touched member still makes it refuse."""
    from conftest import client_for, make_emulator, plan_groups

    from reconciler.errors import StalePlanError
    from reconciler.state import Group, Member

    app = make_emulator(tmp_path / "emu.sqlite3")
    accounts = [f"m{i}" for i in range(99)]
    ids = [f"@TGS#_c{i}" for i in range(4)]
    live = [
        {
            "GroupId": gid,
            "Type": "Community",
            "Name": "C",
            "Owner_Account": "o",
            "MemberList": [{"Member_Account": a} for a in accounts],
        }
        for gid in ids
    ]
    app.state.store.seed(live, accounts=["o", *accounts])
    declared = {a: Member(account=a) for a in ["o", *accounts]}
    declared["m1"] = Member(account="m1", name_card="One")
    desired = [Group(id=gid, type=GroupType.Community, owner="o", members=declared) for gid in ids]

    async with client_for(app) as client:
        plan = await plan_groups(client, desired)
        assert len(plan.operations) == 4, plan.operations
        saved = _saved(tmp_path, plan, desired)
        assert await _check_calls(app, client, saved) == {
            "get_group_info": 1,
            "get_specified_group_member_info": 2,
            "get_group_member_info": 2,
        }
        for gid in ids:
            edit = {"GroupId": gid, "Member_Account": "m1", "NameCard": "Edited"}
            await wire.members.modify_group_member_info(client, edit)
            with pytest.raises(StalePlanError) as refused:
                await planfile.check_fresh(client, saved)
            assert str(refused.value).count("@TGS#_c") == 1 and gid in str(refused.value)
            await wire.members.modify_group_member_info(
                client, {**edit, "NameCard": ""}
            )  # as planned


def test_apply_plan_of_an_older_revision_is_refused_before_its_stale_check_counts(
    ws: Workspace,
) -> None:
    """The revision record is read beside the stale check, and still decides first: a plan of
    a revision older than the one last applied is refused as such (not as stale, though it is
    that too), and nothing is written, the record included."""
    from conftest import client_for, make_emulator

    from reconciler import revision

    ws.write([_group("club", "m1")])
    ws.converge()
    ws.write([{**_group("club", "m1"), "name": "Club v2"}])
    assert ws.plan("-o", "plan.json").code == 0
    newer = revision.Revision("sha256:newer", 2**31 - 1, "ci")

    async def record() -> None:
        async with client_for(make_emulator(ws.db)) as client:
            await revision.record(client, newer)

    asyncio.run(record())
    _console_edit(ws, base={"Name": "Renamed"})  # stale as well
    run = ws.cli("apply", "--plan", "plan.json")
    assert run.code == 3 and "older than revision" in run.err and "stale" not in run.err, run
    assert ws.live("club")["Name"] == "Renamed"
    assert ws.live(revision.REVISION_GROUP_ID)["Introduction"] == newer.text()
    _console_edit(ws, base={"Name": "club"})  # fresh again: refused all the same
    assert ws.cli("apply", "--plan", "plan.json").code == 3
    assert ws.live("club")["Name"] == "club"


def test_the_revision_record_is_modified_in_one_call_when_read_before(tmp_path: Path) -> None:
    """A run that read the revision record when it took the lock records the next revision
    in one call (a modify); a record gone meanwhile is created all the same, and one never
    read is created or modified, as a plan would."""
    from conftest import client_for, make_emulator

    from reconciler import revision

    one, two, three = (Revision(f"sha256:{n}", n, "ci") for n in (1, 2, 3))

    async def run() -> None:
        async with client_for(make_emulator(tmp_path / "emu.sqlite3")) as client:
            modify, create = "modify_group_base_info", "create_group"
            assert await revision.record(client, one, exists=True) == [modify, create]
            assert await revision.recorded(client) == one
            assert await revision.record(client, two, exists=True) == [modify]
            assert await revision.recorded(client) == two
            assert await revision.record(client, three) == [create, modify]
            assert await revision.recorded(client) == three

    asyncio.run(run())
