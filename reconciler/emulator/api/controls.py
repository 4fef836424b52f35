"""Emulator controls (outside /v4): what end users do through the client SDK -- come online,
join, leave, post a message."""

from __future__ import annotations

import sqlite3

from .. import errors as E
from .. import rules as R
from ..errors import ApiError
from .common import (
    Ctx,
    Handler,
    existing_members,
    is_online,
    keep_mutes,
    load_group,
    member_count,
    no_type,
    require_accounts,
    restore_mutes,
)
from .members import banned

ONLINE_BATCH = 500  # accounts one /emulator/online request may bring in or out


def online_accounts(body: dict) -> list[str]:
    """The accounts of an /emulator/online request: ``Account``, or ``Accounts`` (up to 500,
    one group) so that a test bed can bring many members online in one request."""
    if "Accounts" not in body:
        return [R.check_user_id(body.get("Account"), "Account")]
    accounts = body["Accounts"]
    if not isinstance(accounts, list) or not 0 < len(accounts) <= ONLINE_BATCH:
        raise R.bad(f"Accounts must be a list of 1-{ONLINE_BATCH} UserIDs")
    return list(dict.fromkeys(R.check_user_id(a, "Accounts") for a in accounts))


def control_online(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Users connect to (Online true) or disconnect from an AVChatRoom or Community group."""
    accounts = online_accounts(body)
    online = body.get("Online", True)
    if not isinstance(online, bool):
        raise R.bad("Online must be true or false")
    g = load_group(c, body)
    require_accounts(c, accounts)
    if g["type"] not in (R.COMMUNITY, R.AVCHATROOM):
        raise no_type(g, "online presence")
    for account in accounts:
        _connect(ctx, c, g, account, online)
    return {"Online": online}


def _connect(ctx: Ctx, c: sqlite3.Connection, g: sqlite3.Row, account: str, online: bool) -> None:
    now = ctx.now
    m = c.execute(
        "SELECT id, online, marks, mark500_until FROM members WHERE group_seq = ? AND account = ?",
        (g["seq"], account),
    ).fetchone()
    if g["type"] == R.COMMUNITY:
        if m is None:
            raise R.bad(f"{account} is not a member of {g['group_id']}")
        c.execute("UPDATE members SET online = ? WHERE id = ?", (int(online), m["id"]))
        return
    if online and banned(c, g["seq"], account, now):
        raise ApiError(E.NO_PERMISSION, f"{account} is banned from {g['group_id']}")
    if online:
        if m is None:
            c.execute(
                "INSERT INTO members(group_seq, account, join_time, online) VALUES (?, ?, ?, 1)",
                (g["seq"], account, now),
            )
        elif not is_online(m, now):  # a new session: marks from an old one are gone
            c.execute(
                "UPDATE members SET online = 1, join_time = ?, marks = '[]', mark500_until = 0"
                " WHERE id = ?",
                (now, m["id"]),
            )
        else:
            c.execute("UPDATE members SET online = 1 WHERE id = ?", (m["id"],))
    elif m is not None:
        if m["mark500_until"] > now:  # mark 500: the disconnection is ignored
            c.execute("UPDATE members SET online = 0 WHERE id = ?", (m["id"],))
        else:  # leaving an AVChatRoom drops the member and its marks
            c.execute("DELETE FROM members WHERE id = ?", (m["id"],))


def control_join(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """A user joins a Public, Meeting (ChatRoom) or Community group by themselves."""
    account = R.check_user_id(body.get("Account"), "Account")
    g = load_group(c, body)
    if g["type"] == R.AVCHATROOM:
        return control_online(ctx, c, {**body, "Online": True})
    if g["type"] not in (R.PUBLIC, R.CHATROOM, R.COMMUNITY):
        raise no_type(g, "joining by oneself")
    if g["apply_join"] == "DisableApply":
        raise ApiError(E.NO_PERMISSION, f"{g['group_id']} does not accept applications")
    require_accounts(c, [account])
    if banned(c, g["seq"], account, ctx.now):
        raise ApiError(E.NO_PERMISSION, f"{account} is banned from {g['group_id']}")
    if existing_members(c, g["seq"], [account]):
        return {"Result": 2}
    if member_count(c, g["seq"]) + 1 > g["max_member_num"]:
        raise ApiError(E.GROUP_FULL, f"group {g['group_id']} is full")
    c.execute(
        "INSERT INTO members(group_seq, account, join_time) VALUES (?, ?, ?)",
        (g["seq"], account, ctx.now),
    )
    restore_mutes(c, g["seq"], [account], ctx.now)
    return {"Result": 1}


def control_leave(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """A member leaves a group by themselves (the owner may not; 10009)."""
    account = R.check_user_id(body.get("Account"), "Account")
    g = load_group(c, body)
    if g["type"] == R.AVCHATROOM:
        return control_online(ctx, c, {**body, "Online": False})
    if g["owner"] == account:
        raise ApiError(E.OWNER_CANNOT_QUIT, f"{account} owns {g['group_id']} and cannot leave it")
    keep_mutes(c, g["seq"], [account], ctx.now)
    c.execute("DELETE FROM members WHERE group_seq = ? AND account = ?", (g["seq"], account))
    c.execute(
        "DELETE FROM permission_members WHERE group_seq = ? AND account = ?", (g["seq"], account)
    )
    return {}


def control_message(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """A member posts a message: the group's message seq and times move, and so do the member's
    (MsgSeq, LastSendMsgTime), as chat moves them between a plan and its apply."""
    account = R.check_user_id(body.get("Account"), "Account")
    g = load_group(c, body)
    if not existing_members(c, g["seq"], [account]):
        raise R.bad(f"{account} is not a member of {g['group_id']}")
    seq = g["next_msg_seq"]
    c.execute(
        "UPDATE groups SET next_msg_seq = ?, last_msg_time = ? WHERE seq = ?",
        (seq + 1, ctx.now, g["seq"]),
    )
    c.execute(
        "UPDATE members SET msg_seq = ?, last_send_msg_time = ?"
        " WHERE group_seq = ? AND account = ?",
        (seq, ctx.now, g["seq"], account),
    )
    return {"MsgSeq": seq}


CONTROLS: dict[str, Handler] = {
    "online": control_online,
    "join": control_join,
    "leave": control_leave,
    "message": control_message,
}
