"""Profiles: which reading of the vendor's documentation the emulator holds a client to.

The vendor's revisions disagree (shared/reference/tencent-chat-rest-api.md §16.1). ``default``
follows the seed pages (the English pages of 2024); ``latest`` enforces the strictest
documented reading, the Chinese pages of 2025-12 to 2026-02, so a client is tested against both.
Every fact that differs between them is in :data:`PROFILES`, and nowhere else. The facts both
readings share (the per-API rates of ``tim/limits.py``, the other batch sizes) are not here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..tim.limits import BATCH


@dataclass(frozen=True)
class Profile:
    name: str
    # Most accounts per add_group_member / import_group_member call (10005 beyond).
    add_batch: int
    import_batch: int
    # The APIs whose answers over 1 MB are refused with 10018.
    size_limited: frozenset[str]
    # import_group_member: a JoinTime before the group's CreateTime or in the future fails that
    # member (Result 0) instead of being stored as sent.
    join_time_rules: bool
    # get_group_info answers carry InviteJoinOption.
    invite_join_in_info: bool
    # get_group_info: a group of more members than ``info_member_list_max`` gets no MemberList
    # at all (clients page with get_group_member_info), or only its first ones (join order).
    info_member_list_max: int
    omit_big_member_lists: bool
    # get_group_member_info: the largest Limit.
    member_page_max: int


_PAGED = frozenset({"get_appid_group_list", "get_group_member_info"})

PROFILES: dict[str, Profile] = {
    # Seed 002 (import 300 per call) and the EN add_group_member page (300); the EN
    # get_group_member_info field table (Limit up to 6000); 10018 where a page documents it.
    "default": Profile(
        name="default",
        add_batch=BATCH["add_group_member"],
        import_batch=BATCH["import_group_member"],
        size_limited=_PAGED,
        join_time_rules=False,
        invite_join_in_info=True,
        info_member_list_max=6000,
        omit_big_member_lists=False,
        member_page_max=6000,
    ),
    # CN-1621 (add, 2026-02-06) and CN-1636 (import, 2026-01-27): 20 accounts per call and the
    # JoinTime rule; CN-1617 (2025-11-03): Limit up to 200; CN-1616 (2025-12-15) and the Web
    # SDK's error table: get_group_info over 1 MB is 10018, big groups must be paged; the EN
    # sample, RS, TC and DB do not show InviteJoinOption in get_group_info answers.
    "latest": Profile(
        name="latest",
        add_batch=20,
        import_batch=20,
        size_limited=_PAGED | {"get_group_info"},
        join_time_rules=True,
        invite_join_in_info=False,
        info_member_list_max=500,
        omit_big_member_lists=True,
        member_page_max=200,
    ),
}
DEFAULT = PROFILES["default"]


def profile_named(name: str | Profile) -> Profile:
    """The profile called ``name`` (``default`` or ``latest``); ValueError for any other."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown emulator profile {name!r}; choose one of {', '.join(PROFILES)}"
        ) from None
