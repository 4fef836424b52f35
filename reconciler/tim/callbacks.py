"""The vendor's third-party callbacks, read into domain events (reference §16.3).

The vendor POSTs each callback to the app's callback URL with the query parameters
``SdkAppid``, ``CallbackCommand``, ``contenttype``, ``ClientIP``, ``OptPlatform`` and, when a
callback token is configured in the console, ``Sign`` and ``RequestTime``: Sign is the lowercase
hex SHA-256 of the token followed by RequestTime (seconds), and a RequestTime more than a
minute from now is to be refused (CN-32431). The answer is ``OK_ANSWER``; "after" callbacks
ignore its code, "before" callbacks time out after 2 s (CN-1522).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

# Query parameter names.
SDKAPPID_PARAM = "SdkAppid"
COMMAND_PARAM = "CallbackCommand"
SIGN_PARAM = "Sign"
TIME_PARAM = "RequestTime"

SIGN_WINDOW_S = 60  # RequestTime further than this from now is refused

OK_ANSWER = orjson.dumps({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})

MEMBER_JOINED = "Group.CallbackAfterNewMemberJoin"
MEMBER_EXITED = "Group.CallbackAfterMemberExit"
INFO_CHANGED = "Group.CallbackAfterGroupInfoChanged"
GROUP_DESTROYED = "Group.CallbackAfterGroupDestroyed"
MEMBER_STATE = "Group.CallbackOnMemberStateChange"
MEMBER_FIELD_CHANGED = "Group.CallbackAfterMemberFieldChanged"

Kind = Literal["joined", "exited", "info", "destroyed", "online", "offline", "member_field"]

# command -> (kind, the list that names the accounts it is about)
_SHAPES: dict[str, tuple[Kind, str | None]] = {
    MEMBER_JOINED: ("joined", "NewMemberList"),
    MEMBER_EXITED: ("exited", "ExitMemberList"),
    INFO_CHANGED: ("info", None),
    GROUP_DESTROYED: ("destroyed", "MemberList"),
    MEMBER_FIELD_CHANGED: ("member_field", "MemberList"),
}
GROUP_COMMANDS = frozenset([*_SHAPES, MEMBER_STATE])


def sign(token: str, request_time: str | int) -> str:
    """The Sign the vendor puts on a callback made at ``request_time`` (seconds)."""
    return hashlib.sha256(f"{token}{request_time}".encode()).hexdigest()


class CallbackMalformed(ValueError):
    """A callback body that is not what the vendor documents."""


@dataclass(frozen=True)
class GroupEvent:
    """One group callback: what happened to which group, and to whom."""

    command: str
    kind: Kind
    group_id: str
    accounts: list[str] = field(default_factory=list)
    operator: str | None = None


def _accounts(body: dict[str, Any], name: str) -> list[str]:
    items = body.get(name) or []
    if not isinstance(items, list):
        raise CallbackMalformed(f"{name} is not a list")
    accounts = []
    for item in items:
        account = item.get("Member_Account") if isinstance(item, dict) else None
        if not isinstance(account, str) or not account:
            raise CallbackMalformed(f"{name} has an item without Member_Account")
        accounts.append(account)
    return accounts


def parse_group_event(command: str, raw: bytes) -> GroupEvent | None:
    """The event of a group callback; None for a command that is not a group callback.
    CallbackMalformed for a body that cannot be read."""
    if command not in GROUP_COMMANDS:
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise CallbackMalformed("the body is not JSON") from None
    if not isinstance(body, dict):
        raise CallbackMalformed("the body is not a JSON object")
    group_id = body.get("GroupId")
    if not isinstance(group_id, str) or not group_id:
        raise CallbackMalformed("GroupId is missing")
    operator = body.get("Operator_Account")
    operator = operator if isinstance(operator, str) and operator else None
    if command == MEMBER_STATE:
        state = body.get("EventType")
        if state not in ("Online", "Offline"):
            raise CallbackMalformed(f"EventType {state!r} is neither Online nor Offline")
        kind: Kind = "online" if state == "Online" else "offline"
        return GroupEvent(command, kind, group_id, _accounts(body, "MemberList"), operator)
    kind, listed = _SHAPES[command]
    accounts = _accounts(body, listed) if listed else []
    return GroupEvent(command, kind, group_id, accounts, operator)
