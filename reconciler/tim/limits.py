"""The REST API's documented numbers and names, stated once: services, batch sizes, rates,
byte limits and identifier rules.

The client, the planner (through the client's request types) and the emulator all read them
here. Sources: shared/reference/tencent-chat-rest-api.md (§1.4 rates, §3-§10 batch limits).
"""

from __future__ import annotations

GROUP_SVC = "group_open_http_svc"
AVCHATROOM_SVC = "group_open_avchatroom_http_svc"
LOGIN_SVC = "im_open_login_svc"

# The service each API (command) is served under; the rest are group_open_http_svc.
SERVICE_OF: dict[str, str] = {
    "modify_user_info": AVCHATROOM_SVC,
    "get_members": AVCHATROOM_SVC,
    "account_import": LOGIN_SVC,
    "multiaccount_import": LOGIN_SVC,
    "account_check": LOGIN_SVC,
}


def service_of(api: str) -> str:
    return SERVICE_OF.get(api, GROUP_SVC)


# Most items one call may carry (group IDs, members, accounts), per API.
BATCH: dict[str, int] = {
    "get_group_info": 50,
    "create_group": 100,  # the initial MemberList
    "add_group_member": 300,
    "import_group_member": 300,
    "delete_group_member": 100,
    "modify_user_info": 500,
    "account_check": 100,
    "multiaccount_import": 100,
}

# get_group_member_info: the largest Limit the current page documents.
MEMBER_PAGE = 200
# get_appid_group_list: the largest Limit.
GROUP_LIST_PAGE = 10000

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
    """The calls per second for ``api`` when the app's default is ``default``."""
    return RATES.get(api, default)


def min_seconds(calls_by_api: dict[str, int], default_rate: float = DEFAULT_RATE) -> float:
    """The floor time of a set of calls: the busiest API's calls divided by its rate."""
    return max((n / rate_of(api, default_rate) for api, n in calls_by_api.items()), default=0.0)


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
# Mark 500 keeps a member online through disconnections, for at most three days (seed page).
MARK_ALWAYS_ONLINE = 500
MARK_500_HOLD_S = 3 * 86400
MIN_CUSTOM_MARK = 1000

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
