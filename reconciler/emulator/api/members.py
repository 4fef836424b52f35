"""Group members (group_open_http_svc): listing, adding, importing, removing and changing
members, muting and banning them, and an account's role."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ...tim.limits import GROUP_SVC
from .. import errors as E
from .. import rules as R
from ..errors import ApiError
from ..store import (
    MEMBER_COLUMNS,
)
from .common import (
    Ctx,
    Handler,
    accounts_param,
    existing_members,
    field_set,
    keep_mutes,
    load_group,
    member_count,
    member_list,
    no_type,
    require_accounts,
    restore_mutes,
    string_list,
)
from .topics import topic_exists, topic_id_param

SERVICE = GROUP_SVC


def get_group_member_info(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    g = load_group(c, body)
    if g["type"] not in R.MEMBER_TYPES:
        raise no_type(g, "get_group_member_info")
    fields = field_set(body.get("MemberInfoFilter"), "MemberInfoFilter")
    roles = field_set(body.get("MemberRoleFilter"), "MemberRoleFilter")
    if roles is not None and not roles <= {"Owner", "Admin", "Member"}:
        raise R.bad("MemberRoleFilter accepts Owner, Admin and Member")
    mkeys = field_set(
        body.get("AppDefinedDataFilter_GroupMember"), "AppDefinedDataFilter_GroupMember"
    )
    page_max = ctx.profile.member_page_max
    limit = R.as_int(body.get("Limit", 0))
    if limit is None or not 0 <= limit <= page_max:
        raise R.bad(f"Limit must be an integer from 1 to {page_max}")
    offset = R.as_int(body.get("Offset", 0))
    if offset is None or not 0 <= offset <= R.INT64_MAX:
        raise R.bad("Offset must be an integer >= 0")
    community = g["type"] == R.COMMUNITY
    where, args = "group_seq = ?", [g["seq"]]
    if roles is not None:
        where += f" AND role IN ({','.join('?' * len(roles))})"
        args.extend(sorted(roles))
    if community:
        if offset:
            raise R.bad("Community groups page with Next, not Offset")
        nxt = body.get("Next", "")
        if not isinstance(nxt, str):
            raise R.bad("Next must be a string")
        try:
            after = int(nxt, 16) if nxt else 0
        except ValueError:
            raise R.bad('Next must be "" or a value returned by a previous call') from None
        where += " AND id > ?"
        args.append(after)
        offset = 0
    count = member_count(c, g["seq"])
    cut, page_args = "", list(args)
    if offset or (limit and count > limit):  # else the page is all the selection
        cut = "ORDER BY id LIMIT ? OFFSET ?"
        page_args.extend([limit or -1, offset])
    page = member_list(c, where, page_args, fields, mkeys, mkeys is not None or fields is None, cut)
    out: dict[str, Any] = {"MemberNum": count, "MemberList": page.json}
    if community:
        more = (
            bool(limit)
            and page.count == limit
            and c.execute(
                f"SELECT 1 FROM members WHERE {where} AND id > ? LIMIT 1", [*args, page.last_id]
            ).fetchone()
            is not None
        )
        out["Next"] = format(page.last_id, "x") if more else ""
    return out


def get_specified_group_member_info(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """The named members of a group (CN-112002): up to 50 accounts (10005 beyond); accounts
    that are not members are left out of MemberList; filters as get_group_member_info.
    Not AVChatRoom (10007)."""
    accounts = accounts_param(body, "Member_List_Account", R.SPECIFIED_MEMBERS_BATCH)
    g = load_group(c, body)
    if g["type"] not in R.MEMBER_TYPES:
        raise no_type(g, "get_specified_group_member_info")
    fields = field_set(body.get("MemberInfoFilter"), "MemberInfoFilter")
    roles = field_set(body.get("MemberRoleFilter"), "MemberRoleFilter")
    if roles is not None and not roles <= {"Owner", "Admin", "Member"}:
        raise R.bad("MemberRoleFilter accepts Owner, Admin and Member")
    mkeys = field_set(
        body.get("AppDefinedDataFilter_GroupMember"), "AppDefinedDataFilter_GroupMember"
    )
    where = f"group_seq = ? AND account IN ({','.join('?' * len(accounts))})"
    args: list[Any] = [g["seq"], *accounts]
    if roles is not None:
        where += f" AND role IN ({','.join('?' * len(roles))})"
        args.extend(sorted(roles))
    # +id: look the named accounts up by (group_seq, account) and sort the few found, rather
    # than walk the whole group in id order to find them
    with_custom = mkeys is not None or fields is None
    named = member_list(c, where, args, fields, mkeys, with_custom, "ORDER BY +id")
    return {"GroupId": g["group_id"], "MemberList": named.json}


def _member_items(body: dict, limit: int) -> list[dict]:
    items = R.get_list(body, "MemberList")
    if not items:
        raise R.bad("MemberList must not be empty")
    if len(items) > limit:
        raise ApiError(
            E.TOO_MANY_ACCOUNTS, f"MemberList holds {len(items)} accounts; at most {limit}"
        )
    for item in items:
        if not isinstance(item, dict):
            raise R.bad("MemberList items must be objects")
        R.check_user_id(item.get("Member_Account"))
    return items


def _add_members(
    ctx: Ctx, c: sqlite3.Connection, body: dict, items: list[dict], api: str, importing: bool
) -> dict:
    g = load_group(c, body)
    if g["type"] not in R.MEMBER_TYPES:
        raise no_type(g, api)
    accounts = [item["Member_Account"] for item in items]
    require_accounts(c, accounts)
    present = existing_members(c, g["seq"], accounts)
    results = []
    new_rows = []
    for item in items:
        account = item["Member_Account"]
        if account in present:
            results.append({"Member_Account": account, "Result": 2})
            continue
        join_time = ctx.now
        if importing:
            given = R.get_int(item, "JoinTime")
            join_time = ctx.now if given is None else given
            if (
                given is not None
                and ctx.profile.join_time_rules
                and not g["create_time"] < given <= ctx.now
            ):
                # CN-1636: a JoinTime before the group's creation or in the future fails that
                # member alone (Result 0); the others are imported.
                results.append({"Member_Account": account, "Result": 0})
                continue
        present.add(account)
        results.append({"Member_Account": account, "Result": 1})
        role = item.get("Role", "Member") if importing else "Member"
        new_rows.append((g["seq"], account, role, join_time))
    if new_rows:
        count = member_count(c, g["seq"])
        if count + len(new_rows) > g["max_member_num"]:
            raise ApiError(
                E.GROUP_FULL,
                f"group {g['group_id']} is full: {count} members + {len(new_rows)} new"
                f" > MaxMemberNum {g['max_member_num']}",
            )
        c.executemany(
            "INSERT INTO members(group_seq, account, role, join_time) VALUES (?,?,?,?)", new_rows
        )
        restore_mutes(c, g["seq"], [row[1] for row in new_rows], ctx.now)
    return {"MemberList": results}


def add_group_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    items = _member_items(body, ctx.profile.add_batch)
    silence = R.as_int(body.get("Silence", 0))
    if silence not in (0, 1):
        raise R.bad("Silence must be 0 or 1")
    return _add_members(ctx, c, body, items, "add_group_member", importing=False)


def import_group_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    items = _member_items(body, ctx.profile.import_batch)
    for item in items:
        if item.get("Role", "Admin") != "Admin":
            raise R.bad(f"{item['Member_Account']}: Role may only be 'Admin'")
        R.get_int(item, "JoinTime", maximum=R.UNIX_TIME_MAX)
        R.get_int(item, "UnreadMsgNum")
    return _add_members(ctx, c, body, items, "import_group_member", importing=True)


def delete_group_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    accounts = string_list(body, "MemberToDel_Account")
    if not accounts:
        raise R.bad("MemberToDel_Account must list at least one account")
    if len(accounts) > R.DELETE_BATCH:
        raise ApiError(
            E.TOO_MANY_ACCOUNTS,
            f"MemberToDel_Account holds {len(accounts)} accounts; at most {R.DELETE_BATCH}",
        )
    reason = body.get("Reason")
    if reason is not None and not isinstance(reason, str):
        raise R.bad("Reason must be a string")
    g = load_group(c, body)
    if g["type"] not in R.MEMBER_TYPES:
        raise no_type(g, "delete_group_member", E.BAD_PARAM)
    if g["owner"] and g["owner"] in accounts:
        raise ApiError(E.NO_PERMISSION, f"the owner {g['owner']} cannot be removed")
    gone = [(g["seq"], a) for a in dict.fromkeys(accounts)]
    keep_mutes(c, g["seq"], accounts, ctx.now)
    c.executemany("DELETE FROM members WHERE group_seq = ? AND account = ?", gone)
    # Leaving the group leaves its permission groups too.
    c.executemany("DELETE FROM permission_members WHERE group_seq = ? AND account = ?", gone)
    return {}


def modify_group_member_info(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    gid = R.group_id_param(body)
    account = R.check_user_id(body.get("Member_Account"))
    g = load_group(c, {"GroupId": gid})
    if g["type"] not in R.MEMBER_TYPES:
        raise no_type(g, "modify_group_member_info")
    m = c.execute(
        f"SELECT {MEMBER_COLUMNS} FROM members WHERE group_seq = ? AND account = ?",
        (g["seq"], account),
    ).fetchone()
    if m is None:
        raise R.bad(f"{account} is not a member of {gid}")
    sets: dict[str, Any] = {}
    role = body.get("Role")
    if role is not None:
        if role not in ("Admin", "Member"):
            raise R.bad("Role must be 'Admin' or 'Member'")
        if m["role"] == "Owner":
            raise R.bad(f"{account} is the owner; the owner's role cannot be changed")
        sets["role"] = role
    msg_flag = body.get("MsgFlag")
    if msg_flag is not None:
        if msg_flag not in R.MSG_FLAGS:
            raise R.bad(f"MsgFlag must be one of {sorted(R.MSG_FLAGS)}")
        sets["msg_flag"] = msg_flag
    name_card = R.get_str(body, "NameCard", R.NAME_CARD_BYTES)
    if name_card is not None:
        sets["name_card"] = name_card
    if "AppMemberDefinedData" in body:
        pairs = R.custom_data(body["AppMemberDefinedData"], "AppMemberDefinedData")
        sets["app_data"] = json.dumps(R.apply_custom(json.loads(m["app_data"]), pairs))
    mute = R.mute_time_param(body)
    if mute is not None:
        if g["type"] == R.PRIVATE:
            raise R.bad("Work (Private) groups do not support muting members")
        sets["mute_until"] = ctx.now + mute if mute else 0
    if sets:
        c.execute(
            f"UPDATE members SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",
            [*sets.values(), m["id"]],
        )
    return {}


def _topic(c: sqlite3.Connection, g: sqlite3.Row, body: dict) -> str | None:
    """The topic a mute call names (``TopicId``, CN-1627 and CN-2925), or None for the whole
    group: a topic of this Community with topics (10010 for one that does not exist)."""
    if body.get("TopicId") is None:
        return None
    if g["type"] != R.COMMUNITY or not g["support_topic"]:
        raise R.bad(f"TopicId: group {g['group_id']} is not a Community with topics")
    topic = topic_id_param(g, body["TopicId"])
    if not topic_exists(c, g["seq"], topic):
        raise ApiError(E.GROUP_GONE, f"topic {topic} does not exist")
    return topic


def forbid_send_msg(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Mute up to 500 accounts for MuteTime seconds (0 unmutes); Work groups cannot mute."""
    accounts = accounts_param(body, "Members_Account", R.MUTE_BATCH)
    mute = R.mute_time_param(body)
    if mute is None:
        raise R.bad("MuteTime is required (seconds; 0 unmutes)")
    g = load_group(c, body)
    if g["type"] == R.PRIVATE:
        raise no_type(g, "forbid_send_msg")
    topic = _topic(c, g, body)
    require_accounts(c, accounts)
    until = ctx.now + mute if mute else 0
    if g["type"] == R.AVCHATROOM:
        # Held apart from presence: a mute outlives leaving and rejoining the room.
        if until:
            c.executemany(
                "INSERT INTO room_mutes(group_seq, account, mute_until) VALUES (?, ?, ?)"
                " ON CONFLICT(group_seq, account) DO UPDATE SET mute_until = excluded.mute_until",
                [(g["seq"], a, until) for a in accounts],
            )
        else:
            c.executemany(
                "DELETE FROM room_mutes WHERE group_seq = ? AND account = ?",
                [(g["seq"], a) for a in accounts],
            )
        return {}
    strangers = sorted(set(accounts) - existing_members(c, g["seq"], accounts))
    if strangers:
        raise R.bad(f"not members of {g['group_id']}: {', '.join(strangers[:5])}")
    if topic is not None:
        c.executemany(
            "DELETE FROM topic_mutes WHERE group_seq = ? AND topic_id = ? AND account = ?",
            [(g["seq"], topic, a) for a in accounts],
        )
        c.executemany(
            "INSERT INTO topic_mutes(group_seq, topic_id, account, mute_until) VALUES (?,?,?,?)",
            [(g["seq"], topic, a, until) for a in accounts if until],
        )
        return {}
    c.executemany(
        "UPDATE members SET mute_until = ? WHERE group_seq = ? AND account = ?",
        [(until, g["seq"], a) for a in accounts],
    )
    return {}


def get_group_muted_account(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """The accounts muted now, with the second their mute ends (none in Work groups)."""
    g = load_group(c, body)
    topic = _topic(c, g, body)
    if topic is not None:
        rows = c.execute(
            "SELECT account, mute_until FROM topic_mutes WHERE group_seq = ? AND topic_id = ?"
            " AND mute_until > ? ORDER BY account",
            (g["seq"], topic, ctx.now),
        ).fetchall()
        return _muted(g, rows)
    if g["type"] == R.AVCHATROOM:
        sql = "SELECT account, mute_until FROM room_mutes WHERE group_seq = ? AND mute_until > ?"
    else:
        sql = "SELECT account, mute_until FROM members WHERE group_seq = ? AND mute_until > ?"
    rows = c.execute(sql + " ORDER BY account", (g["seq"], ctx.now)).fetchall()
    return _muted(g, rows)


def _muted(g: sqlite3.Row, rows: list) -> dict:
    """get_group_muted_account's answer (CN-2925): the group and its muted accounts."""
    muted = [{"Member_Account": a, "MutedUntil": u} for a, u in rows]
    return {"GroupId": g["group_id"], "MutedAccountList": muted}


def get_group_shutted_uin(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """get_group_muted_account's older name (EN-34964 of 2020, still called by PyPI timsdk):
    the same list, as ``ShuttedUinList`` of ``{Member_Account, ShuttedUntil}``."""
    answer = get_group_muted_account(ctx, c, body)
    muted = answer.pop("MutedAccountList")
    shutted = [
        {"Member_Account": m["Member_Account"], "ShuttedUntil": m["MutedUntil"]} for m in muted
    ]
    return {**answer, "ShuttedUinList": shutted}


def get_role_in_group(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Each named account's role in a group (EN-34963): Owner, Admin, Member or NotMember; up
    to 500 accounts a call; not for AVChatRoom (10007)."""
    g = load_group(c, body)
    if g["type"] == R.AVCHATROOM:
        raise no_type(g, "get_role_in_group")
    accounts = string_list(body, "User_Account")
    if not accounts or len(accounts) > R.ROLE_QUERY_BATCH:
        raise R.bad(f"User_Account must hold 1 to {R.ROLE_QUERY_BATCH} accounts")
    marks = ",".join("?" * len(accounts))
    roles = dict(
        c.execute(
            f"SELECT account, role FROM members WHERE group_seq = ? AND account IN ({marks})",
            [g["seq"], *accounts],
        ).fetchall()
    )
    return {
        "UserIdList": [{"Member_Account": a, "Role": roles.get(a, "NotMember")} for a in accounts]
    }


def ban_group_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Ban up to 20 accounts for Duration seconds, in any group type (CN-79249): each leaves the
    group (an AVChatRoom's marks too; a mute stays) and cannot come back until the ban ends or
    is lifted."""
    accounts = accounts_param(body, "Members_Account", R.BAN_BATCH)
    duration = R.get_int(body, "Duration", required=True, minimum=1, maximum=R.UNIX_TIME_MAX)
    description = R.get_str(body, "Description", R.BAN_DESCRIPTION_BYTES) or ""
    g = load_group(c, body)  # every group type (CN-79249, 2025-12-15)
    require_accounts(c, accounts)
    if g["owner"] and g["owner"] in accounts:
        raise ApiError(E.NO_PERMISSION, f"the owner {g['owner']} cannot be banned")
    until = ctx.now + duration
    c.executemany(
        "INSERT INTO room_bans(group_seq, account, banned_until, description) VALUES (?,?,?,?)"
        " ON CONFLICT(group_seq, account) DO UPDATE SET banned_until = excluded.banned_until,"
        " description = excluded.description",
        [(g["seq"], a, until, description) for a in accounts],
    )
    if g["type"] != R.AVCHATROOM:
        keep_mutes(c, g["seq"], accounts, ctx.now)
    gone = [(g["seq"], a) for a in accounts]
    c.executemany("DELETE FROM members WHERE group_seq = ? AND account = ?", gone)
    c.executemany("DELETE FROM permission_members WHERE group_seq = ? AND account = ?", gone)
    return {}


def unban_group_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Lift the bans of up to 20 accounts (an account not banned is no error)."""
    accounts = accounts_param(body, "Members_Account", R.UNBAN_BATCH)
    g = load_group(c, body)
    c.executemany(
        "DELETE FROM room_bans WHERE group_seq = ? AND account = ?",
        [(g["seq"], a) for a in accounts],
    )
    return {}


def banned(c: sqlite3.Connection, seq: int, account: str, now: int) -> bool:
    row = c.execute(
        "SELECT 1 FROM room_bans WHERE group_seq = ? AND account = ? AND banned_until > ?",
        (seq, account, now),
    ).fetchone()
    return row is not None


def get_group_ban_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Banned accounts of an AVChatRoom, ``Limit`` (1-100) from ``Offset``; NextOffset 0 = done."""
    limit = R.get_int(body, "Limit", minimum=1, maximum=R.BAN_PAGE) or R.BAN_PAGE
    offset = R.get_int(body, "Offset") or 0
    g = load_group(c, body)
    rows = c.execute(
        "SELECT account, banned_until FROM room_bans WHERE group_seq = ? AND banned_until > ?"
        " ORDER BY account LIMIT ? OFFSET ?",
        (g["seq"], ctx.now, limit + 1, offset),
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "BannedAccountList": [{"Member_Account": a, "BannedUntil": u} for a, u in rows],
        "NextOffset": offset + len(rows) if more else 0,
    }


# command -> (handler, writes?)
HANDLERS: dict[str, tuple[Handler, bool]] = {
    "get_group_member_info": (get_group_member_info, False),
    "get_specified_group_member_info": (get_specified_group_member_info, False),
    "add_group_member": (add_group_member, True),
    "delete_group_member": (delete_group_member, True),
    "import_group_member": (import_group_member, True),
    "modify_group_member_info": (modify_group_member_info, True),
    "forbid_send_msg": (forbid_send_msg, True),
    "get_group_muted_account": (get_group_muted_account, False),
    "ban_group_member": (ban_group_member, True),
    "unban_group_member": (unban_group_member, True),
    "get_group_ban_member": (get_group_ban_member, False),
    "get_group_shutted_uin": (get_group_shutted_uin, False),
    "get_role_in_group": (get_role_in_group, False),
}
