"""Groups (group_open_http_svc): listing, reading, creating, changing and destroying them, and
the groups an account is in."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ...tim.limits import GROUP_SVC
from .. import errors as E
from .. import rules as R
from ..errors import ApiError
from ..store import (
    GROUP_COLUMNS,
    GROUP_TABLES,
    ROOM_TABLES,
    EmulatorStore,
)
from .common import (
    MEMBER_FIELDS,
    Ctx,
    Handler,
    MemberList,
    existing_members,
    field_set,
    load_group,
    member_count,
    member_list,
    no_type,
    require_accounts,
)

SERVICE = GROUP_SVC


CURSOR_BASE = 1 << 32  # get_appid_group_list's Next = CURSOR_BASE + last group seq (> 2**32)


def get_appid_group_list(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    limit = R.as_int(body.get("Limit", R.GROUP_LIST_LIMIT))
    if limit is None or not 1 <= limit <= R.GROUP_LIST_LIMIT:
        raise R.bad(f"Limit must be an integer from 1 to {R.GROUP_LIST_LIMIT}")
    nxt = R.as_int(body.get("Next", 0))  # a uint64: some clients send it as a string
    if nxt is None or nxt < 0 or (0 < nxt < CURSOR_BASE) or nxt >= 1 << 64:
        raise R.bad("Next must be 0 or a value returned by a previous call")
    after = nxt - CURSOR_BASE if nxt else 0
    gtype = body.get("GroupType")
    where, args = "seq > ?", list[int | str]([after])
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


def _custom(pairs: dict[str, str], keys: set[str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs.items() if keys is None or k in keys]


def _base_values(ctx: Ctx, g: sqlite3.Row) -> dict[str, Any]:
    """A group's base information as get_group_info names it (MemberNum aside: a count)."""
    values: dict[str, Any] = {
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
    if ctx.profile.invite_join_in_info and g["type"] != R.AVCHATROOM:
        values["InviteJoinOption"] = g["invite_join"]
    if g["type"] in R.HISTORY_TYPES:
        values["HistoryMsgBeforeJoin"] = g["history_before_join"]
    if g["type"] == R.COMMUNITY:
        values["SupportTopic"] = g["support_topic"]
        values["EnablePermission"] = g["enable_permission"]
        values["DefaultPermission"] = g["default_permission"]
    return values


def get_joined_group_list(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """The groups an account is in (CN-1625), ``Limit`` from ``Offset`` in the order it joined
    them; TotalCount counts them all. AVChatRooms only with ``WithHugeGroups`` 1; every Work
    group here is active, so ``WithNoActiveGroups`` changes nothing. Without a
    ``ResponseFilter`` an item is its GroupId; with one, the base fields and SelfInfo it names."""
    account = R.get_str(body, "Member_Account", R.USER_ID_BYTES, required=True)
    limit = R.get_int(body, "Limit", minimum=0)
    offset = R.get_int(body, "Offset", minimum=0) or 0
    huge, _, topics_only = (
        R.get_int(body, flag, maximum=1)
        for flag in ("WithHugeGroups", "WithNoActiveGroups", "SupportTopic")
    )
    gtype = body.get("GroupType")
    if gtype is not None and gtype not in R.FILTER_TYPES:
        raise R.bad(f"GroupType {gtype!r} is not a group type")
    rf = body.get("ResponseFilter")
    if rf is not None and not isinstance(rf, dict):
        raise R.bad("ResponseFilter must be an object")
    base = field_set((rf or {}).get("GroupBaseInfoFilter"), "GroupBaseInfoFilter")
    self_info = field_set((rf or {}).get("SelfInfoFilter"), "SelfInfoFilter")
    where, args = ["m.account = ?"], [account]
    if gtype is not None:
        where.append("g.type = ?")
        args.append(R.FILTER_TYPES[gtype])
    elif not huge:
        where.append("g.type != ?")
        args.append(R.AVCHATROOM)
    if topics_only:
        where.append("g.type = ? AND g.support_topic = 1")
        args.append(R.COMMUNITY)
    rows = c.execute(
        f"SELECT {', '.join('g.' + col for col in GROUP_COLUMNS.split(', '))}"
        f", {', '.join(f'm.{col}' for col in MEMBER_FIELDS.values())}"
        f" FROM members m JOIN groups g ON g.seq = m.group_seq WHERE {' AND '.join(where)}"
        " ORDER BY m.id",
        args,
    ).fetchall()
    page = rows[offset : None if limit is None else offset + limit]
    items = []
    for row in page:
        item: dict[str, Any] = {"GroupId": row["group_id"]}
        if topics_only:  # CN-1625: the Community's message seq over all topics, and the member's
            item.update(Type=row["type"], SupportTopic=1, GrossTopicNextMsgSeq=row["next_msg_seq"])
            item["SelfInfo"] = {"GrossTopicReadSeq": row["msg_seq"]}
        if base:
            values = _base_values(ctx, row)
            values["MemberNum"] = member_count(c, row["seq"])
            item.update({name: values[name] for name in BASE_FIELDS if name in base & set(values)})
        if self_info:
            # the member's own fields, as get_group_member_info names them (CN-1625's SelfInfo)
            wanted = [name for name in MEMBER_FIELDS if name in self_info]
            item.setdefault("SelfInfo", {}).update({n: row[MEMBER_FIELDS[n]] for n in wanted})
        items.append(item)
    return {"TotalCount": len(rows), "GroupIdList": items}


def get_group_info(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    ids = R.get_list(body, "GroupIdList")
    if not ids or len(ids) > R.GROUP_INFO_BATCH:
        raise R.bad(f"GroupIdList must hold 1 to {R.GROUP_INFO_BATCH} group IDs")
    rf = body.get("ResponseFilter")
    if rf is not None and not isinstance(rf, dict):
        raise R.bad("ResponseFilter must be an object")
    rf = rf or {}
    base = field_set(rf.get("GroupBaseInfoFilter"), "GroupBaseInfoFilter")
    mfields = field_set(rf.get("MemberInfoFilter"), "MemberInfoFilter")
    gkeys = field_set(rf.get("AppDefinedDataFilter_Group"), "AppDefinedDataFilter_Group")
    mkeys = field_set(
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
    if want_members or (not is_av and (base is None or "MemberNum" in base)):
        member_num = member_count(c, g["seq"])
    big = member_num is not None and member_num > cap
    if want_members and not (big and profile.omit_big_member_lists):
        members = member_list(
            c,
            "group_seq = ?",
            [g["seq"], cap] if big else [g["seq"]],
            mfields,
            mkeys,
            not filtered or mkeys is not None,
            "ORDER BY id LIMIT ?" if big else "",  # a list cut at the cap
        )
    values = _base_values(ctx, g)
    if member_num is not None:
        values["MemberNum"] = member_num
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
    require_accounts(c, ([owner] if owner else []) + list(members))
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
    g = load_group(c, body)
    for table in (*ROOM_TABLES, *GROUP_TABLES):
        c.execute(f"DELETE FROM {table} WHERE group_seq = ?", (g["seq"],))
    c.execute("DELETE FROM members WHERE group_seq = ?", (g["seq"],))
    c.execute("DELETE FROM groups WHERE seq = ?", (g["seq"],))
    return {}


def change_group_owner(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    gid = R.group_id_param(body)
    new_owner = R.check_user_id(body.get("NewOwner_Account"), "NewOwner_Account")
    g = load_group(c, {"GroupId": gid})
    if g["type"] not in R.MEMBER_TYPES:
        raise no_type(g, "change_group_owner")
    require_accounts(c, [new_owner])
    if not existing_members(c, g["seq"], [new_owner]):
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
    g = load_group(c, body)
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
        count = member_count(c, g["seq"])
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
        require_accounts(c, [operator])
    assignments = ", ".join(f"{col} = ?" for col in sets)
    c.execute(
        "UPDATE groups SET "
        + (assignments + ", " if assignments else "")
        + "info_seq = info_seq + 1, last_info_time = ? WHERE seq = ?",
        [*sets.values(), ctx.now, g["seq"]],
    )
    return {}


# command -> (handler, writes?)
HANDLERS: dict[str, tuple[Handler, bool]] = {
    "get_appid_group_list": (get_appid_group_list, False),
    "get_group_info": (get_group_info, False),
    "create_group": (create_group, True),
    "destroy_group": (destroy_group, True),
    "modify_group_base_info": (modify_group_base_info, True),
    "change_group_owner": (change_group_owner, True),
    "get_joined_group_list": (get_joined_group_list, False),
}
