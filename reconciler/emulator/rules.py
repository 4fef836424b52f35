"""The documented rules: group types, per-type support, byte and batch limits, ID formats.

Written from the vendor documentation (seed pages + shared/reference), not from any client.
Choices on unconfirmed points are listed in ``reconciler.emulator``'s module docstring.
"""

from __future__ import annotations

import re
from typing import Any, Literal, overload

from ..tim import limits as _st
from ..tim.limits import BATCH, GROUP_LIST_PAGE
from .errors import BAD_GROUP_ID, BAD_PARAM, ApiError

# API type names (the server stores and returns these) and the console's newer aliases.
PRIVATE, PUBLIC, CHATROOM, AVCHATROOM, COMMUNITY = (
    "Private",
    "Public",
    "ChatRoom",
    "AVChatRoom",
    "Community",
)
CREATABLE_TYPES = {
    "Private": PRIVATE,
    "Work": PRIVATE,
    "Public": PUBLIC,
    "ChatRoom": CHATROOM,
    "Meeting": CHATROOM,
    "AVChatRoom": AVCHATROOM,
    "Community": COMMUNITY,
}
# get_appid_group_list's GroupType filter also knows the legacy BChatRoom.
FILTER_TYPES = {**CREATABLE_TYPES, "BChatRoom": "BChatRoom"}

# Types whose member list the REST API reads and writes (AVChatRoom members join via the SDK).
MEMBER_TYPES = frozenset({PRIVATE, PUBLIC, CHATROOM, COMMUNITY})

# Default and maximum MaxMemberNum per type (documented paid ceilings: 6,000 / 100,000).
# AVChatRoom is unlimited: MaxMemberNum is ignored there and reported as 0.
MAX_MEMBERS = {**_st.MAX_MEMBERS_CEILING, AVCHATROOM: 0}

# Defaults for the join options when create_group leaves them out.
DEFAULT_APPLY_JOIN = {
    PRIVATE: "DisableApply",
    PUBLIC: "NeedPermission",
    CHATROOM: "FreeAccess",
    AVCHATROOM: "FreeAccess",
    COMMUNITY: "FreeAccess",
}
DEFAULT_INVITE_JOIN = {
    PRIVATE: "FreeAccess",
    PUBLIC: "NeedPermission",
    CHATROOM: "FreeAccess",
    COMMUNITY: "FreeAccess",
}
APPLY_JOIN_OPTIONS = frozenset({"FreeAccess", "NeedPermission", "DisableApply"})
INVITE_JOIN_OPTIONS = frozenset({"FreeAccess", "NeedPermission", "DisableInvite"})
MSG_FLAGS = frozenset({"AcceptAndNotify", "AcceptNotNotify", "Discard"})

# UTF-8 byte limits.
NAME_BYTES = 30
INTRODUCTION_BYTES = 240
NOTIFICATION_BYTES = 300
FACE_URL_BYTES = 100
NAME_CARD_BYTES = 50
# The identifier rules are the project's one statement of them (reconciler.tim.limits).
GROUP_ID_BYTES = _st.GROUP_ID_MAX_BYTES
USER_ID_BYTES = _st.ACCOUNT_MAX_BYTES

# Per-request limits: the documented batch sizes (shared with the client), and the server's own.
# Those the vendor's revisions disagree on (add/import batches, member paging, the member list
# of get_group_info) are in profiles.PROFILES.
GROUP_INFO_BATCH = BATCH["get_group_info"]
SPECIFIED_MEMBERS_BATCH = BATCH["get_specified_group_member_info"]
CREATE_MEMBERS = BATCH["create_group"]
DELETE_BATCH = BATCH["delete_group_member"]
MARKS_BATCH = BATCH["modify_user_info"]
MUTE_BATCH = BATCH["forbid_send_msg"]
ADMIN_BATCH = BATCH["modify_admin"]
BAN_BATCH = BATCH["ban_group_member"]
UNBAN_BATCH = BATCH["unban_group_member"]
MAX_ROOM_ADMINS = _st.MAX_AVCHATROOM_ADMINS
BAN_DESCRIPTION_BYTES = _st.BAN_DESCRIPTION_MAX_BYTES
BAN_PAGE = _st.BAN_PAGE
# Topics (EN-49471, DO); the custom part's length and destroy_topic's batch are unconfirmed.
TOPIC_INFIX = _st.TOPIC_INFIX
TOPIC_NAME_BYTES = _st.TOPIC_NAME_MAX_BYTES
TOPIC_CUSTOM_STRING_BYTES = _st.TOPIC_CUSTOM_STRING_MAX_BYTES
TOPIC_SUFFIX_BYTES = _st.TOPIC_SUFFIX_MAX_BYTES
topic_id_problem = _st.topic_id_problem
permission_group_id_problem = _st.permission_group_id_problem
DESTROY_TOPIC_BATCH = BATCH["destroy_topic"]
# Permission groups (EN-61232...61242): IDs "@PMG#_" + custom part, names up to 150 bytes,
# members 100 a call (documented); the other limits are chosen (reconciler.emulator).
PERMISSION_GROUP_PREFIX = _st.PERMISSION_GROUP_PREFIX
PERMISSION_GROUP_NAME_BYTES = _st.PERMISSION_GROUP_NAME_MAX_BYTES
PERMISSION_MEMBER_BATCH = BATCH["add_permission_group_member"]
PERMISSION_GROUP_BATCH = BATCH["destroy_permission_group"]
TOPIC_PERMISSION_BATCH = BATCH["add_topic_permission_group"]
PERMISSION_GROUP_PAGE = _st.PERMISSION_GROUP_PAGE
PERMISSION_MEMBER_PAGE = _st.PERMISSION_MEMBER_PAGE
ACCOUNT_BATCH = BATCH["account_check"]
ROLE_QUERY_BATCH = 500  # get_role_in_group's User_Account (EN-34963); the client never calls it
GROUP_LIST_LIMIT = GROUP_LIST_PAGE
GET_MEMBERS_PAGE = 500
ONLINE_LIST_CAP = 1000
RESPONSE_MAX_BYTES = 1 << 20

# Communities with topics (seed 003, DO): permission groups; EnablePermission is 0 or 1, and
# DefaultPermission (a bit set the pages do not enumerate) needs EnablePermission 1.
ENABLE_PERMISSION_VALUES = frozenset({0, 1})
# HistoryMsgBeforeJoin (DO's ModifyGroupBaseInfoRequest): On/Off, Work/Public/Meeting only.
HISTORY_TYPES = frozenset({PRIVATE, PUBLIC, CHATROOM})

# AVChatRoom marks.
MIN_CUSTOM_MARK = 1000
MAX_MARK = _st.MAX_MARK
INT64_MAX = _st.INT64_MAX
UNIX_TIME_MAX = _st.UNIX_TIME_MAX
MARK_ALWAYS_ONLINE = 500
MARK_HIDDEN = 600
SPECIAL_MARKS = frozenset({MARK_ALWAYS_ONLINE, MARK_HIDDEN})
MAX_DISTINCT_MARKS = 10
MAX_ACCOUNTS_PER_MARK = 1000
MARK_500_SECONDS = _st.MARK_500_HOLD_S

SERVER_ID_PREFIX = _st.SERVER_ID_PREFIX
COMMUNITY_ID_PREFIX = _st.COMMUNITY_ID_PREFIX


def bad(info: str) -> ApiError:
    return ApiError(BAD_PARAM, info)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_DECIMAL = re.compile(r"-?[0-9]{1,20}")


def as_int(value: Any) -> int | None:
    """An integer field's value: a JSON integer, or a decimal string as some third-party clients
    send (PHP and Go SDKs that build bodies from strings); None for anything else."""
    if is_int(value):
        return value
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    return None


def get_str(body: dict, field: str, limit: int | None = None, *, required: bool = False) -> Any:
    """Return ``body[field]`` checked as a string within ``limit`` UTF-8 bytes, or None."""
    value = body.get(field)
    if value is None:
        if required:
            raise bad(f"{field} is required")
        return None
    if not isinstance(value, str):
        raise bad(f"{field} must be a string")
    if limit is not None and utf8_len(value) > limit:
        raise bad(f"{field} is {utf8_len(value)} bytes; the limit is {limit} bytes (UTF-8)")
    return value


@overload
def get_int(
    body: dict, field: str, *, required: Literal[True], minimum: int = ..., maximum: int = ...
) -> int: ...
@overload
def get_int(
    body: dict, field: str, *, required: bool = ..., minimum: int = ..., maximum: int = ...
) -> int | None: ...
def get_int(
    body: dict,
    field: str,
    *,
    required: bool = False,
    minimum: int = 0,
    maximum: int = _st.INT64_MAX,
) -> int | None:
    """An integer field within [minimum, maximum]; None when absent and not required."""
    value = body.get(field)
    if value is None:
        if required:
            raise bad(f"{field} is required")
        return None
    number = as_int(value)
    if number is None or not minimum <= number <= maximum:
        raise bad(f"{field} must be an integer from {minimum} to {maximum}")
    return number


def get_list(body: dict, field: str, *, required: bool = True) -> list | None:
    value = body.get(field)
    if value is None:
        if required:
            raise bad(f"{field} is required")
        return None
    if not isinstance(value, list):
        raise bad(f"{field} must be an array")
    return value


def printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


def well_formed_group_id(value: Any) -> bool:
    """A string that could name a group at all (server-assigned or custom): the same rule
    create_group holds, so every ID a group can be created with is usable at every endpoint."""
    return isinstance(value, str) and _st.group_id_problem(value) is None


def group_id_param(body: dict) -> str:
    """The request's GroupId: 10004 when missing or not a string, 10015 when malformed."""
    value = body.get("GroupId")
    if value is None:
        raise bad("GroupId is required")
    if not isinstance(value, str):
        raise bad("GroupId must be a string")
    if not well_formed_group_id(value):
        raise ApiError(BAD_GROUP_ID, f"invalid group ID {value!r}")
    return value


def check_custom_group_id(group_id: Any, group_type: str) -> str:
    """Validate a custom GroupId for create_group (10015 when it breaks the documented rules)."""
    if not isinstance(group_id, str):
        raise bad("GroupId must be a string")
    if not well_formed_group_id(group_id):
        raise ApiError(
            BAD_GROUP_ID,
            f"invalid custom group ID {group_id!r}: use 1-{GROUP_ID_BYTES} printable ASCII bytes",
        )
    if group_type == COMMUNITY:
        if not group_id.startswith(COMMUNITY_ID_PREFIX) or group_id == COMMUNITY_ID_PREFIX:
            raise ApiError(
                BAD_GROUP_ID,
                f"invalid custom group ID {group_id!r}: Community IDs must start with @TGS#_",
            )
    elif group_id.startswith(SERVER_ID_PREFIX):
        raise ApiError(
            BAD_GROUP_ID,
            f"invalid custom group ID {group_id!r}: the prefix @TGS# is reserved",
        )
    return group_id


def check_user_id(value: Any, field: str = "Member_Account") -> str:
    if not isinstance(value, str) or not value:
        raise bad(f"{field} must be a non-empty string")
    if not valid_user_id(value):
        raise bad(f"{field} {value!r}: UserIDs are 1-{USER_ID_BYTES} bytes of printable ASCII")
    return value


def valid_user_id(value: Any) -> bool:
    return isinstance(value, str) and _st.account_problem(value) is None


def custom_data(value: Any, field: str) -> list[tuple[str, str]]:
    """Validate an AppDefinedData / AppMemberDefinedData array into (key, value) pairs."""
    if not isinstance(value, list):
        raise bad(f"{field} must be an array of {{Key, Value}}")
    pairs: list[tuple[str, str]] = []
    for item in value:
        if not isinstance(item, dict):
            raise bad(f"{field} items must be objects with Key and Value")
        key, val = item.get("Key"), item.get("Value")
        if not isinstance(key, str) or not key:
            raise bad(f"{field}: Key must be a non-empty string")
        if not isinstance(val, str):
            raise bad(f"{field}: Value of {key!r} must be a string")
        pairs.append((key, val))
    return pairs


def apply_custom(current: dict[str, str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Set each key; an empty Value deletes it (documented on modify_group_base_info)."""
    out = dict(current)
    for key, val in pairs:
        if val == "":
            out.pop(key, None)
        else:
            out[key] = val
    return out


def mute_all_param(body: dict) -> bool | None:
    """MuteAllMember (current) or ShutUpAllMember (older); the current name wins."""
    for field in ("MuteAllMember", "ShutUpAllMember"):
        value = body.get(field)
        if value is None:
            continue
        if value not in ("On", "Off"):
            raise bad(f"{field} must be 'On' or 'Off'")
        return value == "On"
    return None


def mute_time_param(body: dict) -> int | None:
    """MuteTime (current) or ShutUpTime (older), seconds; 0 unmutes. The current name wins."""
    for field in ("MuteTime", "ShutUpTime"):
        value = body.get(field)
        if value is None:
            continue
        seconds = as_int(value)
        if seconds is None or seconds < 0 or seconds > 0xFFFFFFFF:
            raise bad(f"{field} must be a number of seconds >= 0")
        return seconds
    return None
