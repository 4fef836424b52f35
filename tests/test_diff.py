"""Desired vs observed -> field-level changes (reconciler.diff), on constructed states."""

from __future__ import annotations

from reconciler.diff import diff_group
from reconciler.state import Group, GroupType, Member, ObservedGroup

NOW = 1_800_000_000


def live(**fields) -> ObservedGroup:
    base = dict(
        id="g1",
        type=GroupType.Public,
        name="G",
        owner="o",
        introduction="",
        notification="",
        face_url="",
        max_members=200,
        apply_join="NeedPermission",
        invite_join="FreeAccess",
        mute_all=False,
        members={
            "o": Member(account="o", role="Owner", name_card="", msg_flag="AcceptAndNotify"),
            "a": Member(account="a", role="Member", name_card="A", msg_flag="AcceptAndNotify"),
        },
    )
    base.update(fields)
    return ObservedGroup(**base)


def test_fields_left_out_of_the_config_are_unmanaged_and_never_a_change() -> None:
    change = diff_group(Group(id="g1", type=GroupType.Public), live(notification="x"), NOW)
    assert change.empty and change.fields == [] and change.members == []


def test_changed_profile_fields_come_in_config_order_with_before_and_after() -> None:
    want = Group(id="g1", type=GroupType.Public, notification="new", name="H", mute_all=True)
    change = diff_group(want, live(), NOW)
    assert [(f.field, f.before, f.after) for f in change.fields] == [
        ("name", "G", "H"),
        ("notification", "", "new"),
        ("mute_all", False, True),
    ]


def test_custom_keys_declared_null_or_empty_are_deleted_undeclared_ones_left() -> None:
    want = Group(id="g1", type=GroupType.Public, custom={"k": "2", "gone": None, "blank": ""})
    change = diff_group(want, live(custom={"k": "1", "gone": "x", "blank": "y", "o": "z"}), NOW)
    assert sorted((f.field, f.before, f.after) for f in change.fields) == [
        ("custom.blank", "y", None),
        ("custom.gone", "x", None),
        ("custom.k", "1", "2"),
    ]


def test_members_added_modified_and_removed_in_that_order() -> None:
    want = Group(
        id="g1",
        type=GroupType.Public,
        members={
            "o": Member(account="o"),
            "n": Member(account="n"),
            "a": Member(account="a", name_card="B"),
        },
    )
    have = live()
    have.members["x"] = Member(account="x", role="Member", name_card="", msg_flag="AcceptAndNotify")
    change = diff_group(want, have, NOW)
    assert [(m.account, m.action) for m in change.members] == [
        ("n", "add"),
        ("a", "modify"),
        ("x", "remove"),
    ]
    assert [(f.field, f.before, f.after) for f in change.members[1].fields] == [
        ("name_card", "A", "B")
    ]


def test_additive_members_never_remove_and_the_owner_is_never_removed() -> None:
    want = Group(id="g1", type=GroupType.Public, members_mode="additive", members={})
    assert diff_group(want, live(), NOW).members == []
    want = Group(id="g1", type=GroupType.Public, members={"a": Member(account="a")})
    assert [(m.account, m.action) for m in diff_group(want, live(), NOW).members] == []


def test_mute_deadlines_compare_with_a_tolerance_and_passed_ones_mean_not_muted() -> None:
    def change(want_until, have_until):
        want = Group(
            id="g1",
            type=GroupType.Public,
            members={"o": Member(account="o"), "a": Member(account="a", muted_until=want_until)},
        )
        have = live()
        have.members["a"].muted_until = have_until
        return diff_group(want, have, NOW).members

    assert change(NOW + 100, NOW + 103) == []
    assert change(NOW - 10, 0) == []
    assert [f.field for f in change(NOW + 100, 0)[0].fields] == ["muted_until"]


def test_a_new_group_shows_its_whole_config_and_a_type_change_is_an_error() -> None:
    want = Group(id="g1", type=GroupType.Public, name="G", members={"a": Member(account="a")})
    created = diff_group(want, None, NOW)
    assert created.action == "create" and [m.action for m in created.members] == ["add"]
    changed = diff_group(Group(id="g1", type=GroupType.ChatRoom, name="G"), live(), NOW)
    assert changed.errors and "type cannot change" in changed.errors[0]


def test_marks_of_offline_members_are_pending_and_unlisted_ones_deleted() -> None:
    want = Group(id="live", type=GroupType.AVChatRoom, marks={1000: ["h", "away"], 1001: []})
    have = ObservedGroup(
        id="live", type=GroupType.AVChatRoom, online=["h", "g"], marks={1001: ["g"]}
    )
    change = diff_group(want, have, NOW)
    assert change.marks_set == {1000: ["h"]}
    assert change.marks_pending == {1000: ["away"]}
    assert change.marks_delete == {1001: ["g"]}
