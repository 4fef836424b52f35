"""The model's facts are stated once, in ``reconciler.state``, and agree with the model."""

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
