"""Topics of Communities (million_group_open_http_svc)."""

from __future__ import annotations

import sqlite3
from typing import Any

from ...tim.limits import TOPIC_SVC
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
    load_group,
    require_accounts,
    string_list,
    text_changes,
)

SERVICE = TOPIC_SVC


TOPIC_COLUMNS = "topic_id, name, introduction, notification, face_url, custom_string, mute_all"


# Request field -> (column, byte limit).
TOPIC_TEXT = {
    "TopicName": ("name", R.TOPIC_NAME_BYTES),
    "Introduction": ("introduction", R.INTRODUCTION_BYTES),
    "Notification": ("notification", R.NOTIFICATION_BYTES),
    "FaceUrl": ("face_url", R.FACE_URL_BYTES),
    "CustomString": ("custom_string", R.TOPIC_CUSTOM_STRING_BYTES),
}


def topic_group(c: sqlite3.Connection, body: dict, api: str) -> sqlite3.Row:
    """The Community the request names; only Communities created with SupportTopic 1 have
    topics (10007 otherwise, the pages' "not supported")."""
    g = load_group(c, body)
    if g["type"] != R.COMMUNITY or not g["support_topic"]:
        raise ApiError(
            E.NO_PERMISSION, f"{api}: group {g['group_id']} is not a Community with topics"
        )
    return g


def topic_id_param(g: sqlite3.Row, value: Any, field: str = "TopicId") -> str:
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


def topic_exists(c: sqlite3.Connection, seq: int, topic_id: str) -> bool:
    row = c.execute(
        "SELECT 1 FROM topics WHERE group_seq = ? AND topic_id = ?", (seq, topic_id)
    ).fetchone()
    return row is not None


def operator(c: sqlite3.Connection, body: dict, required: bool = False) -> str:
    operator = R.get_str(body, "From_Account", required=required) or ""
    if operator:
        R.check_user_id(operator, "From_Account")
        require_accounts(c, [operator])
    return operator


def create_topic(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    """A topic in a Community with topics: TopicName required (1-30 bytes); TopicId, when
    given, custom (a used one is 10021); otherwise one is assigned."""
    g = topic_group(c, body, "create_topic")
    values = {col: R.get_str(body, f, limit) for f, (col, limit) in TOPIC_TEXT.items()}
    if not values["name"]:
        raise R.bad("TopicName is required and must not be empty")
    owner = operator(c, body)
    if body.get("TopicId") is not None:
        topic_id = topic_id_param(g, body["TopicId"])
        if topic_exists(c, g["seq"], topic_id):
            raise ApiError(E.GROUP_ID_USED, f"topic ID {topic_id} is already used")
    else:
        while True:
            suffix = server_topic_suffix(EmulatorStore.next_counter(c, "topic_id"))
            topic_id = g["group_id"] + R.TOPIC_INFIX + suffix
            if not topic_exists(c, g["seq"], topic_id):
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
    g = topic_group(c, body, "modify_topic")
    topic_id = topic_id_param(g, body.get("TopicId"))
    if not topic_exists(c, g["seq"], topic_id):
        raise ApiError(E.GROUP_GONE, f"topic {topic_id} does not exist")
    sets = text_changes(body, TOPIC_TEXT)
    mute_all = R.mute_all_param(body)
    if mute_all is not None:
        sets["mute_all"] = int(mute_all)
    operator(c, body)
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
    g = topic_group(c, body, "destroy_topic")
    ids = string_list(body, "TopicIdList")
    if not ids:
        raise R.bad("TopicIdList must list at least one topic")
    if len(ids) > R.DESTROY_TOPIC_BATCH:
        raise R.bad(f"TopicIdList holds {len(ids)} topics; at most {R.DESTROY_TOPIC_BATCH}")
    if not c.execute("SELECT 1 FROM topics WHERE group_seq = ?", (g["seq"],)).fetchone():
        raise ApiError(E.NO_TOPICS, f"group {g['group_id']} has no topics")
    results = []
    for topic_id in dict.fromkeys(ids):
        topic_id_param(g, topic_id, "TopicIdList")
        gone = c.execute(
            "DELETE FROM topics WHERE group_seq = ? AND topic_id = ?", (g["seq"], topic_id)
        ).rowcount
        for table in ("topic_permissions", "topic_mutes"):
            c.execute(
                f"DELETE FROM {table} WHERE group_seq = ? AND topic_id = ?", (g["seq"], topic_id)
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
    g = topic_group(c, body, "get_topic")
    operator(c, body, required=True)
    wanted = body.get("TopicIdList")
    rows = c.execute(
        f"SELECT {TOPIC_COLUMNS}, create_time, owner FROM topics WHERE group_seq = ?"
        " ORDER BY create_time, topic_id",
        (g["seq"],),
    ).fetchall()
    by_id = {r[0]: r for r in rows}
    if wanted is not None:
        ids = string_list(body, "TopicIdList") or []  # not None: TopicIdList was given
        order = [topic_id_param(g, t, "TopicIdList") for t in dict.fromkeys(ids)]
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


# command -> (handler, writes?)
HANDLERS: dict[str, tuple[Handler, bool]] = {
    "create_topic": (create_topic, True),
    "modify_topic": (modify_topic, True),
    "destroy_topic": (destroy_topic, True),
    "get_topic": (get_topic, False),
}
