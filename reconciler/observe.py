"""Read the live state of the declared groups with the fewest calls the API allows.

- get_group_info for every declared group, 50 per call. Work, Public and Meeting groups come back
  with their whole member list, so no further call is needed for them.
- Community groups whose members are managed: get_group_member_info paged by ``Next``.
- AVChatRoom groups whose marks are managed: get_members for the online list, and once per
  declared mark (mark 600 hides members from the plain online list, so marks are read by mark).
- account_check, 100 per call, for accounts that would join a group.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from reconciler.state import (
    ACCOUNT_BATCH,
    GROUP_INFO_BATCH,
    Group,
    GroupType,
    Member,
    ObservedGroup,
    normalize_type,
)
from reconciler.tim.client import TimClient

# Per-group codes get_group_info uses for a group that does not exist (the reference could not
# confirm which one the server sends, so both mean "absent").
MISSING_GROUP_CODES = frozenset({10010, 10015})


class ObserveError(Exception):
    """The live state could not be read in a way that allows a plan."""


@dataclass
class Observation:
    groups: dict[str, ObservedGroup | None]  # None = the group does not exist
    missing_accounts: set[str] = field(default_factory=set)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _custom(items: list[dict] | None) -> dict[str, str | None]:
    return {str(kv["Key"]): str(kv.get("Value", "")) for kv in items or []}


def member_from_api(item: dict) -> Member:
    return Member(
        account=item["Member_Account"],
        role=item.get("Role", "Member").strip() or "Member",
        name_card=item.get("NameCard", ""),
        msg_flag=item.get("MsgFlag") or "AcceptAndNotify",
        muted_until=int(item.get("MuteUntil", 0) or 0),
        custom=_custom(item.get("AppMemberDefinedData")),
    )


def group_from_api(info: dict, members: list[dict] | None) -> ObservedGroup:
    gtype = normalize_type(info["Type"])
    member_map = None
    if members is not None:
        member_map = {m.account: m for m in map(member_from_api, members)}
    mute = info.get("MuteAllMember")
    return ObservedGroup(
        id=info["GroupId"],
        type=gtype,
        name=info.get("Name", ""),
        owner=info.get("Owner_Account") or None,
        introduction=info.get("Introduction", ""),
        notification=info.get("Notification", ""),
        face_url=info.get("FaceUrl", ""),
        max_members=info.get("MaxMemberNum"),
        apply_join=info.get("ApplyJoinOption") or None,
        invite_join=info.get("InviteJoinOption") or None,
        mute_all=None if mute is None else mute == "On",
        custom=_custom(info.get("AppDefinedData")),
        members=member_map,
        member_num=info.get("MemberNum"),
    )


async def _read_marks(client: TimClient, group: ObservedGroup, marks: list[int]) -> None:
    online = await client.all_online_members(group.id)
    per_mark = await asyncio.gather(*(client.all_online_members(group.id, mark=m) for m in marks))
    observed: dict[int, list[str]] = {}
    for mark, items in zip(marks, per_mark, strict=True):
        accounts = sorted({i["Member_Account"] for i in items})
        if accounts:
            observed[mark] = accounts
    # Marked members are online by definition (600 only hides them from the plain list).
    group.online = sorted({i["Member_Account"] for i in online}.union(*observed.values()))
    group.marks = observed


async def _read_members(client: TimClient, group: ObservedGroup) -> None:
    items = await client.all_group_members(group.id, community=True)
    group.members = {m.account: m for m in map(member_from_api, items)}


async def observe(client: TimClient, desired: list[Group]) -> Observation:
    """Observe every desired group; then check the accounts that would join a group."""
    ids = [g.id for g in desired]
    batches = await asyncio.gather(
        *(client.get_group_info(batch) for batch in _chunks(ids, GROUP_INFO_BATCH))
    )
    infos = {item["GroupId"]: item for batch in batches for item in batch}

    observed: dict[str, ObservedGroup | None] = {}
    follow_ups = []
    for want in desired:
        info = infos.get(want.id)
        code = int(info.get("ErrorCode", 0)) if info else 10010
        if code in MISSING_GROUP_CODES:
            observed[want.id] = None
            continue
        if code:
            raise ObserveError(
                f"group {want.id}: get_group_info answered {code}: {info.get('ErrorInfo', '')}"
            )
        has_list = "MemberList" in info and info["Type"] != GroupType.Community
        group = group_from_api(info, info.get("MemberList") if has_list else None)
        observed[want.id] = group
        if group.type is GroupType.Community and want.members is not None:
            follow_ups.append(_read_members(client, group))
        if group.type is GroupType.AVChatRoom and want.marks is not None:
            follow_ups.append(_read_marks(client, group, sorted(want.marks)))
    await asyncio.gather(*follow_ups)

    joining: set[str] = set()
    for want in desired:
        if want.state == "absent":
            continue
        have = observed[want.id]
        current = set(have.members or {}) if have else set()
        if want.members is not None:
            joining.update(a for a in want.members if a not in current)
        if want.owner and want.owner not in current:
            joining.add(want.owner)
    to_check = sorted(joining)
    results = await asyncio.gather(
        *(client.account_check(batch) for batch in _chunks(to_check, ACCOUNT_BATCH))
    )
    missing = {acct for res in results for acct, ok in res.items() if not ok}
    return Observation(groups=observed, missing_accounts=missing)
