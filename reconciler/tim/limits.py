"""The REST API's documented numbers and names, stated once: services, batch sizes, rates.

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


def chunks(items: list, size: int) -> list[list]:
    """``items`` in consecutive lists of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]
