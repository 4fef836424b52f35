"""The model's facts are stated once, in ``reconciler.state``, and agree with the model."""

import pytest

from reconciler import state
from reconciler.state import GROUP_FIELDS, MEMBER_ATTRIBUTES, Group, LiveMember, Member
from reconciler.tim.wire.members import MEMBER_FILTER_NAMES, MEMBER_ROW


def test_the_member_attributes_are_the_members_managed_fields() -> None:
    # Besides them a member has its account, its custom data and two import-only values.
    rest = {"account", "custom", "join_time", "unread"}
    assert set(Member.model_fields) == {*MEMBER_ATTRIBUTES, *rest}
    assert LiveMember._fields == ("account", *MEMBER_ATTRIBUTES, "custom")
    assert MEMBER_ROW == (*MEMBER_ATTRIBUTES, "custom")
    assert set(MEMBER_FILTER_NAMES) == set(MEMBER_ATTRIBUTES)


def test_the_group_fields_are_the_groups_own_values() -> None:
    # Everything else a group has is its identity, the tool's own switches, or a collection
    # with changes of its own.
    rest = {"id", "type", "state", "protect", "members_mode", "support_topic", "custom"}
    rest |= {"members", "marks", "admins", "muted", "banned", "topics", "permission_groups"}
    assert set(Group.model_fields) == {*GROUP_FIELDS, *rest}
    assert len(set(GROUP_FIELDS)) == len(GROUP_FIELDS)


def test_topic_and_permission_group_fields_are_their_models() -> None:
    assert set(state.TOPIC_FIELDS) == set(state.Topic.model_fields) - {"id", "state"}
    rest = {"id", "state", "members", "topic_permissions"}
    assert set(state.PERMISSION_GROUP_FIELDS) == set(state.PermissionGroup.model_fields) - rest


def test_declared_members_keep_rows_and_make_equal_members_on_lookup() -> None:
    # A desired group holds its members as rows (a config of ten million memberships would not
    # fit as Members); what a lookup makes must equal the Member the same entry validates to.
    full = Member(
        account="full",
        role="Admin",
        name_card="Card",
        msg_flag="Discard",
        muted_until=0,
        custom={"Dept": "d1", "Old": None},
        join_time=5,
        unread=2,
    )
    given = {
        "plain": Member(account="plain"),
        "full": full,
        "imported": Member(account="imported", unread=3),
    }
    group = Group(id="g", type="Public", members=given)
    members = group.declared_members()
    assert isinstance(members, state.DeclaredMembers) and members is group.members
    assert list(members) == ["plain", "full", "imported"] and len(members) == 3
    assert members["plain"] == Member(account="plain") and members["full"] == full
    assert dict(members) == given and members == given
    assert "plain" in members and "nobody" not in members and members.get("nobody") is None
    # Only what a plan compares counts as declaring attributes (import-only values do not);
    # a mute of 0 (unmute) does.
    rows = dict(members.rows())
    assert rows["plain"] is None and tuple(rows["full"]) == tuple(full.model_dump().values())
    assert state.compares(rows["full"]) and not state.compares(rows["imported"])
    assert state.compares(rows["full"]._replace(role=None, name_card=None, msg_flag=None))
    assert members.keys() == {"plain", "full", "imported"}
    assert members.custom_keys() == {"Dept", "Old"}
    # The digest's view of a member: every field's value in the model's order.
    for account, member in given.items():
        assert members.values_of(account) == (
            account,
            *[getattr(member, n) for n in list(Member.model_fields)[1:]],
        )
    with pytest.raises(AttributeError):
        members["full"].role = "Member"  # read-only: a change would be lost with the lookup
    with pytest.raises(TypeError):
        members["x"] = Member(account="x")  # type: ignore[index]
    # Dumped (and validated back) as the Members they stand for.
    dumped = group.model_dump()["members"]
    assert dumped == {a: m.model_dump() for a, m in given.items()}
    assert Group.model_validate(group.model_dump()).members == members


def test_groups_without_declared_members_have_none() -> None:
    group = Group(id="g", type="Public")
    assert group.members is None and dict(group.declared_members()) == {}


def test_a_declared_member_has_the_members_fields_in_their_order() -> None:
    assert state.DeclaredMember._fields == tuple(Member.model_fields)
