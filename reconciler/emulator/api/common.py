"""What the handlers of every API family share: the call's context, loading the group a request
names, checking accounts and members, and member lists as answers list them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .. import errors as E
from .. import rules as R
from ..errors import ApiError
from ..profiles import DEFAULT, Profile
from ..store import (
    GROUP_COLUMNS,
)


@dataclass(frozen=True)
class Ctx:
    sdkappid: int
    admin: str
    now: int
    profile: Profile = DEFAULT


Handler = Callable[[Ctx, sqlite3.Connection, dict], dict]


def load_group(c: sqlite3.Connection, body: dict) -> sqlite3.Row:
    gid = R.group_id_param(body)
    row = c.execute(f"SELECT {GROUP_COLUMNS} FROM groups WHERE group_id = ?", (gid,)).fetchone()
    if row is None:
        raise ApiError(E.GROUP_GONE, f"group {gid} does not exist or has been destroyed")
    return row


def no_type(group: sqlite3.Row, api: str, code: int = E.NO_PERMISSION) -> ApiError:
    return ApiError(code, f"{api} is not supported for {group['type']} groups")


def member_count(c: sqlite3.Connection, seq: int) -> int:
    return c.execute("SELECT count(*) FROM members WHERE group_seq = ?", (seq,)).fetchone()[0]


def missing_accounts(c: sqlite3.Connection, accounts: list[str]) -> list[str]:
    missing: list[str] = []
    unique = list(dict.fromkeys(accounts))
    for i in range(0, len(unique), 500):
        chunk = unique[i : i + 500]
        marks = ",".join("?" * len(chunk))
        found = {
            r[0]
            for r in c.execute(f"SELECT user_id FROM accounts WHERE user_id IN ({marks})", chunk)
        }
        missing.extend(a for a in chunk if a not in found)
    return missing


def require_accounts(c: sqlite3.Connection, accounts: list[str]) -> None:
    missing = missing_accounts(c, accounts)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ApiError(E.NO_SUCH_ACCOUNT, f"accounts not imported: {shown}")


def existing_members(c: sqlite3.Connection, seq: int, accounts: list[str]) -> set[str]:
    found: set[str] = set()
    unique = list(dict.fromkeys(accounts))
    for i in range(0, len(unique), 500):
        chunk = unique[i : i + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            r[0]
            for r in c.execute(
                f"SELECT account FROM members WHERE group_seq = ? AND account IN ({marks})",
                [seq, *chunk],
            )
        )
    return found


def is_online(member: sqlite3.Row, now: int) -> bool:
    """Online, or kept online by the special mark 500 (at most three days after it was set)."""
    return bool(member["online"]) or member["mark500_until"] > now


def string_list(body: dict, field: str) -> list[str] | None:
    value = R.get_list(body, field, required=False)
    if value is not None and not all(isinstance(v, str) for v in value):
        raise R.bad(f"{field} must be an array of strings")
    return value


# MemberInfoFilter's names and the members' columns, in the answers' order.
MEMBER_FIELDS = {
    "Role": "role",
    "JoinTime": "join_time",
    "MsgSeq": "msg_seq",
    "MsgFlag": "msg_flag",
    "LastSendMsgTime": "last_send_msg_time",
    "MuteUntil": "mute_until",
    "NameCard": "name_card",
}


# Filters may use either name; answers carry both wherever the mute fields appear, since the
# docs of different eras show both (current EN: Mute*; get_group_member_info's samples, TC, DB
# and PY: ShutUp*), and clients read one or the other.
FIELD_ALIASES = {"ShutUpAllMember": "MuteAllMember", "ShutUpUntil": "MuteUntil"}


def field_set(value: Any, field: str) -> set[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise R.bad(f"{field} must be an array of strings")
    names: list[str] = value
    return {FIELD_ALIASES.get(v, v) for v in names}


@dataclass(frozen=True)
class MemberList:
    count: int
    last_id: int | None  # of the last member listed (a Community page's Next)
    json: orjson.Fragment  # the answer's MemberList, written by SQLite


# The columns member_list reads (a page's subquery carries no others).
_LISTED_COLUMNS = ", ".join(["id", "account", *MEMBER_FIELDS.values(), "app_data"])


def member_list(
    c: sqlite3.Connection,
    where: str,
    args: list[Any],
    fields: set[str] | None,
    custom_keys: set[str] | None,
    with_custom: bool,
    page: str = "",
) -> MemberList:
    """The members ``where`` selects (a condition on the members table that starts with
    ``group_seq = ?``) as answers list them: Member_Account, the fields ``fields`` names (all
    when None; MuteUntil also under its older name ShutUpUntil) and, ``with_custom``, the
    custom data (of ``custom_keys`` only, when given). In join order, all of them; or, with
    ``page`` (``ORDER BY ... LIMIT ...``), the rows it orders and cuts. SQLite writes the JSON:
    answers list members by the thousand, and building each one in Python made the server,
    not the rate limit, what a plan's reads waited for."""
    parts = ["'Member_Account', account"]
    for name, column in MEMBER_FIELDS.items():
        if fields is None or name in fields:
            parts.append(f"'{name}', {column}")
            if name == "MuteUntil":
                parts.append(f"'ShutUpUntil', {column}")
    key_args: list[Any] = []
    if with_custom:
        of_keys = ""
        if custom_keys is not None:
            key_args = sorted(custom_keys)
            of_keys = f" WHERE key IN ({','.join('?' * len(key_args))})"
        parts.append(
            # Most members have no custom data: '[]' without opening json_each (a quarter of
            # a whole list's cost). json(): a subquery's value may lose its JSON subtype.
            "'AppMemberDefinedData', CASE app_data WHEN '{}' THEN json_array() ELSE"
            " json((SELECT json_group_array(json_object('Key', key, 'Value', value))"
            f" FROM json_each(app_data){of_keys})) END"
        )
    if page:
        rows = f"(SELECT {_LISTED_COLUMNS} FROM members WHERE {where} {page})"
    else:
        # A whole list straight off the (group_seq, id) index, in its order: no subquery to
        # carry the rows through (a fifth of a whole list's cost)
        rows = f"members INDEXED BY members_by_group WHERE {where}"
    count, last_id, text = c.execute(
        f"SELECT count(*), max(id), json_group_array(json_object({', '.join(parts)})) FROM {rows}",
        [*key_args, *args],
    ).fetchone()
    return MemberList(count, last_id, orjson.Fragment(text))


def accounts_param(body: dict, field: str, limit: int) -> list[str]:
    """A non-empty array of at most ``limit`` UserIDs (10005 beyond), each once."""
    accounts = string_list(body, field)
    if not accounts:
        raise R.bad(f"{field} must list at least one account")
    if len(accounts) > limit:
        raise ApiError(
            E.TOO_MANY_ACCOUNTS, f"{field} holds {len(accounts)} accounts; at most {limit}"
        )
    for account in accounts:
        R.check_user_id(account, field)
    return list(dict.fromkeys(accounts))


def text_changes(body: dict, texts: dict[str, tuple[str, int]]) -> dict[str, Any]:
    """Column -> value for the texts a modify request sends (``texts``: field -> (column,
    byte limit)); a name, if sent, must not be empty."""
    sets: dict[str, Any] = {}
    for f, (col, limit) in texts.items():
        value = R.get_str(body, f, limit)
        if value is not None:
            if col == "name" and not value:
                raise R.bad(f"{f} must not be empty")
            sets[col] = value
    return sets


def keep_mutes(c: sqlite3.Connection, seq: int, accounts: list[str], now: int) -> None:
    """Members about to leave a group keep their mutes (CN-1627): held apart until they
    rejoin (``restore_mutes``)."""
    marks = ",".join("?" * len(accounts))
    c.execute(
        "INSERT INTO room_mutes(group_seq, account, mute_until) SELECT group_seq, account,"
        f" mute_until FROM members WHERE group_seq = ? AND mute_until > ? AND account IN ({marks})"
        " ON CONFLICT(group_seq, account) DO UPDATE SET mute_until = excluded.mute_until",
        [seq, now, *accounts],
    )


def restore_mutes(c: sqlite3.Connection, seq: int, accounts: list[str], now: int) -> None:
    """Members who rejoined a group (not an AVChatRoom, whose mutes stay apart) are muted again
    until their mute from before ends."""
    marks = ",".join("?" * len(accounts))
    c.execute(
        "UPDATE members SET mute_until = (SELECT mute_until FROM room_mutes r"
        " WHERE r.group_seq = members.group_seq AND r.account = members.account)"
        f" WHERE group_seq = ? AND account IN ({marks}) AND account IN"
        " (SELECT account FROM room_mutes WHERE group_seq = ? AND mute_until > ?)",
        [seq, *accounts, seq, now],
    )
    sql = f"DELETE FROM room_mutes WHERE group_seq = ? AND account IN ({marks})"
    c.execute(sql, [seq, *accounts])
