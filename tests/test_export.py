"""Live groups as config entries (reconciler.export): only what differs from the defaults."""

from __future__ import annotations

from reconciler.export import group_entry
from reconciler.state import GroupType, Member, ObservedGroup


def test_a_group_entry_leaves_out_defaults_and_writes_members_as_short_as_possible() -> None:
    group = ObservedGroup(
        id="@TGS#_c",
        type=GroupType.Community,
        name="C",
        owner="o",
        introduction="",
        apply_join="FreeAccess",  # not a Community setting: left out
        invite_join="NeedPermission",
        max_members=100000,
        custom={"k": "v"},
        members={
            "o": Member(account="o", role="Owner", name_card="", msg_flag="AcceptAndNotify"),
            "a": Member(
                account="a",
                role="Admin",
                name_card="A",
                msg_flag="Discard",
                muted_until=1_800_000_000,
                custom={"c": "d"},
            ),
        },
    )
    assert group_entry(group) == {
        "id": "@TGS#_c",
        "type": "Community",
        "name": "C",
        "owner": "o",
        "max_members": 100000,
        "invite_join": "NeedPermission",
        "custom": {"k": "v"},
        "members": [
            "o",
            {
                "account": "a",
                "role": "Admin",
                "name_card": "A",
                "msg_flag": "Discard",
                "muted_until": "2027-01-15T08:00:00Z",
                "custom": {"c": "d"},
            },
        ],
    }


def test_avchatroom_entries_have_no_member_limit_nor_invite_option() -> None:
    room = ObservedGroup(
        id="@TGS#aL", type=GroupType.AVChatRoom, name="L", max_members=0, invite_join="FreeAccess"
    )
    assert group_entry(room) == {"id": "@TGS#aL", "type": "AVChatRoom", "name": "L"}
