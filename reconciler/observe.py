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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from reconciler.errors import ObserveError
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


@dataclass(repr=False)  # a short repr: asyncio.run formats its result's repr (Python 3.11)
class Observation:
    groups: dict[str, ObservedGroup | None]  # None = the group does not exist
    missing_accounts: set[str] = field(default_factory=set)

    def __repr__(self) -> str:
        return (
            f"<Observation: {len(self.groups)} group(s), "
            f"{len(self.missing_accounts)} missing account(s)>"
        )


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _custom(items: list[dict] | None) -> dict[str, str | None]:
    return {str(kv["Key"]): str(kv.get("Value", "")) for kv in items or []}


# Observed members are the bulk of a big plan (a million of them). Each is kept as the row of its
# managed values (a tuple: a fifth of a Member's memory) and made into a Member only when looked
# up; then without a pydantic validation when every value is already of its declared type (about
# 4x faster), sharing one fields-set and the canonical strings of role and message flag.
# JoinTime, MsgSeq, LastSendMsgTime and the like are not kept: they change as members chat.
_ROLES = {r: r for r in ("Owner", "Admin", "Member")}
_MSG_FLAGS = {f: f for f in ("AcceptAndNotify", "AcceptNotNotify", "Discard")}
_MEMBER_FIELDS_SET = set(Member.model_fields)
_new_member = Member.__new__
_set = object.__setattr__

# (Role, NameCard, MsgFlag, MuteUntil, AppMemberDefinedData) as the API listed them.
MemberRow = tuple[object, object, object, object, object]


def _member(account: str, row: MemberRow) -> Member:
    role, name_card, msg_flag, muted_until, custom = row
    role = _ROLES.get(role or "Member")
    msg_flag = _MSG_FLAGS.get(msg_flag or "AcceptAndNotify")
    name_card = "" if name_card is None else name_card
    muted_until = muted_until or 0
    if not (role and msg_flag and type(name_card) is str and type(muted_until) is int):
        # Anything unusual (padded names, numbers as strings): a malformed one raises.
        return Member(
            account=account,
            role=str(row[0] or "Member").strip() or "Member",
            name_card=name_card,
            msg_flag=msg_flag or row[2],
            muted_until=int(muted_until),
            custom=_custom(custom),
        )
    # What ``model_construct`` does, for values already of the field types.
    member = _new_member(Member)
    _set(
        member,
        "__dict__",
        {
            "account": account,
            "role": role,
            "name_card": name_card,
            "msg_flag": msg_flag,
            "muted_until": muted_until,
            "custom": _custom(custom) if custom else {},
            "join_time": None,
            "unread": None,
        },
    )
    _set(member, "__pydantic_fields_set__", _MEMBER_FIELDS_SET)
    _set(member, "__pydantic_extra__", None)
    _set(member, "__pydantic_private__", None)
    return member


class LiveMembers(Mapping[str, Member]):
    """A group's members as the API listed them, by account; a Member is made on lookup.

    A plan reads every member of every declared group but looks closely only at those whose
    attributes the config declares: for the others the account is all it needs.
    """

    __slots__ = ("_rows", "_group_id", "_api")

    def __init__(self, group_id: str, api: str, items: list[dict]) -> None:
        self._group_id, self._api = group_id, api
        try:
            rows = {
                item["Member_Account"]: (
                    item.get("Role"),
                    item.get("NameCard"),
                    item.get("MsgFlag"),
                    item.get("MuteUntil"),
                    item.get("AppMemberDefinedData"),
                )
                for item in items
            }
        except MALFORMED as err:
            raise malformed(group_id, api, err) from None
        if not all(type(account) is str for account in rows):
            raise malformed(group_id, api, ValueError("a Member_Account is not a string"))
        self._rows: dict[str, MemberRow] = rows

    def __getitem__(self, account: str) -> Member:
        row = self._rows[account]
        try:
            return _member(account, row)
        except MALFORMED as err:
            raise malformed(self._group_id, self._api, err) from None

    def __contains__(self, account: object) -> bool:
        return account in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"<LiveMembers of {self._group_id}: {len(self._rows)}>"

    def managed_json(self) -> bytes:
        """The managed values of every member as JSON, accounts sorted: what a fingerprint
        hashes (the same members give the same bytes, whatever order the API listed them in)."""
        return orjson.dumps(self._rows, option=orjson.OPT_SORT_KEYS)


def group_from_api(info: dict, members: list[dict] | None) -> ObservedGroup:
    gtype = normalize_type(info["Type"])
    mute = info.get("MuteAllMember")
    group = ObservedGroup(
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
        member_num=info.get("MemberNum"),
    )
    if members is not None:  # assigned, not validated: a Mapping looked up lazily
        group.members = LiveMembers(group.id, "get_group_info", members)
    return group


# What a malformed answer raises while it is read (a missing key, a field of the wrong type).
MALFORMED = (KeyError, TypeError, ValueError, AttributeError)


def malformed(group_id: str, api: str, err: Exception) -> ObserveError:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        what = f"{where}: {first['msg']}" if where else first["msg"]
    elif isinstance(err, KeyError):
        what = f"missing field {err}"
    else:
        what = str(err)
    return ObserveError(
        f"group {group_id}: {api} answered something that is not a valid answer ({what}); "
        "check that the endpoint is a Tencent Cloud Chat REST API"
    )


async def _read_marks(client: TimClient, group: ObservedGroup, marks: list[int]) -> None:
    try:
        await _read_marks_unchecked(client, group, marks)
    except MALFORMED as err:
        raise malformed(group.id, "get_members", err) from None


async def _read_marks_unchecked(client: TimClient, group: ObservedGroup, marks: list[int]) -> None:
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
    try:
        items = await client.all_group_members(group.id, community=True)
    except MALFORMED as err:
        raise malformed(group.id, "get_group_member_info", err) from None
    group.members = LiveMembers(group.id, "get_group_member_info", items)


def parse_group_info(group_id: str, info: dict | None) -> ObservedGroup | None:
    """One get_group_info item -> the observed group, or None when the group does not exist.

    Raises ObserveError when the group is missing from the answer, when its per-group code is
    an error other than "no such group", or when the item is malformed.
    """
    if info is None:
        raise ObserveError(
            f"group {group_id}: get_group_info answered without this group (every requested "
            "group must appear in GroupInfo); nothing can be planned from such an answer"
        )
    try:
        code = int(info.get("ErrorCode", 0))
        if code in MISSING_GROUP_CODES:
            return None
        if code:
            raise ObserveError(
                f"group {group_id}: get_group_info answered {code}: {info.get('ErrorInfo', '')}"
            )
        has_list = "MemberList" in info and info["Type"] != GroupType.Community
        return group_from_api(info, info.get("MemberList") if has_list else None)
    except MALFORMED as err:
        raise malformed(group_id, "get_group_info", err) from None


def index_group_info(batches: list[list[dict]]) -> dict[str, dict]:
    try:
        return {item["GroupId"]: item for batch in batches for item in batch}
    except MALFORMED as err:
        raise ObserveError(
            f"get_group_info answered GroupInfo items that are not valid ({err!s}); check that "
            "the endpoint is a Tencent Cloud Chat REST API"
        ) from None


def _joining(want: Group, have: ObservedGroup | None) -> list[str]:
    """The accounts that would join the group: declared members not in it, and a new owner."""
    if want.state == "absent":
        return []
    current = (have.members if have else None) or {}
    accounts = [a for a in want.members or {} if a not in current]
    # An owner joins unless it is a member already, or already owns the group (AVChatRoom
    # groups and groups whose members are not read have no member list to look in).
    if want.owner and want.owner not in current and not (have and have.owner == want.owner):
        accounts.append(want.owner)
    return accounts


def _reads_more(want: Group, have: ObservedGroup) -> bool:
    """Community members come by paging; AVChatRoom marks by get_members (destroying a group
    needs neither)."""
    if have.type is GroupType.Community:
        return want.members is not None
    return have.type is GroupType.AVChatRoom and want.marks is not None


Settle = Callable[[Group, ObservedGroup | None], None]


async def observe(
    client: TimClient, desired: list[Group], settle: Settle | None = None
) -> Observation:
    """Observe every desired group; then check the accounts that would join a group.

    Groups are read 50 per get_group_info call, and those that need more (Community members,
    AVChatRoom marks) are read on as soon as their batch arrives. ``settle(want, have)``, when
    given, is called for each group once it is read in full (a plan diffs it then); the group's
    member list is let go when it returns, so that a million members are never all held at once.
    """
    observed: dict[str, ObservedGroup | None] = {}
    joining: set[str] = set()

    def complete(want: Group, have: ObservedGroup | None) -> None:
        observed[want.id] = have
        joining.update(_joining(want, have))
        if settle is not None:
            settle(want, have)
            if have is not None:
                have.members = None  # settled: not needed any more

    async def read_more(want: Group, have: ObservedGroup) -> None:
        if have.type is GroupType.Community:
            await _read_members(client, have)
        else:
            await _read_marks(client, have, sorted(want.marks or {}))
        complete(want, have)

    async def read_batch(batch: list[Group]) -> None:
        # Each answer is parsed as it arrives, so the raw JSON of at most the batches in flight
        # is held at once (at a million members, the raw answers alone take about 0.7 GB).
        infos = index_group_info([await client.get_group_info([g.id for g in batch])])
        more = []
        for want in batch:
            have = parse_group_info(want.id, infos.get(want.id))
            if have is not None and want.state != "absent" and _reads_more(want, have):
                more.append(read_more(want, have))
            else:
                complete(want, have)
        await asyncio.gather(*more)

    await asyncio.gather(*(read_batch(batch) for batch in _chunks(desired, GROUP_INFO_BATCH)))

    to_check = sorted(joining)
    results = await asyncio.gather(
        *(client.account_check(batch) for batch in _chunks(to_check, ACCOUNT_BATCH))
    )
    missing = {acct for res in results for acct, ok in res.items() if not ok}
    groups = {want.id: observed[want.id] for want in desired}  # in the config's order
    return Observation(groups=groups, missing_accounts=missing)
