"""Group members (service group_open_http_svc): listing, adding, importing, removing and changing
members, muting and banning them; the member lists' reader.

Member lists become ``LiveMembers``, which keep each member as the row of its managed values and
make a ``Member`` only when one is looked up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, KeysView, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from operator import contains
from typing import TYPE_CHECKING, Any, ClassVar, get_args

from reconciler.state import MEMBER_ATTRIBUTES, LiveMember, Member, MsgFlag, Role
from reconciler.tim.errors import MALFORMED, TimTransportError
from reconciler.tim.limits import BAN_PAGE, GROUP_SVC, MEMBER_PAGE, chunks
from reconciler.tim.slots import PRIORITY
from reconciler.tim.wire.common import (
    Joiner,
    Outcome,
    Request,
    custom_of,
    kv,
    listed,
    malformed,
    renamed,
)

if TYPE_CHECKING:
    from reconciler.tim.client import TimClient

SERVICE = GROUP_SVC
COMMANDS = (
    "get_group_member_info",
    "get_specified_group_member_info",
    "add_group_member",
    "delete_group_member",
    "import_group_member",
    "modify_group_member_info",
    "forbid_send_msg",
    "get_group_muted_account",
    "ban_group_member",
    "unban_group_member",
    "get_group_ban_member",
)

# Older field names (2022-2023 SDKs) -> current ones (reference §3 naming note).
_MEMBER_RENAMES = {"ShutUpUntil": "MuteUntil"}
_MEMBER_BODY_RENAMES = {"ShutUpTime": "MuteTime"}


def normalize_member(member: dict[str, Any]) -> dict[str, Any]:
    """A listed member with the mute under its current name."""
    # Members come by the million: copy only the rare ones with the old field name alone.
    if "MuteUntil" in member or "ShutUpUntil" not in member:
        return member
    return renamed(member, _MEMBER_RENAMES)


def normalize_members(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``normalize_member`` of each; the list itself when none carries the old name alone (a
    test at C speed per member instead of a call per member)."""
    if not any(map(contains, members, repeat("ShutUpUntil"))):
        return members
    return [normalize_member(m) for m in members]


# --- the member lists' reader ------------------------------------------------------------------

# Observed members are the bulk of a big plan (a million of them). Each is kept as the row of its
# managed values (a tuple: a fifth of a Member's memory) and made into a Member only when looked
# up; then without a pydantic validation when every value is already of its declared type,
# sharing the canonical strings of role and message flag.
# JoinTime, MsgSeq, LastSendMsgTime and the like are not kept: they change as members chat.
_ROLES: dict[object, Role] = {r: r for r in get_args(Role)}
_MSG_FLAGS: dict[object, MsgFlag] = {f: f for f in get_args(MsgFlag)}

# (Role, NameCard, MsgFlag, MuteUntil, AppMemberDefinedData) as the API listed them.
MemberRow = tuple[object, object, object, object, object]
# The Member attributes those are, in that order.
MEMBER_ROW = (*MEMBER_ATTRIBUTES, "custom")
# The MemberInfoFilter names that ask for each of them but custom (the mute by both its names).
MEMBER_FILTER_NAMES = {
    "role": ("Role",),
    "name_card": ("NameCard",),
    "msg_flag": ("MsgFlag",),
    "muted_until": ("MuteUntil", "ShutUpUntil"),
}


def _member(account: str, row: MemberRow) -> LiveMember:
    raw_role, raw_card, raw_flag, raw_mute, custom = row
    role = _ROLES.get(raw_role or "Member")
    msg_flag = _MSG_FLAGS.get(raw_flag or "AcceptAndNotify")
    name_card = "" if raw_card is None else raw_card
    muted_until = raw_mute or 0
    if role and msg_flag and type(name_card) is str and type(muted_until) is int:
        # Values already of the field types: no validation (validating is most of the cost).
        return LiveMember(
            account, role, name_card, msg_flag, muted_until, custom_of(custom) if custom else {}
        )
    # Anything unusual (padded names, numbers as strings): checked, and a malformed one raises.
    m = Member.model_validate(
        {
            "account": account,
            "role": str(raw_role or "Member").strip() or "Member",
            "name_card": name_card,
            "msg_flag": msg_flag or raw_flag,
            "muted_until": muted_until,
            "custom": custom_of(custom),
        }
    )
    # Every value was given, so none is None.
    return LiveMember(
        account,
        m.role or "Member",
        m.name_card or "",
        m.msg_flag or "AcceptAndNotify",
        m.muted_until or 0,
        m.custom,
    )


class LiveMembers(Mapping[str, LiveMember]):
    """A group's members as the API listed them, by account; a LiveMember is made on lookup.

    A plan reads every member of every declared group but looks closely only at those whose
    attributes the config declares: for the others the account is all it needs.
    """

    __slots__ = ("_rows", "_group_id", "_api")

    def __init__(self, group_id: str, api: str, items: Iterable[dict] = ()) -> None:
        self._group_id, self._api = group_id, api
        self._rows: dict[str, MemberRow] = {}
        self.add(items)

    def add(self, items: Iterable[dict]) -> None:
        """Take in more of the group's listed members (a page): only their rows are kept, so
        the page's answer can go at once. A member listed again is read as last listed."""
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
            raise malformed(self._group_id, self._api, err) from None
        if set(map(type, rows)) - {str}:
            not_str = ValueError("a Member_Account is not a string")
            raise malformed(self._group_id, self._api, not_str)
        self._rows.update(rows)

    def __getitem__(self, account: str) -> LiveMember:
        row = self._rows[account]
        try:
            return _member(account, row)
        except MALFORMED as err:
            raise malformed(self._group_id, self._api, err) from None

    def __contains__(self, account: object) -> bool:
        return account in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def keys(self) -> KeysView[str]:
        return self._rows.keys()  # a dict's: membership tested at C speed (a plan's hot loop)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"<LiveMembers of {self._group_id}: {len(self._rows)}>"

    def values_of(self, account: str, names: tuple[str, ...]) -> list:
        """The member's values of ``names`` (Member attribute names, "custom.KEY" for a custom
        key) as the API listed them: what a fingerprint hashes."""
        row = self._rows[account]
        custom = [kv for kv in row[4] if isinstance(kv, dict)] if isinstance(row[4], list) else []
        values: list = []
        for name in names:
            if name.startswith("custom."):
                key = name[len("custom.") :]
                values.append(
                    next((kv.get("Value") for kv in custom if kv.get("Key") == key), None)
                )
            else:
                values.append(row[MEMBER_ROW.index(name)])
        return values


def _deadlines(group_id: str, api: str, items: object, until: tuple[str, ...]) -> dict[str, int]:
    """``[{Member_Account, <until>}]`` -> account -> Unix seconds; ``until`` lists the field's
    names, current first."""
    try:
        out: dict[str, int] = {}
        for item in items or []:  # type: ignore[attr-defined]
            account = item["Member_Account"]
            value = next((item[name] for name in until if name in item), None)
            if type(account) is not str or type(value) is not int:
                raise ValueError(f"{account!r}: {until[0]} is not an integer")
            out[account] = value
        return out
    except MALFORMED as err:
        raise malformed(group_id, api, err) from None


def muted_accounts(group_id: str, answer: dict) -> dict[str, int]:
    """get_group_muted_account: MutedAccountList (older ShuttedUinList) -> account -> until."""
    api = "get_group_muted_account"
    items = listed(answer, f"{SERVICE}/{api}", "MutedAccountList", "ShuttedUinList")
    return _deadlines(group_id, api, items, ("MutedUntil", "ShuttedUntil"))


def banned_accounts(group_id: str, answer: dict) -> dict[str, int]:
    """One get_group_ban_member page: BannedAccountList -> account -> until."""
    api = "get_group_ban_member"
    items = listed(answer, f"{SERVICE}/{api}", "BannedAccountList")
    return _deadlines(group_id, api, items, ("BannedUntil",))


# --- reading -------------------------------------------------------------------------------------


async def get_group_member_info(
    client: TimClient,
    group_id: str,
    limit: int = MEMBER_PAGE,
    offset: int | None = None,
    next: str | None = None,
) -> dict[str, Any]:
    """One page of members. ``offset`` for most types, ``next`` for Community (start "")."""
    if offset is not None and next is not None:
        raise ValueError("get_group_member_info: use either offset or next, not both")
    if limit < 1:
        raise ValueError("get_group_member_info: limit must be >= 1")
    body: dict[str, Any] = {"GroupId": group_id, "Limit": limit}
    if offset is not None:
        body["Offset"] = offset
    if next is not None:
        body["Next"] = next
    answer = await client.call(SERVICE, "get_group_member_info", body)
    members = listed(answer, f"{SERVICE}/get_group_member_info", "MemberList")
    return {**answer, "MemberList": normalize_members(members)}


def _pages_after(total: object, read: int) -> int:
    """Pages still to come after the next one, of a group of ``total`` members (the API's
    MemberNum) of which ``read`` are read; 0 when the count is unknown."""
    if not isinstance(total, int) or isinstance(total, bool):
        return 0
    return max(0, -(-(total - read) // MEMBER_PAGE) - 1)


async def member_pages(
    client: TimClient, group_id: str, community: bool, member_num: int | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every page of a group's members (each answer's MemberList): Offset paging, or Next
    paging for Community. ``member_num`` (get_group_info's MemberNum), when known, ranks a
    Community's first page by the pages to follow it, as the answers' MemberNum ranks the
    others."""
    api = f"{SERVICE}/get_group_member_info"
    if community:
        cursor = ""
        seen: set[str] = set()
        read = 0
        # Pages after this one: the slots let the longest chains go first.
        to_come = _pages_after(member_num, read)
        while True:
            token = PRIORITY.set(to_come)
            try:
                page = await get_group_member_info(client, group_id, next=cursor)
            finally:
                PRIORITY.reset(token)
            yield page["MemberList"]
            read += len(page["MemberList"])
            cursor = str(page.get("Next") or "")
            if not cursor:
                return
            to_come = _pages_after(page.get("MemberNum"), read)
            if cursor in seen:
                raise TimTransportError(api, f"paging cursor {cursor!r} repeated")
            seen.add(cursor)
    offset = 0
    while True:
        page = await get_group_member_info(client, group_id, offset=offset)
        batch = page["MemberList"]
        if not batch:
            return
        yield batch
        offset += len(batch)
        total = page.get("MemberNum")
        if isinstance(total, int) and not isinstance(total, bool):
            if offset >= total:
                return
        elif len(batch) < MEMBER_PAGE:  # no MemberNum: a short page is the last
            return


async def paged_members(
    client: TimClient, group_id: str, community: bool, member_num: int | None = None
) -> LiveMembers:
    """Every member of a group, paged (see ``member_pages``), as the state model reads them."""
    members = LiveMembers(group_id, "get_group_member_info")
    try:
        async for page in member_pages(client, group_id, community, member_num):
            members.add(page)
    except MALFORMED as err:
        raise malformed(group_id, "get_group_member_info", err) from None
    return members


async def specified_members(client: TimClient, group_id: str, accounts: list[str]) -> LiveMembers:
    """The members among ``accounts`` (the others are not members), as the state model reads
    them: 50 accounts a call, the calls side by side (no cursor chains them)."""
    api = "get_specified_group_member_info"
    wanted = list(dict.fromkeys(accounts))

    async def read(part: list[str]) -> list[dict[str, Any]]:
        body = {"GroupId": group_id, "Member_List_Account": part}
        answer = await client.call(SERVICE, api, body)
        return normalize_members(listed(answer, f"{SERVICE}/{api}", "MemberList"))

    try:
        parts = await asyncio.gather(
            *(read(part) for part in chunks(wanted, client.limits.batch_of(api)))
        )
        asked = set(wanted)
        # Only the accounts asked for: a list is what it claims to be.
        items = [m for part in parts for m in part if m["Member_Account"] in asked]
    except MALFORMED as err:
        raise malformed(group_id, api, err) from None
    return LiveMembers(group_id, api, items)


async def get_group_muted_account(client: TimClient, group_id: str) -> dict[str, int]:
    """Muted accounts of a group -> the Unix second their mute ends (all group types)."""
    answer = await client.call(SERVICE, "get_group_muted_account", {"GroupId": group_id})
    return muted_accounts(group_id, answer)


async def get_group_ban_member(client: TimClient, group_id: str) -> dict[str, int]:
    """Every banned account of a group -> the Unix second the ban ends, paging by
    ``NextOffset`` (0 = done) at the largest Limit."""
    bans: dict[str, int] = {}
    body = {"GroupId": group_id, "Limit": BAN_PAGE, "Offset": 0}
    async for page in client.pages(
        SERVICE, "get_group_ban_member", body, "Offset", answer_cursor="NextOffset"
    ):
        bans.update(banned_accounts(group_id, page))
    return bans


# --- writing -------------------------------------------------------------------------------------


async def add_group_member(
    client: TimClient, group_id: str, accounts: list[str], silence: bool = True
) -> list[dict[str, Any]]:
    """Add members, as many per call as the server takes (10005 beyond: split and learn).
    Result per item: 0 failed, 1 added, 2 already, 3 invited."""
    if not accounts:
        return []

    async def send(part: list[str]) -> list[dict[str, Any]]:
        body = {
            "GroupId": group_id,
            "Silence": 1 if silence else 0,
            "MemberList": [{"Member_Account": a} for a in part],
        }
        answer = await client.call(SERVICE, "add_group_member", body)
        return listed(answer, f"{SERVICE}/add_group_member", "MemberList")

    return await client.split("add_group_member", list(accounts), send)


async def delete_group_member(
    client: TimClient,
    group_id: str,
    accounts: list[str],
    silence: bool = True,
    reason: str | None = None,
) -> None:
    """Remove members, 100 per call (removing a non-member succeeds)."""
    if not accounts:
        return

    async def send(part: list[str]) -> list[Any]:
        body: dict[str, Any] = {
            "GroupId": group_id,
            "Silence": 1 if silence else 0,
            "MemberToDel_Account": part,
        }
        if reason is not None:
            body["Reason"] = reason
        await client.call(SERVICE, "delete_group_member", body)
        return []

    await client.split("delete_group_member", list(accounts), send)


async def import_group_member(
    client: TimClient, group_id: str, members: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Import members silently, as many per call as the server takes (10005 beyond: split and
    learn). Result per item: 0 failed, 1 ok, 2 already."""
    if not members:
        return []

    async def send(part: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = await client.call(
            SERVICE, "import_group_member", {"GroupId": group_id, "MemberList": part}
        )
        return listed(answer, f"{SERVICE}/import_group_member", "MemberList")

    return await client.split("import_group_member", list(members), send)


async def modify_group_member_info(
    client: TimClient, body: dict[str, Any], *, muted_until: int | None = None
) -> None:
    """Change one member. ``muted_until`` (absolute Unix seconds, 0 = unmute) becomes the
    relative MuteTime when the request leaves: after any wait for the rate limiter, which at
    scale is many seconds, and again for each retry."""
    body = renamed(body, _MEMBER_BODY_RENAMES)
    prepare = None
    if muted_until is not None:

        def prepare(body: dict[str, Any]) -> dict[str, Any]:
            return {**body, "MuteTime": client.relative(muted_until) if muted_until else 0}

    await client.call(SERVICE, "modify_group_member_info", body, prepare=prepare)


async def forbid_send_msg(
    client: TimClient, group_id: str, accounts: list[str], muted_until: int
) -> None:
    """Mute up to 500 accounts until ``muted_until`` (absolute Unix seconds; 0 unmutes). The
    relative MuteTime is computed as the request leaves, as for one member."""
    client.check_batch("forbid_send_msg", accounts)
    if not accounts:
        return
    body = {"GroupId": group_id, "Members_Account": list(accounts)}

    def prepare(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "MuteTime": client.relative(muted_until) if muted_until else 0}

    await client.call(SERVICE, "forbid_send_msg", body, prepare=prepare)


async def ban_group_member(
    client: TimClient, group_id: str, accounts: list[str], banned_until: int
) -> None:
    """Ban up to 20 accounts until ``banned_until`` (absolute Unix seconds); Duration is
    computed as the request leaves, at least 1 s."""
    client.check_batch("ban_group_member", accounts)
    if not accounts:
        return
    body = {"GroupId": group_id, "Members_Account": list(accounts)}

    def prepare(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "Duration": max(1, client.relative(banned_until))}

    await client.call(SERVICE, "ban_group_member", body, prepare=prepare)


async def unban_group_member(client: TimClient, group_id: str, accounts: list[str]) -> None:
    client.check_batch("unban_group_member", accounts)
    if not accounts:
        return
    body = {"GroupId": group_id, "Members_Account": list(accounts)}
    await client.call(SERVICE, "unban_group_member", body)


# --- the plan's requests -------------------------------------------------------------------------


@dataclass
class ImportMembers(Request):
    api: ClassVar[str] = "import_group_member"
    group_id: str
    members: list[Joiner]

    async def send(self, client: TimClient) -> Outcome:
        items = []
        for m in self.members:
            item: dict[str, Any] = {"Member_Account": m.account}
            if m.admin:
                item["Role"] = "Admin"
            if m.join_time is not None:
                item["JoinTime"] = m.join_time
            if m.unread is not None:
                item["UnreadMsgNum"] = m.unread
            items.append(item)
        answer = await import_group_member(client, self.group_id, items)
        return Outcome(
            refused=[str(i.get("Member_Account")) for i in answer if i.get("Result") == 0]
        )


@dataclass
class ModifyMember(Request):
    """One member's attributes; ``None`` = unchanged. ``muted_until`` is absolute (0 = unmute):
    the relative MuteTime is computed when the request leaves."""

    api: ClassVar[str] = "modify_group_member_info"
    group_id: str
    account: str
    role: Role | None = None
    name_card: str | None = None
    msg_flag: MsgFlag | None = None
    muted_until: int | None = None
    custom: dict[str, str | None] = field(default_factory=dict)

    async def send(self, client: TimClient) -> Outcome:
        body: dict[str, Any] = {"GroupId": self.group_id, "Member_Account": self.account}
        for name, wire in (("role", "Role"), ("name_card", "NameCard"), ("msg_flag", "MsgFlag")):
            if getattr(self, name) is not None:
                body[wire] = getattr(self, name)
        if self.custom:
            body["AppMemberDefinedData"] = kv(self.custom)
        await modify_group_member_info(client, body, muted_until=self.muted_until)
        return Outcome()


@dataclass
class MuteMembers(Request):
    """Mute ``accounts`` until ``muted_until`` (absolute Unix seconds; 0 unmutes) in one call:
    one MuteTime for all of them, computed when the request leaves."""

    api: ClassVar[str] = "forbid_send_msg"
    group_id: str
    accounts: list[str]
    muted_until: int

    async def send(self, client: TimClient) -> Outcome:
        await forbid_send_msg(client, self.group_id, self.accounts, self.muted_until)
        return Outcome()


@dataclass
class BanMembers(Request):
    """Ban ``accounts`` from an AVChatRoom until ``banned_until`` (absolute Unix seconds); the
    relative Duration is computed when the request leaves. Banning removes them from the room."""

    api: ClassVar[str] = "ban_group_member"
    group_id: str
    accounts: list[str]
    banned_until: int

    async def send(self, client: TimClient) -> Outcome:
        await ban_group_member(client, self.group_id, self.accounts, self.banned_until)
        return Outcome()


@dataclass
class UnbanMembers(Request):
    api: ClassVar[str] = "unban_group_member"
    group_id: str
    accounts: list[str]

    async def send(self, client: TimClient) -> Outcome:
        await unban_group_member(client, self.group_id, self.accounts)
        return Outcome()


@dataclass
class RemoveMembers(Request):
    api: ClassVar[str] = "delete_group_member"
    group_id: str
    accounts: list[str]

    async def send(self, client: TimClient) -> Outcome:
        await delete_group_member(client, self.group_id, self.accounts)
        return Outcome()
