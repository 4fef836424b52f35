"""AVChatRoom (group_open_avchatroom_http_svc): online members, their marks, and the room's
admins."""

from __future__ import annotations

import json
import sqlite3

import orjson

from ...tim.limits import AVCHATROOM_SVC
from .. import errors as E
from .. import rules as R
from ..errors import ApiError
from .common import (
    Ctx,
    Handler,
    accounts_param,
    is_online,
    load_group,
    no_type,
    require_accounts,
)

SERVICE = AVCHATROOM_SVC


def _room(c: sqlite3.Connection, body: dict, api: str) -> sqlite3.Row:
    g = load_group(c, body)
    if g["type"] != R.AVCHATROOM:
        raise no_type(g, api)
    return g


def modify_admin(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Set (CommandType 1) or revoke (2) AVChatRoom admins; at most 5 per room after the call."""
    command = R.as_int(body.get("CommandType"))
    if command not in (1, 2):
        raise R.bad("CommandType must be 1 (set admins) or 2 (revoke admins)")
    accounts = accounts_param(body, "Admin_Account", R.ADMIN_BATCH)
    g = _room(c, body, "modify_admin")
    require_accounts(c, accounts)
    rows = [(g["seq"], a) for a in accounts]
    if command == 2:
        c.executemany("DELETE FROM room_admins WHERE group_seq = ? AND account = ?", rows)
        return {}
    c.executemany("INSERT OR IGNORE INTO room_admins(group_seq, account) VALUES (?, ?)", rows)
    count = c.execute("SELECT count(*) FROM room_admins WHERE group_seq = ?", (g["seq"],))
    if count.fetchone()[0] > R.MAX_ROOM_ADMINS:
        raise R.bad(f"an AVChatRoom has at most {R.MAX_ROOM_ADMINS} admins")
    return {}


def get_admin_list(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    g = _room(c, body, "get_admin_list")
    rows = c.execute(
        "SELECT account FROM room_admins WHERE group_seq = ? ORDER BY account", (g["seq"],)
    )
    # CN-102858; profiles are not emulated: Avatar and NickName are empty.
    return {"Admin_List": [{"Admin_Account": r[0], "Avatar": "", "NickName": ""} for r in rows]}


def modify_user_info(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    command = R.as_int(body.get("CommandType"))
    if command not in (1, 2):
        raise R.bad("CommandType must be 1 (set marks) or 2 (delete marks)")
    items = R.get_list(body, "MemberList")
    if not items:
        raise R.bad("MemberList must not be empty")
    if len(items) > R.MARKS_BATCH:
        raise ApiError(
            E.TOO_MANY_ACCOUNTS, f"MemberList holds {len(items)} accounts; at most {R.MARKS_BATCH}"
        )
    wanted: list[tuple[str, list[int]]] = []
    for item in items:
        if not isinstance(item, dict):
            raise R.bad("MemberList items must be objects")
        account = R.check_user_id(item.get("Member_Account"))
        raw_marks = item.get("Marks")
        if not isinstance(raw_marks, list) or not raw_marks:
            raise R.bad(f"{account}: Marks must be a non-empty array of numbers")
        marks: list[int] = []
        for raw in raw_marks:
            mark = R.as_int(raw)
            if (
                mark is None
                or mark > R.MAX_MARK
                or (mark < R.MIN_CUSTOM_MARK and mark not in R.SPECIAL_MARKS)
            ):
                raise R.bad(f"{account}: mark {raw!r} must be >= {R.MIN_CUSTOM_MARK} or 500/600")
            marks.append(mark)
        wanted.append((account, marks))
    g = load_group(c, body)
    if g["type"] != R.AVCHATROOM:
        raise no_type(g, "modify_user_info")
    now = ctx.now
    done = []
    for account, marks in wanted:
        m = c.execute(
            "SELECT id, online, marks, mark500_until FROM members"
            " WHERE group_seq = ? AND account = ?",
            (g["seq"], account),
        ).fetchone()
        if m is None or not is_online(m, now):
            continue  # offline or unknown accounts are left out of the answer
        current = set(json.loads(m["marks"]))
        until = m["mark500_until"]
        if command == 1:
            current.update(marks)
            if R.MARK_ALWAYS_ONLINE in marks:
                until = now + R.MARK_500_SECONDS
        else:
            current.difference_update(marks)
            if R.MARK_ALWAYS_ONLINE in marks:
                until = 0
        c.execute(
            "UPDATE members SET marks = ?, mark500_until = ? WHERE id = ?",
            (json.dumps(sorted(current)), until, m["id"]),
        )
        done.append({"Member_Account": account, "Marks": marks})
    if not done:
        raise R.bad("none of the accounts is an online member of the group")
    if command == 1:
        per_mark: dict[int, int] = {}
        for m in c.execute(
            "SELECT online, marks, mark500_until FROM members"
            " WHERE group_seq = ? AND marks != '[]'",
            (g["seq"],),
        ):
            if is_online(m, now):
                for mark in json.loads(m["marks"]):
                    per_mark[mark] = per_mark.get(mark, 0) + 1
        custom = [k for k in per_mark if k >= R.MIN_CUSTOM_MARK]
        if len(custom) > R.MAX_DISTINCT_MARKS:
            raise R.bad(f"a group may use at most {R.MAX_DISTINCT_MARKS} different marks")
        crowded = [k for k, n in per_mark.items() if n > R.MAX_ACCOUNTS_PER_MARK]
        if crowded:
            raise R.bad(
                f"mark {crowded[0]} would be on more than {R.MAX_ACCOUNTS_PER_MARK} members"
            )
    return {"CommandType": command, "MemberList": done}


def get_members(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    timestamp = R.get_int(body, "Timestamp", required=True)
    mark = R.get_int(body, "Mark", maximum=R.MAX_MARK)
    g = load_group(c, body)
    if g["type"] not in (R.AVCHATROOM, R.COMMUNITY):
        raise no_type(g, "get_members")
    # Online as is_online() says, and carrying ``mark`` (without one: not hidden by mark 600),
    # selected in SQL: the rows read are the rows that can be answered.
    has_mark = "EXISTS (SELECT 1 FROM json_each(m.marks) WHERE value = ?)"
    where, args = "m.group_seq = ? AND (m.online OR m.mark500_until > ?)", [g["seq"], ctx.now]
    if mark is not None:  # no cap to the latest joiners: the page starts and ends in SQL
        where += f" AND m.id > ? AND m.marks != '[]' AND {has_mark} ORDER BY m.id LIMIT ?"
        args += [timestamp, mark, R.GET_MEMBERS_PAGE + 1]  # one more: to know more follow
    else:  # only the latest 1000 online joiners
        where += f" AND (m.marks = '[]' OR NOT {has_mark}) ORDER BY m.id DESC LIMIT ?"
        args += [R.MARK_HIDDEN, R.ONLINE_LIST_CAP]
    rows = c.execute(
        "SELECT m.id, m.account, m.join_time, m.marks, a.nick, a.face_url FROM members m"
        f" LEFT JOIN accounts a ON a.user_id = m.account WHERE {where}",
        args,
    ).fetchall()
    if mark is None:
        rows.reverse()
    page = [row for row in rows if row[0] > timestamp]
    more = len(page) > R.GET_MEMBERS_PAGE
    page = page[: R.GET_MEMBERS_PAGE]
    return {
        "MemberList": [
            {
                "Member_Account": m[1],
                "JoinTime": m[2],
                "NickName": m[4] or "",
                "Avatar": m[5] or "",
                "Marks": orjson.loads(m[3]),
            }
            for m in page
        ],
        "NextTimestamp": page[-1][0] if more else 0,
    }


# command -> (handler, writes?)
HANDLERS: dict[str, tuple[Handler, bool]] = {
    "modify_user_info": (modify_user_info, True),
    "get_members": (get_members, False),
    "modify_admin": (modify_admin, True),
    "get_admin_list": (get_admin_list, False),
}
