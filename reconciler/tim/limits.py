"""The REST API's documented numbers and names, stated once: services, batch sizes, rates,
byte limits and identifier rules.

The client, the planner (through the client's request types) and the emulator all read them
here. Sources: shared/reference/tencent-chat-rest-api.md (§1.4 rates, §3-§10 batch limits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

GROUP_SVC = "group_open_http_svc"
AVCHATROOM_SVC = "group_open_avchatroom_http_svc"
LOGIN_SVC = "im_open_login_svc"
# Community topics (EN-49471 and its siblings).
TOPIC_SVC = "million_group_open_http_svc"

# Most items one call may carry (group IDs, members, accounts), per API.
BATCH: dict[str, int] = {
    "get_group_info": 50,
    "get_specified_group_member_info": 50,  # accounts named in Member_List_Account (CN-112002)
    "create_group": 100,  # the initial MemberList
    "add_group_member": 300,
    "import_group_member": 300,
    "delete_group_member": 100,
    "modify_user_info": 500,
    "forbid_send_msg": 500,  # one MuteTime for every account of the call
    "modify_admin": 5,  # an AVChatRoom has at most 5 admins
    "ban_group_member": 20,
    "unban_group_member": 20,
    "destroy_topic": 20,  # TopicIdList: the pages give no limit (unconfirmed; the emulator's 20)
    "add_permission_group_member": 100,  # EN-61240: at most 100 members a call
    "delete_permission_group_member": 100,  # as adding (unconfirmed)
    "destroy_permission_group": 20,  # PermissionGroupIdList: at most 20 (EN-61233, CN-103967)
    "add_topic_permission_group": 50,  # TopicPermissionList: at most 50 a call (EN-61236)
    "set_topic_permission_group": 50,  # as adding (EN-61237 gives no number)
    "account_check": 100,
    "multiaccount_import": 100,
}

# get_group_member_info: the largest Limit the current page documents.
MEMBER_PAGE = 200
# get_appid_group_list: the largest Limit.
GROUP_LIST_PAGE = 10000
# get_permission_group: the largest Limit (EN-61235); get_permission_group_member_list's
# (CN-103976, trtc.io/zh 61242).
PERMISSION_GROUP_PAGE = 20
PERMISSION_MEMBER_PAGE = 50

# Calls per second: the documented default for every API, and the APIs documented otherwise.
DEFAULT_RATE = 200.0
RATES: dict[str, float] = {
    "get_appid_group_list": 1.0,
    # The account APIs' pages (CN 248/4919, EN-34956): 100 calls/s, not the general 200.
    "account_check": 100.0,
    "multiaccount_import": 100.0,
    "account_import": 100.0,
}


def rate_of(api: str, default: float = DEFAULT_RATE) -> float:
    """The calls per second for ``api`` when the app's default is ``default`` (an API documented
    slower keeps its own rate, never more than the app's)."""
    return min(RATES[api], default) if api in RATES else default


def min_seconds(calls_by_api: dict[str, int], default_rate: float | Limits = DEFAULT_RATE) -> float:
    """The floor time of a set of calls: the busiest API's calls divided by its rate."""
    if isinstance(default_rate, Limits):
        return default_rate.min_seconds(calls_by_api)
    return max((n / rate_of(api, default_rate) for api, n in calls_by_api.items()), default=0.0)


# Where the vendor's revisions disagree on a batch size (reference §16.1), every reading, largest
# first: on 10005 the client tries the next smaller one before halving.
BATCH_READINGS: dict[str, tuple[int, ...]] = {
    "import_group_member": (300, 100, 20),
    "add_group_member": (300, 20),
}
# The calls that split themselves when the server refuses their size: 10005 (too many accounts)
# for the member calls, 10018 (answer over 1 MB) for get_group_info.
SPLIT_ON: dict[str, int] = {
    "import_group_member": 10005,
    "add_group_member": 10005,
    "delete_group_member": 10005,
    "get_group_info": 10018,
}
BATCH_MAX = 10_000  # the most an override may set (get_appid_group_list's page)


def is_read(api: str) -> bool:
    """The API only reads: every such API's name starts with get_, but account_check's."""
    return api.startswith("get_") or api == "account_check"


@dataclass
class Limits:
    """The batch sizes and rates one app is held to, as data: the documented values above, the
    app's overrides (``app.limits``), and what the server taught this run (``learned``)."""

    default_rate: float = DEFAULT_RATE
    batch: dict[str, int] = field(default_factory=dict)  # overrides of BATCH
    rates: dict[str, float] = field(default_factory=dict)  # overrides of rate_of
    learned: dict[str, int] = field(default_factory=dict)  # api -> size the server took
    refused: dict[str, list[int]] = field(default_factory=dict)  # api -> sizes it refused

    def batch_of(self, api: str) -> int:
        size = self.batch.get(api, BATCH[api])
        return min(size, self.learned.get(api, size))

    @staticmethod
    def unit_of(api: str) -> str:
        """What one of ``api``'s batch items is: a group ID for get_group_info, else an account."""
        return "groups" if api == "get_group_info" else "accounts"

    def rate_of(self, api: str) -> float:
        return self.rates[api] if api in self.rates else rate_of(api, self.default_rate)

    def min_seconds(self, calls_by_api: dict[str, int]) -> float:
        return max((n / self.rate_of(api) for api, n in calls_by_api.items()), default=0.0)

    def calls(self, api: str, items: int) -> int:
        """Calls that carry ``items`` of ``api`` at the current size (at least one)."""
        if api not in SPLIT_ON or items <= 1:
            return 1
        return math.ceil(items / self.batch_of(api))

    def learn(self, api: str, refused: int) -> int:
        """The server refused ``refused`` items in one ``api`` call: the size to use from now on
        (the next smaller documented reading, else half), kept for the rest of the run."""
        smaller = [n for n in BATCH_READINGS.get(api, ()) if n < refused]
        size = max(smaller) if smaller else max(1, refused // 2)
        self.refused.setdefault(api, []).append(refused)
        self.learned[api] = min(size, self.learned.get(api, size))
        return self.batch_of(api)


# Documented limits (UTF-8 bytes unless noted); see shared/reference/tencent-chat-rest-api.md §11.
NAME_MAX_BYTES = 30
INTRODUCTION_MAX_BYTES = 240
NOTIFICATION_MAX_BYTES = 300
FACE_URL_MAX_BYTES = 100
NAME_CARD_MAX_BYTES = 50
ACCOUNT_MAX_BYTES = 32
GROUP_ID_MAX_BYTES = 48
MAX_DISTINCT_MARKS = 10
MAX_ACCOUNTS_PER_MARK = 1000
SPECIAL_MARKS = frozenset({500, 600})
HIDDEN_MARK = 600  # seed 000: its members are left out of get_members unless asked for by it
# Mark 500 keeps a member online through disconnections, for at most three days (seed page).
MARK_ALWAYS_ONLINE = 500
MARK_500_HOLD_S = 3 * 86400
MIN_CUSTOM_MARK = 1000
# AVChatRoom admins (modify_admin, CN-102857): at most 5 per group.
MAX_AVCHATROOM_ADMINS = 5
# ban_group_member's Description (EN-50296).
BAN_DESCRIPTION_MAX_BYTES = 1000
# get_group_ban_member: the largest Limit of a page (EN-50295).
BAN_PAGE = 100

# Topics (EN-49471, DO): a custom topic ID is the group ID, "@TOPIC#_", then the custom part;
# TopicName at most 30 bytes, CustomString 3,000; Introduction, Notification and FaceUrl as for
# groups. The whole topic ID is at most 96 bytes and its custom part may not contain "@TGS#_" or
# "@TOPIC#_" (trtc.io 33529); the custom part is also held to a group ID's 48 bytes.
TOPIC_INFIX = "@TOPIC#_"
TOPIC_NAME_MAX_BYTES = 30
TOPIC_CUSTOM_STRING_MAX_BYTES = 3000
TOPIC_SUFFIX_MAX_BYTES = 48
TOPIC_ID_MAX_BYTES = 96
TOPIC_SUFFIX_FORBIDDEN = ("@TGS#_", TOPIC_INFIX)


# Permission groups (EN-61232...61242): custom IDs are "@PMG#_" then the custom part, which may
# not start "@PMG#" (a custom ID may not start "@PMG#_@PMG#", the server's own; trtc.io 33529);
# PermissionGroupName at most 150 bytes. CustomString's limit is not given: held to a topic's.
PERMISSION_GROUP_PREFIX = "@PMG#_"
PERMISSION_GROUP_SERVER_PREFIX = "@PMG#_@PMG#"
PERMISSION_GROUP_NAME_MAX_BYTES = 150


def topic_id_problem(group_id: str, suffix: str) -> str | None:
    """Why ``suffix`` cannot be the custom part of a topic ID of ``group_id``, or None."""
    bad = next((part for part in TOPIC_SUFFIX_FORBIDDEN if part in suffix), None)
    if bad:
        return f"topic ID {suffix!r} contains {bad!r}, which the API reserves"
    full = len(topic_id(group_id, suffix).encode())
    if full > TOPIC_ID_MAX_BYTES:
        return (
            f"topic ID {suffix!r} makes a full ID of {full} bytes (group ID + "
            f"{TOPIC_INFIX!r} + topic ID); at most {TOPIC_ID_MAX_BYTES}"
        )
    return None


def permission_group_id_problem(suffix: str) -> str | None:
    """Why ``suffix`` cannot be the custom part of a permission-group ID, or None."""
    if permission_group_id(suffix).startswith(PERMISSION_GROUP_SERVER_PREFIX):
        return (
            f"permission group ID {suffix!r} starts with '@PMG#': IDs starting "
            f"{PERMISSION_GROUP_SERVER_PREFIX!r} are the server's own"
        )
    return None


def permission_group_id(suffix: str) -> str:
    return f"{PERMISSION_GROUP_PREFIX}{suffix}"


def topic_id(group_id: str, suffix: str) -> str:
    """The full ID of the topic ``suffix`` (the part after "@TOPIC#_") of ``group_id``."""
    return f"{group_id}{TOPIC_INFIX}{suffix}"


def topic_suffix(group_id: str, full_id: str) -> str | None:
    """The custom part of a topic ID of ``group_id``, or None if it is not one."""
    prefix = f"{group_id}{TOPIC_INFIX}"
    return full_id[len(prefix) :] if full_id.startswith(prefix) else None


# Identifier rules, stated once for the config, its JSON Schema and the emulator (reference §5 and
# §10): custom group IDs and UserIDs are printable ASCII (0x20-0x7e), at most 48 and 32 bytes.
# (The TLS helper's stricter "letters, digits, _ and -" for UserIDs is one reading; the SDK's
# printable-ASCII rule is the other, and the one held here.)
PRINTABLE_ASCII_CLASS = "[ -~]"
GROUP_ID_PATTERN = f"^{PRINTABLE_ASCII_CLASS}{{1,{GROUP_ID_MAX_BYTES}}}$"
ACCOUNT_PATTERN = f"^{PRINTABLE_ASCII_CLASS}{{1,{ACCOUNT_MAX_BYTES}}}$"
SERVER_ID_PREFIX = "@TGS#"  # server-assigned IDs; a custom ID must not start with it
COMMUNITY_ID_PREFIX = "@TGS#_"  # ... except Community IDs, which must

# Integer bounds: the API's integers are at most 64-bit; times are Unix seconds (uint32).
INT64_MAX = 2**63 - 1
UNIX_TIME_MAX = 2**32 - 1
MAX_MARK = INT64_MAX
# MaxMemberNum ceilings per type (reference §11: paid plans); AVChatRoom has no limit.
MAX_MEMBERS_CEILING: dict[str, int] = {
    "Private": 6000,
    "Public": 6000,
    "ChatRoom": 6000,
    "Community": 100000,
}


def _printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()  # for ASCII: exactly 0x20-0x7e


def identifier_problem(value: str, limit: int, what: str) -> str | None:
    """Why ``value`` breaks the printable-ASCII identifier rule, or None. ``what``: "group ID",
    "account ID". Never echoes a control character raw."""
    if not value:
        return f"{what} is empty"
    if not _printable_ascii(value):
        bad = next(ch for ch in value if not " " <= ch <= "~")
        return (
            f"{what} {value!r} contains {bad!r} (U+{ord(bad):04X}): IDs are printable ASCII "
            "(0x20-0x7e: letters, digits, punctuation, space); remove other characters"
        )
    if len(value) > limit:
        return f"{what} {value!r} is {len(value)} bytes; at most {limit}"
    return None


def group_id_problem(value: str) -> str | None:
    return identifier_problem(value, GROUP_ID_MAX_BYTES, "group ID")


def account_problem(value: str) -> str | None:
    return identifier_problem(value, ACCOUNT_MAX_BYTES, "account ID")


def chunks(items: list, size: int) -> list[list]:
    """``items`` in consecutive lists of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]
