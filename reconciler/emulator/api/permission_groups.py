"""Permission groups of Communities (group_open_http_svc): the groups, their members and their
permissions in each topic."""

from __future__ import annotations

import sqlite3
from typing import Any

from ...tim.limits import GROUP_SVC
from .. import errors as E
from .. import rules as R
from ..errors import ApiError
from ..store import (
    EmulatorStore,
    server_topic_suffix,
)
from .common import (
    Ctx,
    Handler,
    existing_members,
    string_list,
    text_changes,
)
from .topics import topic_exists, topic_group, topic_id_param

SERVICE = GROUP_SVC


PG_TEXT = {
    "PermissionGroupName": ("name", R.PERMISSION_GROUP_NAME_BYTES),
    "CustomString": ("custom_string", R.TOPIC_CUSTOM_STRING_BYTES),
}


def _pg_id_param(value: Any, field: str = "PermissionGroupId") -> str:
    """ "@PMG#_" then 1-48 bytes of printable ASCII (the custom part's limit is chosen)."""
    if not isinstance(value, str):
        raise R.bad(f"{field} must be a string")
    suffix = value[len(R.PERMISSION_GROUP_PREFIX) :]
    if (
        not value.startswith(R.PERMISSION_GROUP_PREFIX)
        or not suffix
        or not R.printable_ascii(suffix)
        or len(suffix) > R.TOPIC_SUFFIX_BYTES
    ):
        raise R.bad(
            f"{field} {value!r}: a permission group ID is {R.PERMISSION_GROUP_PREFIX!r} "
            f"followed by 1-{R.TOPIC_SUFFIX_BYTES} bytes of printable ASCII"
        )
    return value


def _existing_pg(c: sqlite3.Connection, g: sqlite3.Row, body: dict) -> str:
    pg = _pg_id_param(body.get("PermissionGroupId"))
    row = c.execute(
        "SELECT 1 FROM permission_groups WHERE group_seq = ? AND pg_id = ?", (g["seq"], pg)
    ).fetchone()
    if row is None:
        raise ApiError(E.GROUP_GONE, f"permission group {pg} does not exist")
    return pg


def _permission_value(body: dict, required: bool = False) -> int | None:
    return R.get_int(body, "Permission", required=required)


def create_permission_group(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """A permission group of a Community with topics (chosen: the same groups as topics;
    10007 otherwise); PermissionGroupName 1-150 bytes; a used ID 10021 (chosen)."""
    g = topic_group(c, body, "create_permission_group")
    values = {col: R.get_str(body, f, limit) for f, (col, limit) in PG_TEXT.items()}
    if not values["name"]:
        raise R.bad("PermissionGroupName is required and must not be empty")
    permission = _permission_value(body, required=True)  # required (CN-103966)
    if body.get("PermissionGroupId") is not None:
        pg = _pg_id_param(body["PermissionGroupId"])
        problem = R.permission_group_id_problem(pg[len(R.PERMISSION_GROUP_PREFIX) :])
        if problem:
            raise R.bad(f"PermissionGroupId: {problem}")
    else:
        pg = R.PERMISSION_GROUP_PREFIX + server_topic_suffix(
            EmulatorStore.next_counter(c, "permission_group_id")
        ).replace("@TOPIC#", "@PMG#")
    used = c.execute(
        "SELECT 1 FROM permission_groups WHERE group_seq = ? AND pg_id = ?", (g["seq"], pg)
    ).fetchone()
    if used:
        raise ApiError(E.GROUP_ID_USED, f"permission group ID {pg} is already used")
    c.execute(
        "INSERT INTO permission_groups(group_seq, pg_id, name, permission, custom_string,"
        " create_time) VALUES (?,?,?,?,?,?)",
        (g["seq"], pg, values["name"], permission, values["custom_string"] or "", ctx.now),
    )
    return {"PermissionGroupId": pg}


def modify_permission_group(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    g = topic_group(c, body, "modify_permission_group")
    pg = _existing_pg(c, g, body)
    sets = text_changes(body, PG_TEXT)
    permission = _permission_value(body)
    if permission is not None:
        sets["permission"] = permission
    if sets:
        c.execute(
            "UPDATE permission_groups SET "
            + ", ".join(f"{col} = ?" for col in sets)
            + " WHERE group_seq = ? AND pg_id = ?",
            [*sets.values(), g["seq"], pg],
        )
    return {}


def destroy_permission_group(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Destroy 1-20 permission groups (a chosen limit), their members and topic permissions;
    one that does not exist is no error (chosen)."""
    g = topic_group(c, body, "destroy_permission_group")
    ids = string_list(body, "PermissionGroupIdList")
    if not ids:
        raise R.bad("PermissionGroupIdList must list at least one permission group")
    if len(ids) > R.PERMISSION_GROUP_BATCH:
        raise R.bad(f"PermissionGroupIdList holds {len(ids)}; at most {R.PERMISSION_GROUP_BATCH}")
    results = []
    for pg in dict.fromkeys(ids):
        _pg_id_param(pg, "PermissionGroupIdList")
        for table in ("permission_members", "topic_permissions", "permission_groups"):
            sql = f"DELETE FROM {table} WHERE group_seq = ? AND pg_id = ?"
            cur = c.execute(sql, (g["seq"], pg))
        gone = cur.rowcount  # of permission_groups
        code, info = (0, "") if gone else (E.GROUP_GONE, f"permission group {pg} does not exist")
        results.append({"ErrorCode": code, "ErrorInfo": info, "PermissionGroupId": pg})
    return {"PermissionGroupResultList": results}  # CN-103967


def _page(body: dict, most: int) -> tuple[int, int]:
    """``Limit`` (1 to ``most``, ``most`` when left out) and the offset a ``Next`` cursor
    stands for ("" or absent to start; the pages type it as a string and as an integer)."""
    limit = R.get_int(body, "Limit", minimum=1, maximum=most) or most
    cursor = body.get("Next")
    if cursor in (None, ""):
        return limit, 0
    if isinstance(cursor, bool) or not str(cursor).isdigit():
        raise R.bad("Next must be the Next of the previous answer")
    return limit, int(cursor)


def get_permission_group(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """The Community's permission groups: those of PermissionGroupIdList (a listed one that
    does not exist gets its own ErrorCode 10010), or all of them ``Limit`` (at most 20) a page
    by ``Next`` ("" at the end), as PermissionGroupInfoList (EN-61235)."""
    g = topic_group(c, body, "get_permission_group")
    rows = c.execute(
        "SELECT pg_id, name, permission, custom_string FROM permission_groups"
        " WHERE group_seq = ? ORDER BY create_time, pg_id",
        (g["seq"],),
    ).fetchall()
    by_id = {r[0]: r for r in rows}
    listed = string_list(body, "PermissionGroupIdList")
    limit, start = _page(body, R.PERMISSION_GROUP_PAGE)
    if listed:
        order, more = [_pg_id_param(p) for p in dict.fromkeys(listed)], ""
    else:
        order = list(by_id)[start : start + limit]
        more = str(start + limit) if start + limit < len(by_id) else ""
    items = []
    for pg in order:
        r = by_id.get(pg)
        if r is None:
            items.append({"PermissionGroupId": pg, "ErrorCode": E.GROUP_GONE, "ErrorInfo": ""})
            continue
        count = c.execute(
            "SELECT count(*) FROM permission_members WHERE group_seq = ? AND pg_id = ?",
            (g["seq"], pg),
        ).fetchone()[0]
        items.append(
            {
                "PermissionGroupId": pg,
                "PermissionGroupName": r[1],
                "Permission": r[2],
                "CustomString": r[3],
                "MemberCount": count,
                "ErrorCode": 0,
                "ErrorInfo": "",
            }
        )
    return {"PermissionGroupInfoList": items, "Next": more}


def _pg_accounts(body: dict) -> list[str]:
    items = R.get_list(body, "MemberList") or []
    if not items:
        raise R.bad("MemberList must not be empty")
    if len(items) > R.PERMISSION_MEMBER_BATCH:
        raise ApiError(
            E.TOO_MANY_ACCOUNTS,
            f"MemberList holds {len(items)} accounts; at most {R.PERMISSION_MEMBER_BATCH}",
        )
    accounts = []
    for item in items:
        if not isinstance(item, dict):
            raise R.bad("MemberList items must be objects")
        accounts.append(R.check_user_id(item.get("Member_Account")))
    return list(dict.fromkeys(accounts))


def add_permission_group_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Add up to 100 members of the Community to a permission group; each account's Result
    (CN-103974): 1 added, 2 already in it, 0 refused (chosen: not a member of the Community)."""
    g = topic_group(c, body, "add_permission_group_member")
    pg = _existing_pg(c, g, body)
    accounts = _pg_accounts(body)
    members = existing_members(c, g["seq"], accounts)
    sql = "INSERT OR IGNORE INTO permission_members(group_seq, pg_id, account) VALUES (?,?,?)"
    results = []
    for a in accounts:
        added = a in members and c.execute(sql, (g["seq"], pg, a)).rowcount
        results.append({"Member_Account": a, "Result": 0 if a not in members else 2 - added})
    return {"MemberList": results}


def delete_permission_group_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Take up to 100 accounts out of a permission group (one not in it is no error)."""
    g = topic_group(c, body, "delete_permission_group_member")
    pg = _existing_pg(c, g, body)
    c.executemany(
        "DELETE FROM permission_members WHERE group_seq = ? AND pg_id = ? AND account = ?",
        [(g["seq"], pg, a) for a in _pg_accounts(body)],
    )
    return {}


def get_permission_group_member_list(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """A permission group's members, ``Limit`` (at most 50) a page by ``Next`` ("" to start
    and at the end; CN-103976)."""
    g = topic_group(c, body, "get_permission_group_member_list")
    pg = _existing_pg(c, g, body)
    limit, start = _page(body, R.PERMISSION_MEMBER_PAGE)
    rows = [
        r[0]
        for r in c.execute(
            "SELECT account FROM permission_members WHERE group_seq = ? AND pg_id = ?"
            " ORDER BY account LIMIT ? OFFSET ?",
            (g["seq"], pg, limit + 1, start),
        )
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "MemberList": [{"Member_Account": a} for a in rows],
        "Next": str(start + limit) if more else "",
    }


def _topic_permission_items(c: sqlite3.Connection, g: sqlite3.Row, body: dict) -> dict[str, int]:
    items = R.get_list(body, "TopicPermissionList") or []
    if not items:
        raise R.bad("TopicPermissionList must not be empty")
    if len(items) > R.TOPIC_PERMISSION_BATCH:
        raise R.bad(f"TopicPermissionList holds {len(items)}; at most {R.TOPIC_PERMISSION_BATCH}")
    out: dict[str, int] = {}
    for item in items:
        if not isinstance(item, dict):
            raise R.bad("TopicPermissionList items must be objects")
        topic = topic_id_param(g, item.get("TopicId"))
        if not topic_exists(c, g["seq"], topic):
            raise ApiError(E.GROUP_GONE, f"topic {topic} does not exist")
        out[topic] = R.get_int(item, "Permission", required=True) or 0
    return out


def _set_topic_permissions(c: sqlite3.Connection, body: dict, api: str, adding: bool) -> dict:
    """add: topics the permission group has no permission in yet (10004 otherwise); set: only
    topics it has one in (10004 otherwise). Both chosen: the pages give no codes."""
    g = topic_group(c, body, api)
    pg = _existing_pg(c, g, body)
    perms = _topic_permission_items(c, g, body)
    for topic in perms:
        has = c.execute(
            "SELECT 1 FROM topic_permissions WHERE group_seq = ? AND pg_id = ? AND topic_id = ?",
            (g["seq"], pg, topic),
        ).fetchone()
        if adding and has:
            raise R.bad(f"{pg} already has a permission in {topic}: set it instead")
        if not adding and not has:
            raise R.bad(f"{pg} has no permission in {topic} to set: add it first")
    c.executemany(
        "INSERT INTO topic_permissions(group_seq, pg_id, topic_id, permission) VALUES (?,?,?,?)"
        " ON CONFLICT(group_seq, pg_id, topic_id) DO UPDATE SET permission = excluded.permission",
        [(g["seq"], pg, t, p) for t, p in perms.items()],
    )
    ok = [{"ErrorCode": 0, "ErrorInfo": "", "TopicId": t} for t in perms]
    return {"TopicPermissionResultList": ok}  # EN-61236


def add_topic_permission_group(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    return _set_topic_permissions(c, body, "add_topic_permission_group", adding=True)


def set_topic_permission_group(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    return _set_topic_permissions(c, body, "set_topic_permission_group", adding=False)


def get_topic_permission_group(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """A permission group's permission in each topic (those of TopicIdList, or all) as
    TopicPermissionResultList (EN-61239); a listed topic it has none in gets ErrorCode 10010
    (chosen)."""
    g = topic_group(c, body, "get_topic_permission_group")
    pg = _existing_pg(c, g, body)
    rows = c.execute(
        "SELECT topic_id, permission FROM topic_permissions WHERE group_seq = ? AND pg_id = ?"
        " ORDER BY topic_id",
        (g["seq"], pg),
    ).fetchall()
    have = dict(rows)
    wanted = string_list(body, "TopicIdList")
    items = []
    for t in [topic_id_param(g, t, "TopicIdList") for t in wanted] if wanted else have:
        item = {"ErrorCode": 0, "ErrorInfo": "", "TopicId": t, "Permission": have.get(t, 0)}
        if t not in have:
            item.update(ErrorCode=E.GROUP_GONE, ErrorInfo=f"no permission in topic {t}")
        items.append(item)
    return {"TopicPermissionResultList": items}


# command -> (handler, writes?)
HANDLERS: dict[str, tuple[Handler, bool]] = {
    "create_permission_group": (create_permission_group, True),
    "modify_permission_group": (modify_permission_group, True),
    "destroy_permission_group": (destroy_permission_group, True),
    "get_permission_group": (get_permission_group, False),
    "add_permission_group_member": (add_permission_group_member, True),
    "delete_permission_group_member": (delete_permission_group_member, True),
    "get_permission_group_member_list": (get_permission_group_member_list, False),
    "add_topic_permission_group": (add_topic_permission_group, True),
    "set_topic_permission_group": (set_topic_permission_group, True),
    "get_topic_permission_group": (get_topic_permission_group, False),
}
