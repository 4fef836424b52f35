"""Diff and plan on constructed states: what a reviewer sees and which calls apply makes."""

from reconciler.diff import diff_group
from reconciler.observe import Observation
from reconciler.plan import STEP_INDEX, Scope, build_plan, fingerprint
from reconciler.state import Group, GroupType, Member, ObservedGroup
from reconciler.tim.calls import ChangeOwner, Joiner, RemoveMembers
from reconciler.tim.wire.members import LiveMembers

NOW = 1_800_000_000


def members(*accounts, **attrs):
    return {a: Member(account=a, **attrs) for a in accounts}


def observed(gid="g1", gtype=GroupType.Public, owner="t1", accounts=("t1",), **fields):
    base = dict(
        name="G",
        introduction="",
        notification="",
        face_url="",
        max_members=200,
        apply_join="NeedPermission",
        invite_join="FreeAccess",
        mute_all=False,
    )
    base.update(fields)
    have_members = None
    if gtype is not GroupType.AVChatRoom:
        have_members = {
            a: Member(
                account=a,
                role="Owner" if a == owner else "Member",
                name_card="",
                msg_flag="AcceptAndNotify",
                muted_until=0,
                custom={},
            )
            for a in accounts
        }
    return ObservedGroup(id=gid, type=gtype, owner=owner, members=have_members, **base)


def plan_for(want, have, missing=(), **kw):
    obs = Observation(groups={want.id: have}, missing_accounts=set(missing))
    kw.setdefault("admin", "administrator")
    kw.setdefault("max_removal_fraction", 0.25)
    return build_plan([want], obs, now=NOW, **kw)


def apis(plan):
    return [op.api for op in plan.operations]


def test_no_change_means_no_operations():
    want = Group(id="g1", type=GroupType.Public, name="G", owner="t1", members=members("t1", "s1"))
    plan = plan_for(want, observed(accounts=("t1", "s1")))
    assert plan.operations == []
    assert not plan.has_changes


def test_small_new_group_is_one_create_call_with_members_and_admin_role():
    want = Group(
        id="class-7a",
        type=GroupType.Public,
        name="Class 7A",
        owner="t1",
        members={"t1": Member(account="t1"), "s1": Member(account="s1", role="Admin")},
    )
    plan = plan_for(want, None)
    assert apis(plan) == ["create_group"]
    create = plan.operations[0].request
    assert create.owner == "t1"
    assert create.members == [Joiner("s1", admin=True)]


def test_large_new_group_creates_with_100_and_imports_the_rest_in_batches_of_300():
    want = Group(
        id="big",
        type=GroupType.Public,
        name="Big",
        owner="t1",
        members=members("t1", *(f"s{i}" for i in range(650))),
    )
    plan = plan_for(want, None)
    assert apis(plan) == ["create_group"] + ["import_group_member"] * 2
    assert len(plan.operations[0].request.members) == 100
    assert [len(op.request.members) for op in plan.operations[1:]] == [300, 250]
    joined = {m.account for op in plan.operations for m in op.request.members}
    assert joined == {f"s{i}" for i in range(650)}


def test_in_a_new_group_unread_counts_are_imported_and_join_times_left_out():
    """A new group's CreateTime is after any declared join_time, which the server would refuse:
    those members ride create_group without it; unread counts need import_group_member."""
    declared = members("t1", "a", "b", "c")
    declared["b"] = Member(account="b", join_time=1_700_000_000)
    declared["c"] = Member(account="c", unread=3)
    want = Group(id="g", type=GroupType.Public, name="G", owner="t1", members=declared)
    plan = plan_for(want, None)
    assert apis(plan) == ["create_group", "import_group_member"]
    assert [m.account for m in plan.operations[0].request.members] == ["a", "b"]
    imported = plan.operations[1].request.members
    assert [(m.account, m.unread, m.join_time) for m in imported] == [("c", 3, None)]


def test_member_changes_are_ordered_import_owner_modify_remove():
    want = Group(
        id="g1",
        type=GroupType.Public,
        owner="s1",
        members={
            "s1": Member(account="s1"),
            "new": Member(account="new", name_card="N"),
            "t1": Member(account="t1", role="Admin"),
        },
    )
    have = observed(accounts=("t1", "s1", "gone"))
    plan = plan_for(want, have)
    steps = [op.step for op in plan.operations]
    assert steps == sorted(steps, key=STEP_INDEX.__getitem__)
    assert apis(plan) == [
        "import_group_member",
        "change_group_owner",
        "modify_group_member_info",
        "modify_group_member_info",
        "delete_group_member",
    ]
    assert plan.operations[1].request == ChangeOwner("g1", "s1")
    assert plan.operations[4].request == RemoveMembers("g1", ["gone"])


def test_additive_mode_never_removes():
    want = Group(
        id="g1", type=GroupType.Public, owner="t1", members_mode="additive", members=members("t1")
    )
    plan = plan_for(want, observed(accounts=("t1", "x", "y")))
    assert plan.operations == []


def test_removal_guard_refuses_over_the_fraction_in_groups_of_ten_or_more():
    accounts = ("t1", *(f"s{i}" for i in range(11)))
    want = Group(id="g1", type=GroupType.Public, owner="t1", members=members("t1", "s0", "s1"))
    plan = plan_for(want, observed(accounts=accounts))
    assert [r.overridable for r in plan.refusals] == [True]
    assert "would remove 9 of 12 members" in plan.refusals[0].reason
    small = plan_for(
        Group(id="g1", type=GroupType.Public, owner="t1", members=members("t1")),
        observed(accounts=("t1", "a", "b")),
    )
    assert small.refusals == []


def test_protected_group_refuses_removals_and_destroy_without_override():
    want = Group(id="g1", type=GroupType.Public, owner="t1", protect=True, members=members("t1"))
    plan = plan_for(want, observed(accounts=("t1", "x")))
    assert [r.overridable for r in plan.refusals] == [False]
    gone = Group(id="g1", type=GroupType.Public, protect=True, state="absent")
    assert [r.overridable for r in plan_for(gone, observed()).refusals] == [False]


def test_removing_admin_identifier_or_owner_is_refused():
    want = Group(id="g1", type=GroupType.Public, members=members("a"))
    plan = plan_for(want, observed(owner="t1", accounts=("t1", "administrator", "a")))
    reasons = " ".join(r.reason for r in plan.refusals)
    assert "administrator" in reasons


def test_banning_admin_identifier_or_owner_is_refused_and_protect_never_bans():
    # Built as Group directly: validation refuses a declared owner or app.admin in `banned`.
    until = NOW + 86400
    room = observed(gtype=GroupType.AVChatRoom, owner="host1", banned={})
    want = Group(
        id="g1", type=GroupType.AVChatRoom, banned={"host1": until, "administrator": until}
    )
    plan = plan_for(want, room)
    assert [(r.reason, r.overridable) for r in plan.refusals] == [
        ("would ban the app admin identifier 'administrator'", True),
        ("would ban the group owner 'host1'", True),  # the live owner: `owner` not declared
    ]
    assert plan.blocking(force=True) == []
    protected = Group(id="g1", type=GroupType.AVChatRoom, protect=True, banned={"spam": until})
    refusals = plan_for(protected, room).refusals
    assert [(r.reason, r.overridable) for r in refusals] == [
        ("group is protected (protect: true): 1 ban(s) refused", False)
    ]
    unban = Group(id="g1", type=GroupType.AVChatRoom, protect=True, banned={"spam": 0})
    assert (
        plan_for(unban, observed(gtype=GroupType.AVChatRoom, banned={"spam": until})).refusals == []
    )


def test_custom_null_deletes_and_undeclared_keys_are_left_alone():
    want = Group(id="g1", type=GroupType.Public, custom={"Keep": "v2", "Drop": None})
    have = observed(custom={"Keep": "v1", "Drop": "x", "Other": "o"})
    plan = plan_for(want, have)
    assert apis(plan) == ["modify_group_base_info"]
    assert plan.operations[0].request.custom == {"Keep": "v2", "Drop": None}


def test_mute_deadline_within_tolerance_is_not_drift_and_past_deadline_is_unmuted():
    want = Group(
        id="g1",
        type=GroupType.Public,
        owner="t1",
        members={"t1": Member(account="t1"), "s": Member(account="s", muted_until=NOW + 100)},
    )
    have = observed(accounts=("t1", "s"))
    have.members["s"].muted_until = NOW + 103
    assert plan_for(want, have).operations == []
    # A deadline passed means not muted (desired members are read-only: declare it again).
    want.members = {"t1": Member(account="t1"), "s": Member(account="s", muted_until=NOW - 10)}
    have = observed(accounts=("t1", "s"))  # the plan let the last one's members go
    assert plan_for(want, have).operations == []


def test_type_change_is_an_error():
    want = Group(id="g1", type=GroupType.ChatRoom, name="G")
    plan = plan_for(want, observed())
    assert plan.errors and "type cannot change" in plan.errors[0]


def test_unknown_tgs_id_is_an_error():
    want = Group(id="@TGS#2ABCDEF", type=GroupType.Public, name="G")
    plan = plan_for(want, None)
    assert plan.errors and "assigned by the server" in plan.errors[0]


def test_max_members_raised_first_and_lowered_last():
    want = Group(
        id="g1", type=GroupType.Public, owner="t1", max_members=500, members=members("t1", "a", "b")
    )
    plan = plan_for(want, observed(accounts=("t1",), max_members=2))
    assert apis(plan) == ["modify_group_base_info", "import_group_member"]
    assert plan.operations[0].request.max_members == 500
    want = Group(id="g1", type=GroupType.Public, owner="t1", max_members=2, members=members("t1"))
    plan = plan_for(want, observed(accounts=("t1", "a", "b")))
    assert apis(plan) == ["delete_group_member", "modify_group_base_info"]
    assert plan.operations[-1].step == "lower_max"


def test_marks_are_set_on_online_members_deleted_and_pending_for_offline():
    want = Group(id="live", type=GroupType.AVChatRoom, marks={1000: ["host", "away"], 1001: []})
    have = observed(gid="live", gtype=GroupType.AVChatRoom, owner=None)
    have.online = ["host", "guest"]
    have.marks = {1001: ["guest"]}
    plan = plan_for(want, have)
    assert apis(plan) == ["modify_user_info", "modify_user_info"]
    set_op, del_op = plan.operations
    assert not set_op.request.delete and set_op.request.marks == {"host": [1000]}
    assert del_op.request.delete and del_op.request.marks == {"guest": [1001]}
    assert plan.changes[0].marks_pending == {1000: ["away"]}


def test_missing_accounts_are_an_error_unless_created():
    want = Group(id="g1", type=GroupType.Public, owner="t1", members=members("t1", "ghost"))
    have = observed(accounts=("t1",))
    plan = plan_for(want, have, missing={"ghost"})
    assert plan.errors and "ghost" in plan.errors[0]
    plan = plan_for(want, have, missing={"ghost"}, create_missing_accounts=True)
    assert plan.errors == []
    assert apis(plan)[0] == "multiaccount_import"


def test_destroy_only_when_present():
    gone = Group(id="g1", type=GroupType.Public, state="absent")
    assert apis(plan_for(gone, observed())) == ["destroy_group"]
    assert plan_for(gone, None).operations == []


def _live(items, **fields):
    group = observed(accounts=(), **{"owner": "a", **fields})
    group.members = LiveMembers("g1", "get_group_info", items)
    return group


def _declared(**member_attributes):
    return Group(
        id="g1",
        type=GroupType.Public,
        owner="a",
        members={"a": Member(account="a"), "b": Member(account="b", **member_attributes)},
    )


def _scope(want: Group, live: ObservedGroup) -> Scope:
    """What the plan of ``want`` against ``live`` fingerprints."""
    return Scope.of(want, diff_group(want, live, NOW))


def test_fingerprint_covers_managed_member_values_in_any_order_and_nothing_else():
    a = {"Member_Account": "a", "Role": "Owner", "NameCard": "", "MsgSeq": 1, "JoinTime": 5}
    b = {"Member_Account": "b", "Role": "Member", "LastSendMsgTime": 0, "MsgSeq": 2}
    want = _declared(
        role="Member", name_card="", msg_flag="Discard", muted_until=0, custom={"k": "v"}
    )
    every = _scope(want, _live([a, b]))  # b's flag and custom data change: b is touched
    assert every.accounts == ("b",)
    base = fingerprint(_live([a, b]), every)
    assert fingerprint(_live([b, a]), every) == base  # the API's order is not part of the state
    chatted = {**b, "LastSendMsgTime": 1_800_000_000, "MsgSeq": 40}
    assert fingerprint(_live([a, chatted]), every) == base  # chat moves these, the plan does not
    for changed in ({"NameCard": "B"}, {"Role": "Admin"}, {"MuteUntil": 9}, {"MsgFlag": "Discard"}):
        assert fingerprint(_live([a, {**b, **changed}]), every) != base, changed
    custom = {**b, "AppMemberDefinedData": [{"Key": "k", "Value": "v"}]}
    assert fingerprint(_live([a, custom]), every) != base
    assert fingerprint(_live([a]), every) != base


def test_fingerprint_leaves_out_what_the_config_does_not_manage():
    a = {"Member_Account": "a", "Role": "Owner"}
    b = {"Member_Account": "b", "Role": "Member", "NameCard": "B"}
    only_cards = _scope(_declared(name_card="B2"), _live([a, b]))
    base = fingerprint(_live([a, b]), only_cards)
    # The name card is managed; the message flag and custom data of members are not.
    assert fingerprint(_live([a, {**b, "NameCard": "C"}]), only_cards) != base
    assert fingerprint(_live([a, {**b, "MsgFlag": "Discard"}]), only_cards) == base
    other_key = {**b, "AppMemberDefinedData": [{"Key": "x", "Value": "1"}]}
    assert fingerprint(_live([a, other_key]), only_cards) == base
    # Group fields the config leaves out: FaceUrl, Notification, ApplyJoinOption.
    for unmanaged in ({"face_url": "u"}, {"notification": "n"}, {"apply_join": "FreeAccess"}):
        assert fingerprint(_live([a, b], **unmanaged), only_cards) == base, unmanaged


def test_fingerprint_covers_the_members_the_plan_modifies_and_nobody_else():
    """A member who joins by themselves, one the plan leaves alone, one it adds joining first
    or one it removes leaving first do not make the applying of the reviewed operations wrong
    (imports and removals that find their work done count as done): the next plan deals with
    them. A member the plan modifies is covered: whether they are one, and what they declare."""
    a = {"Member_Account": "a", "Role": "Owner"}
    b = {"Member_Account": "b", "Role": "Member", "NameCard": "B"}
    c = {"Member_Account": "c", "Role": "Member"}
    joined = {"Member_Account": "z", "Role": "Member"}
    for mode in ("authoritative", "additive"):
        want = _declared(name_card="B").model_copy(update={"members_mode": mode})
        # The plan adds n (and removes c if exact). Desired members are read-only: declare anew.
        want.members = {**want.declared_members(), "n": Member(account="n")}
        scope = _scope(want, _live([a, b, c]))
        assert scope.accounts == (), mode
        base = fingerprint(_live([a, b, c]), scope)
        assert fingerprint(_live([a, b, c, joined]), scope) == base, mode
        assert fingerprint(_live([a, {**b, "NameCard": "X"}, c]), scope) == base, mode
        assert fingerprint(_live([a, b, c, {"Member_Account": "n"}]), scope) == base, mode
        assert fingerprint(_live([a, b]), scope) == base, mode
    modified = _scope(_declared(name_card="B2"), _live([a, b]))
    assert modified.accounts == ("b",) and modified.declared == {"b": ("name_card",)}
    base = fingerprint(_live([a, b]), modified)
    assert fingerprint(_live([a, {**b, "NameCard": "X"}]), modified) != base
    assert fingerprint(_live([a]), modified) != base  # b left: the modify would fail
    assert fingerprint(_live([a, {**b, "MsgFlag": "Discard"}]), modified) == base  # undeclared
    # Lowering max_members rests on the member count.
    capped = _declared(name_card="B").model_copy(update={"max_members": 5})
    scope = _scope(capped, _live([a, b], max_members=50, member_num=2))
    assert scope.member_num and scope.accounts == ()
    assert fingerprint(_live([a, b], max_members=50, member_num=3), scope) != fingerprint(
        _live([a, b], max_members=50, member_num=2), scope
    )


def test_a_planned_group_lets_its_member_list_go_and_says_so():
    want = Group(id="g1", type=GroupType.Public, owner="t1", members=members("t1", "new"))
    have = observed(accounts=("t1",), member_num=1)
    plan = plan_for(want, have)
    assert apis(plan) == ["import_group_member"]
    assert have.members is None and have.members_released and have.member_num == 1
    assert plan.changes[0].observed is have


def test_an_avchatroom_fingerprint_covers_the_marks_admins_mutes_and_bans_the_plan_changes():
    live = observed(gid="av", gtype=GroupType.AVChatRoom, accounts=(), owner="t1")
    live.members, live.online = None, ["h", "v"]
    live.marks, live.admins, live.muted, live.banned = {1000: ["h"]}, ["h"], {}, {}
    want = Group(
        id="av",
        type=GroupType.AVChatRoom,
        name="G v2",
        marks={1000: ["h"], 1001: []},
        admins=["h"],
        muted={"v": 0},
        banned={"x": 0},
    )
    renamed = _scope(want, live)  # only the name changes: nothing of the room is covered
    assert (renamed.marks, renamed.admins, renamed.muted, renamed.banned) == ((), False, (), ())
    other = live.model_copy(update={"marks": {1000: ["h", "v"]}, "admins": ["h", "v"]})
    assert fingerprint(other, renamed) == fingerprint(live, renamed)
    busy = want.model_copy(update={"marks": {1000: [], 1001: ["v"]}, "muted": {"v": NOW + 900}})
    scope = _scope(busy, live)
    assert (scope.marks, scope.admins, scope.muted, scope.banned) == (
        (1000, 1001),
        False,
        ("v",),
        (),
    )
    assert fingerprint(other, scope) != fingerprint(live, scope)
