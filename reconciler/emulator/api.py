"""The documented commands: one function per ``<service>/<command>``.

Each handler gets the request body (a dict), an open transaction and a :class:`Ctx`, and returns
the response fields after the envelope, or raises :class:`ApiError`; the caller rolls the
transaction back on error, so a failed call changes nothing. The rules applied and the codes
answered are the vendor's; choices on unconfirmed points are listed in ``reconciler.emulator``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from . import errors as E
from . import rules as R
from .errors import ApiError
from .profiles import DEFAULT, Profile
from .store import (
    GROUP_COLUMNS,
    GROUP_TABLES,
    MEMBER_COLUMNS,
    ROOM_TABLES,
    EmulatorStore,
    server_topic_suffix,
)

CURSOR_BASE = 1 << 32  # get_appid_group_list's Next = CURSOR_BASE + last group seq (> 2**32)


@dataclass(frozen=True)
class Ctx:
    sdkappid: int
    admin: str
    now: int
    profile: Profile = DEFAULT


Handler = Callable[[Ctx, sqlite3.Connection, dict], dict]

# -- shared helpers -------------------------------------------------------------------------


def _load_group(c: sqlite3.Connection, body: dict) -> sqlite3.Row:
    gid = R.group_id_param(body)
    row = c.execute(f"SELECT {GROUP_COLUMNS} FROM groups WHERE group_id = ?", (gid,)).fetchone()
    if row is None:
        raise ApiError(E.GROUP_GONE, f"group {gid} does not exist or has been destroyed")
    return row


def _no_type(group: sqlite3.Row, api: str, code: int = E.NO_PERMISSION) -> ApiError:
    return ApiError(code, f"{api} is not supported for {group['type']} groups")


def _member_count(c: sqlite3.Connection, seq: int) -> int:
    return c.execute("SELECT count(*) FROM members WHERE group_seq = ?", (seq,)).fetchone()[0]


def _missing_accounts(c: sqlite3.Connection, accounts: list[str]) -> list[str]:
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


def _require_accounts(c: sqlite3.Connection, accounts: list[str]) -> None:
    missing = _missing_accounts(c, accounts)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ApiError(E.NO_SUCH_ACCOUNT, f"accounts not imported: {shown}")


def _existing_members(c: sqlite3.Connection, seq: int, accounts: list[str]) -> set[str]:
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


def _custom(pairs: dict[str, str], keys: set[str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs.items() if keys is None or k in keys]


def _online(member: sqlite3.Row, now: int) -> bool:
    """Online, or kept online by the special mark 500 (at most three days after it was set)."""
    return bool(member["online"]) or member["mark500_until"] > now


def _string_list(body: dict, field: str) -> list[str] | None:
    value = R.get_list(body, field, required=False)
    if value is not None and not all(isinstance(v, str) for v in value):
        raise R.bad(f"{field} must be an array of strings")
    return value


# -- group listing and reading --------------------------------------------------------------


def get_appid_group_list(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    limit = R.as_int(body.get("Limit", R.GROUP_LIST_LIMIT))
    if limit is None or not 1 <= limit <= R.GROUP_LIST_LIMIT:
        raise R.bad(f"Limit must be an integer from 1 to {R.GROUP_LIST_LIMIT}")
    nxt = R.as_int(body.get("Next", 0))  # a uint64: some clients send it as a string
    if nxt is None or nxt < 0 or (0 < nxt < CURSOR_BASE) or nxt >= 1 << 64:
        raise R.bad("Next must be 0 or a value returned by a previous call")
    after = nxt - CURSOR_BASE if nxt else 0
    gtype = body.get("GroupType")
    where, args = "seq > ?", [after]
    if gtype is not None:
        if gtype not in R.FILTER_TYPES:
            raise R.bad(f"GroupType {gtype!r} is not a group type")
        where += " AND type = ?"
        args.append(R.FILTER_TYPES[gtype])
    rows = c.execute(
        f"SELECT seq, group_id FROM groups WHERE {where} ORDER BY seq LIMIT ?", [*args, limit + 1]
    ).fetchall()
    if gtype is None:
        total = c.execute("SELECT count(*) FROM groups").fetchone()[0]
    else:
        total = c.execute("SELECT count(*) FROM groups WHERE type = ?", (args[1],)).fetchone()[0]
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "TotalCount": total,
        "GroupIdList": [{"GroupId": r[1]} for r in rows],
        "Next": CURSOR_BASE + rows[-1][0] if more else 0,
    }


BASE_FIELDS = (
    "Type",
    "Name",
    "Appid",
    "Introduction",
    "Notification",
    "FaceUrl",
    "Owner_Account",
    "CreateTime",
    "InfoSeq",
    "LastInfoTime",
    "LastMsgTime",
    "NextMsgSeq",
    "MemberNum",
    "MaxMemberNum",
    "ApplyJoinOption",
    "InviteJoinOption",
    "MuteAllMember",
    "HistoryMsgBeforeJoin",
    "SupportTopic",
    "EnablePermission",
    "DefaultPermission",
)
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
_FIELD_ALIASES = {"ShutUpAllMember": "MuteAllMember", "ShutUpUntil": "MuteUntil"}


def _field_set(value: Any, field: str) -> set[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise R.bad(f"{field} must be an array of strings")
    return {_FIELD_ALIASES.get(v, v) for v in value}


@dataclass(frozen=True)
class MemberList:
    count: int
    last_id: int | None  # of the last member listed (a Community page's Next)
    json: orjson.Fragment  # the answer's MemberList, written by SQLite


def _member_list(
    c: sqlite3.Connection,
    rows: str,
    args: list[Any],
    fields: set[str] | None,
    custom_keys: set[str] | None,
    with_custom: bool,
) -> MemberList:
    """The members the query ``rows`` selects, in its order, as answers list them:
    Member_Account, the fields ``fields`` names (all when None; MuteUntil also under its
    older name ShutUpUntil) and, ``with_custom``, the custom data (of ``custom_keys`` only,
    when given). SQLite writes the JSON: answers list members by the thousand, and building
    each one in Python made the server, not the rate limit, what a plan's reads waited for."""
    parts = ["'Member_Account', account"]
    for name, column in MEMBER_FIELDS.items():
        if fields is None or name in fields:
            parts.append(f"'{name}', {column}")
            if name == "MuteUntil":
                parts.append(f"'ShutUpUntil', {column}")
    key_args: list[Any] = []
    if with_custom:
        where = ""
        if custom_keys is not None:
            key_args = sorted(custom_keys)
            where = f" WHERE key IN ({','.join('?' * len(key_args))})"
        parts.append(
            # json(): a subquery's value may lose its JSON subtype and come out quoted
            "'AppMemberDefinedData', json((SELECT json_group_array(json_object('Key', key,"
            f" 'Value', value)) FROM json_each(app_data){where}))"
        )
    count, last_id, text = c.execute(
        f"SELECT count(*), max(id), json_group_array(json_object({', '.join(parts)}))"
        f" FROM ({rows})",
        [*key_args, *args],
    ).fetchone()
    return MemberList(count, last_id, orjson.Fragment(text))


def get_group_info(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    ids = R.get_list(body, "GroupIdList")
    if not ids or len(ids) > R.GROUP_INFO_BATCH:
        raise R.bad(f"GroupIdList must hold 1 to {R.GROUP_INFO_BATCH} group IDs")
    rf = body.get("ResponseFilter")
    if rf is not None and not isinstance(rf, dict):
        raise R.bad("ResponseFilter must be an object")
    rf = rf or {}
    base = _field_set(rf.get("GroupBaseInfoFilter"), "GroupBaseInfoFilter")
    mfields = _field_set(rf.get("MemberInfoFilter"), "MemberInfoFilter")
    gkeys = _field_set(rf.get("AppDefinedDataFilter_Group"), "AppDefinedDataFilter_Group")
    mkeys = _field_set(
        rf.get("AppDefinedDataFilter_GroupMember"), "AppDefinedDataFilter_GroupMember"
    )
    filtered = any(v is not None for v in (base, mfields, gkeys, mkeys))
    if filtered and base is None:
        base = set()
    out = []
    for gid in ids:
        if not R.well_formed_group_id(gid):
            out.append(
                {"GroupId": gid, "ErrorCode": E.BAD_GROUP_ID, "ErrorInfo": "invalid group ID"}
            )
            continue
        g = c.execute(f"SELECT {GROUP_COLUMNS} FROM groups WHERE group_id = ?", (gid,)).fetchone()
        if g is None:
            out.append(
                {
                    "GroupId": gid,
                    "ErrorCode": E.GROUP_GONE,
                    "ErrorInfo": "group does not exist or has been destroyed",
                }
            )
            continue
        out.append(_group_json(ctx, c, g, filtered, base, mfields, gkeys, mkeys))
    return {"GroupInfo": out}


def _group_json(
    ctx: Ctx,
    c: sqlite3.Connection,
    g: sqlite3.Row,
    filtered: bool,
    base: set[str] | None,
    mfields: set[str] | None,
    gkeys: set[str] | None,
    mkeys: set[str] | None,
) -> dict:
    is_av = g["type"] == R.AVCHATROOM
    profile = ctx.profile
    cap = profile.info_member_list_max
    item: dict[str, Any] = {"GroupId": g["group_id"], "ErrorCode": 0, "ErrorInfo": ""}
    members: MemberList | None = None
    want_members = not is_av and (not filtered or mfields is not None)
    member_num: int | None = None
    if not want_members and not is_av and (base is None or "MemberNum" in base):
        member_num = _member_count(c, g["seq"])  # the count alone, without reading the rows
    if want_members:
        members = _member_list(
            c,
            "SELECT * FROM members WHERE group_seq = ? ORDER BY id LIMIT ?",
            [g["seq"], cap],
            mfields,
            mkeys,
            not filtered or mkeys is not None,
        )
    values = {
        "Type": g["type"],
        "Name": g["name"],
        "Appid": ctx.sdkappid,
        "Introduction": g["introduction"],
        "Notification": g["notification"],
        "FaceUrl": g["face_url"],
        "Owner_Account": g["owner"],
        "CreateTime": g["create_time"],
        "InfoSeq": g["info_seq"],
        "LastInfoTime": g["last_info_time"],
        "LastMsgTime": g["last_msg_time"],
        "NextMsgSeq": g["next_msg_seq"],
        "MaxMemberNum": g["max_member_num"],
        "ApplyJoinOption": g["apply_join"],
        "MuteAllMember": "On" if g["mute_all"] else "Off",
    }
    if profile.invite_join_in_info and not is_av:
        values["InviteJoinOption"] = g["invite_join"]
    if g["type"] in R.HISTORY_TYPES:
        values["HistoryMsgBeforeJoin"] = g["history_before_join"]
    if g["type"] == R.COMMUNITY:
        values["SupportTopic"] = g["support_topic"]
        values["EnablePermission"] = g["enable_permission"]
        values["DefaultPermission"] = g["default_permission"]
    big = False
    if member_num is not None:
        values["MemberNum"] = member_num
    if members is not None:
        # a list cut at the cap: the count of the rest, without reading it
        values["MemberNum"] = members.count if members.count < cap else _member_count(c, g["seq"])
        big = values["MemberNum"] > cap
    for name in BASE_FIELDS:
        if name in values and (base is None or name in base):
            item[name] = values[name]
    if "MuteAllMember" in item:
        item["ShutUpAllMember"] = item["MuteAllMember"]
    if not filtered or gkeys is not None:
        item["AppDefinedData"] = _custom(json.loads(g["app_data"]), gkeys)
    if big and profile.omit_big_member_lists:
        return item  # the latest reading: page it with get_group_member_info
    if members is not None:
        item["MemberList"] = members.json
    return item


def get_group_member_info(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    g = _load_group(c, body)
    if g["type"] not in R.MEMBER_TYPES:
        raise _no_type(g, "get_group_member_info")
    fields = _field_set(body.get("MemberInfoFilter"), "MemberInfoFilter")
    roles = _field_set(body.get("MemberRoleFilter"), "MemberRoleFilter")
    if roles is not None and not roles <= {"Owner", "Admin", "Member"}:
        raise R.bad("MemberRoleFilter accepts Owner, Admin and Member")
    mkeys = _field_set(
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
    sql, page_args = f"SELECT * FROM members WHERE {where} ORDER BY id", list(args)
    if limit:
        sql += " LIMIT ? OFFSET ?"
        page_args.extend([limit, offset])
    elif offset:
        sql += " LIMIT -1 OFFSET ?"
        page_args.append(offset)
    page = _member_list(c, sql, page_args, fields, mkeys, mkeys is not None or fields is None)
    out: dict[str, Any] = {"MemberNum": _member_count(c, g["seq"]), "MemberList": page.json}
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
    accounts = _accounts_param(body, "Member_List_Account", R.SPECIFIED_MEMBERS_BATCH)
    g = _load_group(c, body)
    if g["type"] not in R.MEMBER_TYPES:
        raise _no_type(g, "get_specified_group_member_info")
    fields = _field_set(body.get("MemberInfoFilter"), "MemberInfoFilter")
    roles = _field_set(body.get("MemberRoleFilter"), "MemberRoleFilter")
    if roles is not None and not roles <= {"Owner", "Admin", "Member"}:
        raise R.bad("MemberRoleFilter accepts Owner, Admin and Member")
    mkeys = _field_set(
        body.get("AppDefinedDataFilter_GroupMember"), "AppDefinedDataFilter_GroupMember"
    )
    where = f"group_seq = ? AND account IN ({','.join('?' * len(accounts))})"
    args: list[Any] = [g["seq"], *accounts]
    if roles is not None:
        where += f" AND role IN ({','.join('?' * len(roles))})"
        args.extend(sorted(roles))
    rows = f"SELECT * FROM members WHERE {where} ORDER BY id"
    named = _member_list(c, rows, args, fields, mkeys, mkeys is not None or fields is None)
    return {"GroupId": g["group_id"], "MemberList": named.json}


# -- group lifecycle -------------------------------------------------------------------------


def create_group(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    type_name = R.get_str(body, "Type", required=True)
    gtype = R.CREATABLE_TYPES.get(type_name)
    if gtype is None:
        raise R.bad(f"Type {type_name!r} cannot be created; use Private, Public, ChatRoom, ...")
    name = R.get_str(body, "Name", R.NAME_BYTES, required=True)
    if not name:
        raise R.bad("Name must not be empty")
    intro = R.get_str(body, "Introduction", R.INTRODUCTION_BYTES) or ""
    notif = R.get_str(body, "Notification", R.NOTIFICATION_BYTES) or ""
    face = R.get_str(body, "FaceUrl", R.FACE_URL_BYTES) or ""
    owner = R.get_str(body, "Owner_Account") or ""
    cap = R.MAX_MEMBERS[gtype]
    max_members = R.get_int(body, "MaxMemberCount", minimum=1)
    if gtype == R.AVCHATROOM or max_members is None:
        max_members = cap
    elif max_members > cap:
        raise R.bad(f"MaxMemberCount {max_members} is above the {gtype} limit of {cap}")
    apply_join = R.get_str(body, "ApplyJoinOption")
    if apply_join is not None and apply_join not in R.APPLY_JOIN_OPTIONS:
        raise R.bad(f"ApplyJoinOption {apply_join!r} is not one of {sorted(R.APPLY_JOIN_OPTIONS)}")
    if apply_join is None or gtype == R.COMMUNITY:
        apply_join = R.DEFAULT_APPLY_JOIN[gtype]
    invite_join = R.get_str(body, "InviteJoinOption")
    if invite_join is not None:
        if gtype == R.AVCHATROOM:
            raise R.bad("InviteJoinOption is not supported for AVChatRoom groups")
        if invite_join not in R.INVITE_JOIN_OPTIONS:
            raise R.bad(f"InviteJoinOption {invite_join!r} is not valid")
    else:
        invite_join = R.DEFAULT_INVITE_JOIN.get(gtype, "")
    app_data = R.apply_custom({}, R.custom_data(body.get("AppDefinedData", []), "AppDefinedData"))
    support_topic = R.get_int(body, "SupportTopic") or 0
    if support_topic not in (0, 1) or (support_topic and gtype != R.COMMUNITY):
        raise R.bad("SupportTopic is 0 or 1, and only Community groups support topics")
    enable_perm, default_perm = _permissions(body, gtype, support_topic, 0)
    member_items = R.get_list(body, "MemberList", required=False) or []
    if member_items and gtype == R.AVCHATROOM:
        # EN-34895: AVChatRoom members (the owner too) join through the SDK; 10007.
        raise ApiError(
            E.NO_PERMISSION, "AVChatRoom groups take no MemberList (members join through the SDK)"
        )
    if len(member_items) > R.CREATE_MEMBERS:
        raise ApiError(
            E.TOO_MANY_ACCOUNTS, f"MemberList holds {len(member_items)}; at most {R.CREATE_MEMBERS}"
        )
    members: dict[str, tuple[str, dict[str, str]]] = {}
    for item in member_items:
        if not isinstance(item, dict):
            raise R.bad("MemberList items must be objects")
        account = R.check_user_id(item.get("Member_Account"))
        role = item.get("Role", "Member")
        if role not in ("Admin", "Member"):
            raise R.bad(f"{account}: Role may only be 'Admin'")
        data = R.apply_custom(
            {}, R.custom_data(item.get("AppMemberDefinedData", []), "AppMemberDefinedData")
        )
        if account != owner:
            members.setdefault(account, (role, data))
    gid = body.get("GroupId")
    if gid is not None:
        gid = R.check_custom_group_id(gid, gtype)
        existing = c.execute("SELECT owner FROM groups WHERE group_id = ?", (gid,)).fetchone()
        if existing is not None:
            if owner and existing[0] == owner:
                raise ApiError(E.GROUP_ID_USED_BY_OWNER, f"group ID {gid} is used; {owner} owns it")
            raise ApiError(E.GROUP_ID_USED, f"group ID {gid} is already used")
    _require_accounts(c, ([owner] if owner else []) + list(members))
    total = len(members) + (1 if owner and gtype != R.AVCHATROOM else 0)
    if gtype != R.AVCHATROOM and total > max_members:
        raise ApiError(E.GROUP_FULL, f"{total} initial members exceed MaxMemberCount {max_members}")
    if gid is None:
        gid = EmulatorStore.new_group_id(c, gtype)
    now = ctx.now
    seq = c.execute(
        "INSERT INTO groups(group_id, type, name, introduction, notification, face_url, owner,"
        " create_time, last_info_time, max_member_num, apply_join, invite_join, app_data,"
        " support_topic, enable_permission, default_permission)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            gid,
            gtype,
            name,
            intro,
            notif,
            face,
            owner,
            now,
            now,
            max_members if gtype != R.AVCHATROOM else 0,
            apply_join,
            invite_join,
            json.dumps(app_data),
            support_topic,
            enable_perm,
            default_perm,
        ),
    ).lastrowid
    rows = []
    if owner and gtype != R.AVCHATROOM:
        rows.append((seq, owner, "Owner", now, "{}"))
    rows.extend((seq, a, role, now, json.dumps(data)) for a, (role, data) in members.items())
    c.executemany(
        "INSERT INTO members(group_seq, account, role, join_time, app_data) VALUES (?,?,?,?,?)",
        rows,
    )
    out: dict[str, Any] = {"GroupId": gid}
    if gtype == R.COMMUNITY:
        out.update({"Type": R.COMMUNITY, "HugeGroupFlag": 0})
    return out


def _permissions(
    body: dict, gtype: str, support_topic: int, enabled: int, default: int = 0
) -> tuple[int, int]:
    """EnablePermission and DefaultPermission after this request (seed 003: only Communities
    with topics set the first; only groups with it on set the second); 10004 otherwise."""
    enable = R.get_int(body, "EnablePermission")
    if enable is not None:
        if enable not in R.ENABLE_PERMISSION_VALUES:
            raise R.bad("EnablePermission must be 0 (off) or 1 (on)")
        if gtype != R.COMMUNITY or not support_topic:
            raise R.bad("EnablePermission is only for Community groups that support topics")
        enabled = enable
    perm = R.get_int(body, "DefaultPermission")
    if perm is not None:  # a bit set the pages do not bound: any int64 >= 0 (get_int)
        if not enabled:
            raise R.bad("DefaultPermission needs EnablePermission 1 (permission groups on)")
        default = perm
    return enabled, default


def destroy_group(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    g = _load_group(c, body)
    for table in (*ROOM_TABLES, *GROUP_TABLES):
        c.execute(f"DELETE FROM {table} WHERE group_seq = ?", (g["seq"],))
    c.execute("DELETE FROM members WHERE group_seq = ?", (g["seq"],))
    c.execute("DELETE FROM groups WHERE seq = ?", (g["seq"],))
    return {}


def change_group_owner(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    gid = R.group_id_param(body)
    new_owner = R.check_user_id(body.get("NewOwner_Account"), "NewOwner_Account")
    g = _load_group(c, {"GroupId": gid})
    if g["type"] not in R.MEMBER_TYPES:
        raise _no_type(g, "change_group_owner")
    _require_accounts(c, [new_owner])
    if not _existing_members(c, g["seq"], [new_owner]):
        raise R.bad(f"{new_owner} must be a member of {gid} before becoming its owner")
    if g["owner"] == new_owner:
        return {}
    if g["owner"]:
        c.execute(
            "UPDATE members SET role = 'Member' WHERE group_seq = ? AND account = ?",
            (g["seq"], g["owner"]),
        )
    c.execute(
        "UPDATE members SET role = 'Owner' WHERE group_seq = ? AND account = ?",
        (g["seq"], new_owner),
    )
    c.execute(
        "UPDATE groups SET owner = ?, info_seq = info_seq + 1, last_info_time = ? WHERE seq = ?",
        (new_owner, ctx.now, g["seq"]),
    )
    return {}


def modify_group_base_info(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    g = _load_group(c, body)
    gtype = g["type"]
    sets: dict[str, Any] = {}
    name = R.get_str(body, "Name", R.NAME_BYTES)
    if name is not None:
        if not name:
            raise R.bad("Name must not be empty")
        sets["name"] = name
    for field, column, limit in (
        ("Introduction", "introduction", R.INTRODUCTION_BYTES),
        ("Notification", "notification", R.NOTIFICATION_BYTES),
        ("FaceUrl", "face_url", R.FACE_URL_BYTES),
    ):
        value = R.get_str(body, field, limit)
        if value is not None:
            sets[column] = value
    max_members = R.get_int(body, "MaxMemberNum", minimum=1)
    if max_members is not None and gtype != R.AVCHATROOM:
        cap = R.MAX_MEMBERS[gtype]
        if max_members > cap:
            raise R.bad(f"MaxMemberNum {max_members} is above the {gtype} limit of {cap}")
        count = _member_count(c, g["seq"])
        if max_members < count:
            raise R.bad(f"MaxMemberNum {max_members} is below the member count {count}")
        sets["max_member_num"] = max_members
    apply_join = R.get_str(body, "ApplyJoinOption")
    if apply_join is not None:
        if gtype == R.COMMUNITY:
            raise R.bad("ApplyJoinOption is not supported for Community groups")
        if apply_join not in R.APPLY_JOIN_OPTIONS:
            raise R.bad(f"ApplyJoinOption {apply_join!r} is not valid")
        sets["apply_join"] = apply_join
    invite_join = R.get_str(body, "InviteJoinOption")
    if invite_join is not None:
        if gtype == R.AVCHATROOM:
            raise R.bad("InviteJoinOption is not supported for AVChatRoom groups")
        if invite_join not in R.INVITE_JOIN_OPTIONS:
            raise R.bad(f"InviteJoinOption {invite_join!r} is not valid")
        sets["invite_join"] = invite_join
    mute_all = R.mute_all_param(body)
    if mute_all is not None:
        sets["mute_all"] = int(mute_all)
    if "AppDefinedData" in body:
        pairs = R.custom_data(body["AppDefinedData"], "AppDefinedData")
        sets["app_data"] = json.dumps(R.apply_custom(json.loads(g["app_data"]), pairs))
    history = body.get("HistoryMsgBeforeJoin")
    if history is not None:
        if history not in ("On", "Off"):
            raise R.bad("HistoryMsgBeforeJoin must be 'On' or 'Off'")
        if gtype not in R.HISTORY_TYPES:
            raise R.bad("HistoryMsgBeforeJoin is only for Work, Public and Meeting groups")
        sets["history_before_join"] = history
    enabled, default = _permissions(
        body, gtype, g["support_topic"], g["enable_permission"], g["default_permission"]
    )
    if (enabled, default) != (g["enable_permission"], g["default_permission"]):
        sets["enable_permission"], sets["default_permission"] = enabled, default
    operator = R.get_str(body, "From_Account")
    if operator:
        _require_accounts(c, [operator])
    assignments = ", ".join(f"{col} = ?" for col in sets)
    c.execute(
        "UPDATE groups SET "
        + (assignments + ", " if assignments else "")
        + "info_seq = info_seq + 1, last_info_time = ? WHERE seq = ?",
        [*sets.values(), ctx.now, g["seq"]],
    )
    return {}


# -- members -------------------------------------------------------------------------------


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
    g = _load_group(c, body)
    if g["type"] not in R.MEMBER_TYPES:
        raise _no_type(g, api)
    accounts = [item["Member_Account"] for item in items]
    _require_accounts(c, accounts)
    present = _existing_members(c, g["seq"], accounts)
    results = []
    new_rows = []
    for item in items:
        account = item["Member_Account"]
        if account in present:
            results.append({"Member_Account": account, "Result": 2})
            continue
        join_time = ctx.now
        if importing:
            join_time = R.get_int(item, "JoinTime")
            if join_time is None:
                join_time = ctx.now
            elif ctx.profile.join_time_rules and not g["create_time"] < join_time <= ctx.now:
                # CN-1636: a JoinTime before the group's creation or in the future fails that
                # member alone (Result 0); the others are imported.
                results.append({"Member_Account": account, "Result": 0})
                continue
        present.add(account)
        results.append({"Member_Account": account, "Result": 1})
        role = item.get("Role", "Member") if importing else "Member"
        new_rows.append((g["seq"], account, role, join_time))
    if new_rows:
        count = _member_count(c, g["seq"])
        if count + len(new_rows) > g["max_member_num"]:
            raise ApiError(
                E.GROUP_FULL,
                f"group {g['group_id']} is full: {count} members + {len(new_rows)} new"
                f" > MaxMemberNum {g['max_member_num']}",
            )
        c.executemany(
            "INSERT INTO members(group_seq, account, role, join_time) VALUES (?,?,?,?)", new_rows
        )
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
    accounts = _string_list(body, "MemberToDel_Account")
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
    g = _load_group(c, body)
    if g["type"] not in R.MEMBER_TYPES:
        raise _no_type(g, "delete_group_member", E.BAD_PARAM)
    if g["owner"] and g["owner"] in accounts:
        raise ApiError(E.NO_PERMISSION, f"the owner {g['owner']} cannot be removed")
    gone = [(g["seq"], a) for a in dict.fromkeys(accounts)]
    c.executemany("DELETE FROM members WHERE group_seq = ? AND account = ?", gone)
    # Leaving the group leaves its permission groups too.
    c.executemany("DELETE FROM permission_members WHERE group_seq = ? AND account = ?", gone)
    return {}


def modify_group_member_info(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    gid = R.group_id_param(body)
    account = R.check_user_id(body.get("Member_Account"))
    g = _load_group(c, {"GroupId": gid})
    if g["type"] not in R.MEMBER_TYPES:
        raise _no_type(g, "modify_group_member_info")
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


def _accounts_param(body: dict, field: str, limit: int) -> list[str]:
    """A non-empty array of at most ``limit`` UserIDs (10005 beyond), each once."""
    accounts = _string_list(body, field)
    if not accounts:
        raise R.bad(f"{field} must list at least one account")
    if len(accounts) > limit:
        raise ApiError(
            E.TOO_MANY_ACCOUNTS, f"{field} holds {len(accounts)} accounts; at most {limit}"
        )
    for account in accounts:
        R.check_user_id(account, field)
    return list(dict.fromkeys(accounts))


def _no_topics(g: sqlite3.Row, body: dict) -> None:
    # Topics are not emulated: a TopicId names a topic that does not exist.
    if body.get("TopicId") is not None:
        raise R.bad(f"TopicId: group {g['group_id']} has no such topic")


def forbid_send_msg(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Mute up to 500 accounts for MuteTime seconds (0 unmutes); Work groups cannot mute."""
    accounts = _accounts_param(body, "Members_Account", R.MUTE_BATCH)
    mute = R.mute_time_param(body)
    if mute is None:
        raise R.bad("MuteTime is required (seconds; 0 unmutes)")
    g = _load_group(c, body)
    if g["type"] == R.PRIVATE:
        raise _no_type(g, "forbid_send_msg")
    _no_topics(g, body)
    _require_accounts(c, accounts)
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
    strangers = sorted(set(accounts) - _existing_members(c, g["seq"], accounts))
    if strangers:
        raise R.bad(f"not members of {g['group_id']}: {', '.join(strangers[:5])}")
    c.executemany(
        "UPDATE members SET mute_until = ? WHERE group_seq = ? AND account = ?",
        [(until, g["seq"], a) for a in accounts],
    )
    return {}


def get_group_muted_account(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """The accounts muted now, with the second their mute ends (none in Work groups)."""
    g = _load_group(c, body)
    _no_topics(g, body)
    if g["type"] == R.AVCHATROOM:
        sql = "SELECT account, mute_until FROM room_mutes WHERE group_seq = ? AND mute_until > ?"
    else:
        sql = "SELECT account, mute_until FROM members WHERE group_seq = ? AND mute_until > ?"
    rows = c.execute(sql + " ORDER BY account", (g["seq"], ctx.now)).fetchall()
    return {"MutedAccountList": [{"Member_Account": a, "MutedUntil": u} for a, u in rows]}


def _room(c: sqlite3.Connection, body: dict, api: str) -> sqlite3.Row:
    g = _load_group(c, body)
    if g["type"] != R.AVCHATROOM:
        raise _no_type(g, api)
    return g


def modify_admin(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Set (CommandType 1) or revoke (2) AVChatRoom admins; at most 5 per room after the call."""
    command = R.as_int(body.get("CommandType"))
    if command not in (1, 2):
        raise R.bad("CommandType must be 1 (set admins) or 2 (revoke admins)")
    accounts = _accounts_param(body, "Admin_Account", R.ADMIN_BATCH)
    g = _room(c, body, "modify_admin")
    _require_accounts(c, accounts)
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


def ban_group_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Ban up to 20 accounts from an AVChatRoom for Duration seconds: each leaves the room (and
    its marks) and cannot come back until the ban ends or is lifted."""
    accounts = _accounts_param(body, "Members_Account", R.BAN_BATCH)
    duration = R.get_int(body, "Duration", required=True, minimum=1, maximum=R.UNIX_TIME_MAX)
    description = R.get_str(body, "Description", R.BAN_DESCRIPTION_BYTES) or ""
    g = _room(c, body, "ban_group_member")
    _require_accounts(c, accounts)
    until = ctx.now + duration
    c.executemany(
        "INSERT INTO room_bans(group_seq, account, banned_until, description) VALUES (?,?,?,?)"
        " ON CONFLICT(group_seq, account) DO UPDATE SET banned_until = excluded.banned_until,"
        " description = excluded.description",
        [(g["seq"], a, until, description) for a in accounts],
    )
    c.executemany(
        "DELETE FROM members WHERE group_seq = ? AND account = ?",
        [(g["seq"], a) for a in accounts],
    )
    return {}


def unban_group_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Lift the bans of up to 20 accounts (an account not banned is no error)."""
    accounts = _accounts_param(body, "Members_Account", R.UNBAN_BATCH)
    g = _room(c, body, "unban_group_member")
    c.executemany(
        "DELETE FROM room_bans WHERE group_seq = ? AND account = ?",
        [(g["seq"], a) for a in accounts],
    )
    return {}


def _banned(c: sqlite3.Connection, seq: int, account: str, now: int) -> bool:
    row = c.execute(
        "SELECT 1 FROM room_bans WHERE group_seq = ? AND account = ? AND banned_until > ?",
        (seq, account, now),
    ).fetchone()
    return row is not None


def get_group_ban_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Banned accounts of an AVChatRoom, ``Limit`` (1-100) from ``Offset``; NextOffset 0 = done."""
    limit = R.get_int(body, "Limit", minimum=1, maximum=R.BAN_PAGE) or R.BAN_PAGE
    offset = R.get_int(body, "Offset") or 0
    g = _room(c, body, "get_group_ban_member")
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


# -- Community topics (million_group_open_http_svc) ------------------------------------------

TOPIC_COLUMNS = "topic_id, name, introduction, notification, face_url, custom_string, mute_all"
# Request field -> (column, byte limit).
TOPIC_TEXT = {
    "TopicName": ("name", R.TOPIC_NAME_BYTES),
    "Introduction": ("introduction", R.INTRODUCTION_BYTES),
    "Notification": ("notification", R.NOTIFICATION_BYTES),
    "FaceUrl": ("face_url", R.FACE_URL_BYTES),
    "CustomString": ("custom_string", R.TOPIC_CUSTOM_STRING_BYTES),
}


def _text_changes(body: dict, texts: dict[str, tuple[str, int]]) -> dict[str, Any]:
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


def _topic_group(c: sqlite3.Connection, body: dict, api: str) -> sqlite3.Row:
    """The Community the request names; only Communities created with SupportTopic 1 have
    topics (10007 otherwise, the pages' "not supported")."""
    g = _load_group(c, body)
    if g["type"] != R.COMMUNITY or not g["support_topic"]:
        raise ApiError(
            E.NO_PERMISSION, f"{api}: group {g['group_id']} is not a Community with topics"
        )
    return g


def _topic_id_param(g: sqlite3.Row, value: Any, field: str = "TopicId") -> str:
    """A topic ID of group ``g``: "<GroupId>@TOPIC#_" then 1-48 bytes of printable ASCII."""
    if not isinstance(value, str):
        raise R.bad(f"{field} must be a string")
    prefix = g["group_id"] + R.TOPIC_INFIX
    suffix = value[len(prefix) :] if value.startswith(prefix) else None
    if not suffix or not R.printable_ascii(suffix) or len(suffix) > R.TOPIC_SUFFIX_BYTES:
        raise R.bad(
            f"{field} {value!r}: a topic ID is {prefix!r} followed by 1-{R.TOPIC_SUFFIX_BYTES} "
            "bytes of printable ASCII"
        )
    problem = R.topic_id_problem(g["group_id"], suffix)
    if problem:
        raise R.bad(f"{field}: {problem}")
    return value


def _topic_exists(c: sqlite3.Connection, seq: int, topic_id: str) -> bool:
    row = c.execute(
        "SELECT 1 FROM topics WHERE group_seq = ? AND topic_id = ?", (seq, topic_id)
    ).fetchone()
    return row is not None


def _operator(c: sqlite3.Connection, body: dict, required: bool = False) -> str:
    operator = R.get_str(body, "From_Account", required=required) or ""
    if operator:
        R.check_user_id(operator, "From_Account")
        _require_accounts(c, [operator])
    return operator


def create_topic(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """A topic in a Community with topics: TopicName required (1-30 bytes); TopicId, when
    given, custom (a used one is 10021); otherwise one is assigned."""
    g = _topic_group(c, body, "create_topic")
    values = {col: R.get_str(body, f, limit) for f, (col, limit) in TOPIC_TEXT.items()}
    if not values["name"]:
        raise R.bad("TopicName is required and must not be empty")
    owner = _operator(c, body)
    if body.get("TopicId") is not None:
        topic_id = _topic_id_param(g, body["TopicId"])
        if _topic_exists(c, g["seq"], topic_id):
            raise ApiError(E.GROUP_ID_USED, f"topic ID {topic_id} is already used")
    else:
        while True:
            suffix = server_topic_suffix(EmulatorStore.next_counter(c, "topic_id"))
            topic_id = g["group_id"] + R.TOPIC_INFIX + suffix
            if not _topic_exists(c, g["seq"], topic_id):
                break
    c.execute(
        "INSERT INTO topics(group_seq, topic_id, name, introduction, notification, face_url,"
        " custom_string, owner, create_time) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            g["seq"],
            topic_id,
            values["name"],
            *(values[col] or "" for col in ("introduction", "notification", "face_url")),
            values["custom_string"] or "",
            owner,
            ctx.now,
        ),
    )
    return {"TopicId": topic_id}


def modify_topic(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Change a topic's profile; a TopicName given must not be empty; 10010 for a missing
    topic (chosen: the group code)."""
    g = _topic_group(c, body, "modify_topic")
    topic_id = _topic_id_param(g, body.get("TopicId"))
    if not _topic_exists(c, g["seq"], topic_id):
        raise ApiError(E.GROUP_GONE, f"topic {topic_id} does not exist")
    sets = _text_changes(body, TOPIC_TEXT)
    mute_all = R.mute_all_param(body)
    if mute_all is not None:
        sets["mute_all"] = int(mute_all)
    _operator(c, body)
    if sets:
        c.execute(
            "UPDATE topics SET "
            + ", ".join(f"{col} = ?" for col in sets)
            + " WHERE group_seq = ? AND topic_id = ?",
            [*sets.values(), g["seq"], topic_id],
        )
    return {}


def destroy_topic(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Destroy 1-20 topics (TopicIdList); each gets its own result, a missing one 10010."""
    g = _topic_group(c, body, "destroy_topic")
    ids = _string_list(body, "TopicIdList")
    if not ids:
        raise R.bad("TopicIdList must list at least one topic")
    if len(ids) > R.DESTROY_TOPIC_BATCH:
        raise R.bad(f"TopicIdList holds {len(ids)} topics; at most {R.DESTROY_TOPIC_BATCH}")
    if not c.execute("SELECT 1 FROM topics WHERE group_seq = ?", (g["seq"],)).fetchone():
        raise ApiError(E.NO_TOPICS, f"group {g['group_id']} has no topics")
    results = []
    for topic_id in dict.fromkeys(ids):
        _topic_id_param(g, topic_id, "TopicIdList")
        gone = c.execute(
            "DELETE FROM topics WHERE group_seq = ? AND topic_id = ?", (g["seq"], topic_id)
        ).rowcount
        c.execute(
            "DELETE FROM topic_permissions WHERE group_seq = ? AND topic_id = ?",
            (g["seq"], topic_id),
        )
        item: dict[str, Any] = {"TopicId": topic_id, "ErrorCode": 0, "ErrorInfo": ""}
        if not gone:
            item.update(ErrorCode=E.TOPIC_DELETED, ErrorInfo=f"topic {topic_id} does not exist")
        results.append(item)
    return {"DestroyResultItem": results}


def get_topic(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Topics of a Community with topics: those of TopicIdList, or all; From_Account is
    required (its per-user fields are not emulated). A listed topic that does not exist gets
    its own ErrorCode 10010."""
    g = _topic_group(c, body, "get_topic")
    _operator(c, body, required=True)
    wanted = body.get("TopicIdList")
    rows = c.execute(
        f"SELECT {TOPIC_COLUMNS}, create_time, owner FROM topics WHERE group_seq = ?"
        " ORDER BY create_time, topic_id",
        (g["seq"],),
    ).fetchall()
    by_id = {r[0]: r for r in rows}
    if wanted is not None:
        ids = _string_list(body, "TopicIdList")
        order = [_topic_id_param(g, t, "TopicIdList") for t in dict.fromkeys(ids)]
    else:
        order = list(by_id)
    items = []
    for topic_id in order:
        r = by_id.get(topic_id)
        if r is None:
            items.append(
                {"TopicId": topic_id, "ErrorCode": E.GROUP_GONE, "ErrorInfo": "no such topic"}
            )
            continue
        mute = "On" if r[6] else "Off"
        items.append(
            {
                "TopicId": r[0],
                "TopicName": r[1],
                "Introduction": r[2],
                "Notification": r[3],
                "FaceUrl": r[4],
                "CustomString": r[5],
                "MuteAllMember": mute,
                "ShutUpAllMember": mute,
                "CreateTime": r[7],
                "Owner_Account": r[8],
                "ErrorCode": 0,
                "ErrorInfo": "",
            }
        )
    return {"TopicInfo": items}


# -- Community permission groups (group_open_http_svc) ---------------------------------------

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
    g = _topic_group(c, body, "create_permission_group")
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
    g = _topic_group(c, body, "modify_permission_group")
    pg = _existing_pg(c, g, body)
    sets = _text_changes(body, PG_TEXT)
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
    g = _topic_group(c, body, "destroy_permission_group")
    ids = _string_list(body, "PermissionGroupIdList")
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
    g = _topic_group(c, body, "get_permission_group")
    rows = c.execute(
        "SELECT pg_id, name, permission, custom_string FROM permission_groups"
        " WHERE group_seq = ? ORDER BY create_time, pg_id",
        (g["seq"],),
    ).fetchall()
    by_id = {r[0]: r for r in rows}
    listed = _string_list(body, "PermissionGroupIdList")
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
    g = _topic_group(c, body, "add_permission_group_member")
    pg = _existing_pg(c, g, body)
    accounts = _pg_accounts(body)
    members = _existing_members(c, g["seq"], accounts)
    sql = "INSERT OR IGNORE INTO permission_members(group_seq, pg_id, account) VALUES (?,?,?)"
    results = []
    for a in accounts:
        added = a in members and c.execute(sql, (g["seq"], pg, a)).rowcount
        results.append({"Member_Account": a, "Result": 0 if a not in members else 2 - added})
    return {"MemberList": results}


def delete_permission_group_member(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """Take up to 100 accounts out of a permission group (one not in it is no error)."""
    g = _topic_group(c, body, "delete_permission_group_member")
    pg = _existing_pg(c, g, body)
    c.executemany(
        "DELETE FROM permission_members WHERE group_seq = ? AND pg_id = ? AND account = ?",
        [(g["seq"], pg, a) for a in _pg_accounts(body)],
    )
    return {}


def get_permission_group_member_list(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """A permission group's members, ``Limit`` (at most 50) a page by ``Next`` ("" to start
    and at the end; CN-103976)."""
    g = _topic_group(c, body, "get_permission_group_member_list")
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
        topic = _topic_id_param(g, item.get("TopicId"))
        if not _topic_exists(c, g["seq"], topic):
            raise ApiError(E.GROUP_GONE, f"topic {topic} does not exist")
        out[topic] = R.get_int(item, "Permission", required=True) or 0
    return out


def _set_topic_permissions(c: sqlite3.Connection, body: dict, api: str, adding: bool) -> dict:
    """add: topics the permission group has no permission in yet (10004 otherwise); set: only
    topics it has one in (10004 otherwise). Both chosen: the pages give no codes."""
    g = _topic_group(c, body, api)
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
    g = _topic_group(c, body, "get_topic_permission_group")
    pg = _existing_pg(c, g, body)
    rows = c.execute(
        "SELECT topic_id, permission FROM topic_permissions WHERE group_seq = ? AND pg_id = ?"
        " ORDER BY topic_id",
        (g["seq"], pg),
    ).fetchall()
    have = dict(rows)
    wanted = _string_list(body, "TopicIdList")
    items = []
    for t in [_topic_id_param(g, t, "TopicIdList") for t in wanted] if wanted else have:
        item = {"ErrorCode": 0, "ErrorInfo": "", "TopicId": t, "Permission": have.get(t, 0)}
        if t not in have:
            item.update(ErrorCode=E.GROUP_GONE, ErrorInfo=f"no permission in topic {t}")
        items.append(item)
    return {"TopicPermissionResultList": items}


# -- AVChatRoom ----------------------------------------------------------------------------


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
        marks = [R.as_int(mark) for mark in raw_marks]
        for raw, mark in zip(raw_marks, marks, strict=True):
            if (
                mark is None
                or mark > R.MAX_MARK
                or (mark < R.MIN_CUSTOM_MARK and mark not in R.SPECIAL_MARKS)
            ):
                raise R.bad(f"{account}: mark {raw!r} must be >= {R.MIN_CUSTOM_MARK} or 500/600")
        wanted.append((account, marks))
    g = _load_group(c, body)
    if g["type"] != R.AVCHATROOM:
        raise _no_type(g, "modify_user_info")
    now = ctx.now
    done = []
    for account, marks in wanted:
        m = c.execute(
            "SELECT id, online, marks, mark500_until FROM members"
            " WHERE group_seq = ? AND account = ?",
            (g["seq"], account),
        ).fetchone()
        if m is None or not _online(m, now):
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
            if _online(m, now):
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
    g = _load_group(c, body)
    if g["type"] not in (R.AVCHATROOM, R.COMMUNITY):
        raise _no_type(g, "get_members")
    # Online as _online() says, selected in SQL: a room's offline members are never read.
    where, args = "m.group_seq = ? AND (m.online OR m.mark500_until > ?)", [g["seq"], ctx.now]
    if mark is not None:  # no cap to the latest joiners: the page can start in SQL
        where += " AND m.id > ?"
        args.append(timestamp)
    rows = c.execute(
        "SELECT m.id, m.account, m.join_time, m.online, m.marks, m.mark500_until,"
        " a.nick, a.face_url FROM members m LEFT JOIN accounts a ON a.user_id = m.account"
        f" WHERE {where} ORDER BY m.id",
        args,
    ).fetchall()
    listed = []
    for m in rows:
        marks = json.loads(m["marks"])
        if mark is not None:
            if mark not in marks:
                continue
        elif R.MARK_HIDDEN in marks:
            continue
        listed.append((m, marks))
    if mark is None:
        listed = listed[-R.ONLINE_LIST_CAP :]  # only the latest 1000 online joiners
    page = [x for x in listed if x[0]["id"] > timestamp]
    more = len(page) > R.GET_MEMBERS_PAGE
    page = page[: R.GET_MEMBERS_PAGE]
    return {
        "MemberList": [
            {
                "Member_Account": m["account"],
                "JoinTime": m["join_time"],
                "NickName": m["nick"] or "",
                "Avatar": m["face_url"] or "",
                "Marks": marks,
            }
            for m, marks in page
        ],
        "NextTimestamp": page[-1][0]["id"] if more else 0,
    }


# -- accounts ------------------------------------------------------------------------------


def _account_bad(info: str) -> ApiError:
    return ApiError(E.ACCOUNT_BAD_PARAM, info)


def account_import(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    # ``Identifier`` is the field's older name, still sent by DB and PY; UserID wins.
    user_id = body.get("UserID", body.get("Identifier"))
    if not R.valid_user_id(user_id):
        raise _account_bad(f"UserID must be 1-{R.USER_ID_BYTES} bytes of printable ASCII")
    nick, face = body.get("Nick"), body.get("FaceUrl")
    if not isinstance(nick, str | None) or not isinstance(face, str | None):
        raise _account_bad("Nick and FaceUrl must be strings")
    c.execute(
        "INSERT INTO accounts(user_id, nick, face_url, create_time) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(user_id) DO UPDATE SET nick = coalesce(?, nick),"
        " face_url = coalesce(?, face_url)",
        (user_id, nick or "", face or "", ctx.now, nick, face),
    )
    return {}


def multiaccount_import(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    # Two forms: ``Accounts: [UserID]`` (the page), and the newer ``AccountList: [{UserID,
    # Nick, FaceUrl}]`` (DO, 2024-12), which also updates existing accounts' Nick and FaceUrl.
    # Both may come in one call; together they are at most 100 accounts.
    accounts = body.get("Accounts")
    listed = body.get("AccountList")
    if accounts is None and listed is None:
        raise _account_bad("Accounts (user IDs) or AccountList ({UserID, Nick, ...}) is required")
    if accounts is not None and (not isinstance(accounts, list) or not accounts):
        raise _account_bad("Accounts must be a non-empty array of user IDs")
    if listed is not None and (not isinstance(listed, list) or not listed):
        raise _account_bad("AccountList must be a non-empty array of {UserID, Nick, FaceUrl}")
    rows: list[tuple[Any, str | None, str | None]] = [(a, None, None) for a in accounts or ()]
    for item in listed or ():
        if not isinstance(item, dict):
            raise _account_bad("AccountList items must be objects with a UserID")
        nick, face = item.get("Nick"), item.get("FaceUrl")
        if not isinstance(nick, str | None) or not isinstance(face, str | None):
            raise _account_bad("Nick and FaceUrl must be strings")
        rows.append((item.get("UserID"), nick, face))
    if len(rows) > R.ACCOUNT_BATCH:
        raise _account_bad(f"the call holds {len(rows)} accounts; at most {R.ACCOUNT_BATCH}")
    good = [r for r in rows if R.valid_user_id(r[0])]
    failed = [r[0] for r in rows if not R.valid_user_id(r[0])]
    c.executemany(
        "INSERT INTO accounts(user_id, nick, face_url, create_time) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(user_id) DO UPDATE SET nick = coalesce(?, nick),"
        " face_url = coalesce(?, face_url)",
        [(uid, nick or "", face or "", ctx.now, nick, face) for uid, nick, face in good],
    )
    return {"FailAccounts": failed}


def account_check(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    items = body.get("CheckItem")
    if not isinstance(items, list) or not items:
        raise _account_bad("CheckItem must be a non-empty array of {UserID}")
    if len(items) > R.ACCOUNT_BATCH:
        raise _account_bad(f"CheckItem holds {len(items)} items; at most {R.ACCOUNT_BATCH}")
    ids = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("UserID"), str):
            raise _account_bad("CheckItem items must be objects with a string UserID")
        ids.append(item["UserID"])
    missing = set(_missing_accounts(c, ids))
    return {
        "ResultItem": [
            {
                "UserID": uid,
                "ResultCode": 0,
                "ResultInfo": "",
                "AccountStatus": "NotImported" if uid in missing else "Imported",
            }
            for uid in ids
        ]
    }


GROUP_SVC = "group_open_http_svc"
AV_SVC = "group_open_avchatroom_http_svc"
LOGIN_SVC = "im_open_login_svc"
TOPIC_SVC = "million_group_open_http_svc"

# (service, command) -> (handler, writes?)
HANDLERS: dict[tuple[str, str], tuple[Handler, bool]] = {
    (GROUP_SVC, "get_appid_group_list"): (get_appid_group_list, False),
    (GROUP_SVC, "get_group_info"): (get_group_info, False),
    (GROUP_SVC, "get_group_member_info"): (get_group_member_info, False),
    (GROUP_SVC, "get_specified_group_member_info"): (get_specified_group_member_info, False),
    (GROUP_SVC, "create_group"): (create_group, True),
    (GROUP_SVC, "destroy_group"): (destroy_group, True),
    (GROUP_SVC, "add_group_member"): (add_group_member, True),
    (GROUP_SVC, "delete_group_member"): (delete_group_member, True),
    (GROUP_SVC, "import_group_member"): (import_group_member, True),
    (GROUP_SVC, "modify_group_base_info"): (modify_group_base_info, True),
    (GROUP_SVC, "modify_group_member_info"): (modify_group_member_info, True),
    (GROUP_SVC, "change_group_owner"): (change_group_owner, True),
    (GROUP_SVC, "forbid_send_msg"): (forbid_send_msg, True),
    (GROUP_SVC, "get_group_muted_account"): (get_group_muted_account, False),
    (GROUP_SVC, "ban_group_member"): (ban_group_member, True),
    (GROUP_SVC, "unban_group_member"): (unban_group_member, True),
    (GROUP_SVC, "get_group_ban_member"): (get_group_ban_member, False),
    (AV_SVC, "modify_user_info"): (modify_user_info, True),
    (AV_SVC, "get_members"): (get_members, False),
    (GROUP_SVC, "create_permission_group"): (create_permission_group, True),
    (GROUP_SVC, "modify_permission_group"): (modify_permission_group, True),
    (GROUP_SVC, "destroy_permission_group"): (destroy_permission_group, True),
    (GROUP_SVC, "get_permission_group"): (get_permission_group, False),
    (GROUP_SVC, "add_permission_group_member"): (add_permission_group_member, True),
    (GROUP_SVC, "delete_permission_group_member"): (delete_permission_group_member, True),
    (GROUP_SVC, "get_permission_group_member_list"): (get_permission_group_member_list, False),
    (GROUP_SVC, "add_topic_permission_group"): (add_topic_permission_group, True),
    (GROUP_SVC, "set_topic_permission_group"): (set_topic_permission_group, True),
    (GROUP_SVC, "get_topic_permission_group"): (get_topic_permission_group, False),
    (TOPIC_SVC, "create_topic"): (create_topic, True),
    (TOPIC_SVC, "modify_topic"): (modify_topic, True),
    (TOPIC_SVC, "destroy_topic"): (destroy_topic, True),
    (TOPIC_SVC, "get_topic"): (get_topic, False),
    (AV_SVC, "modify_admin"): (modify_admin, True),
    (AV_SVC, "get_admin_list"): (get_admin_list, False),
    (LOGIN_SVC, "account_check"): (account_check, False),
    (LOGIN_SVC, "multiaccount_import"): (multiaccount_import, True),
    (LOGIN_SVC, "account_import"): (account_import, True),
}
SERVICES = frozenset(service for service, _ in HANDLERS)
# Answers above 1 MB are refused with 10018 on the APIs of ``Profile.size_limited``.


# -- emulator controls (outside /v4): what end users do through the client SDK ---------------


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
    g = _load_group(c, body)
    _require_accounts(c, accounts)
    if g["type"] not in (R.COMMUNITY, R.AVCHATROOM):
        raise _no_type(g, "online presence")
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
    if online and _banned(c, g["seq"], account, now):
        raise ApiError(E.NO_PERMISSION, f"{account} is banned from {g['group_id']}")
    if online:
        if m is None:
            c.execute(
                "INSERT INTO members(group_seq, account, join_time, online) VALUES (?, ?, ?, 1)",
                (g["seq"], account, now),
            )
        elif not _online(m, now):  # a new session: marks from an old one are gone
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
    g = _load_group(c, body)
    if g["type"] == R.AVCHATROOM:
        return control_online(ctx, c, {**body, "Online": True})
    if g["type"] not in (R.PUBLIC, R.CHATROOM, R.COMMUNITY):
        raise _no_type(g, "joining by oneself")
    if g["apply_join"] == "DisableApply":
        raise ApiError(E.NO_PERMISSION, f"{g['group_id']} does not accept applications")
    _require_accounts(c, [account])
    if _existing_members(c, g["seq"], [account]):
        return {"Result": 2}
    if _member_count(c, g["seq"]) + 1 > g["max_member_num"]:
        raise ApiError(E.GROUP_FULL, f"group {g['group_id']} is full")
    c.execute(
        "INSERT INTO members(group_seq, account, join_time) VALUES (?, ?, ?)",
        (g["seq"], account, ctx.now),
    )
    return {"Result": 1}


def control_leave(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """A member leaves a group by themselves (the owner may not; 10009)."""
    account = R.check_user_id(body.get("Account"), "Account")
    g = _load_group(c, body)
    if g["type"] == R.AVCHATROOM:
        return control_online(ctx, c, {**body, "Online": False})
    if g["owner"] == account:
        raise ApiError(E.OWNER_CANNOT_QUIT, f"{account} owns {g['group_id']} and cannot leave it")
    c.execute("DELETE FROM members WHERE group_seq = ? AND account = ?", (g["seq"], account))
    c.execute(
        "DELETE FROM permission_members WHERE group_seq = ? AND account = ?", (g["seq"], account)
    )
    return {}


def control_message(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """A member posts a message: the group's message seq and times move, and so do the member's
    (MsgSeq, LastSendMsgTime), as chat moves them between a plan and its apply."""
    account = R.check_user_id(body.get("Account"), "Account")
    g = _load_group(c, body)
    if not _existing_members(c, g["seq"], [account]):
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
