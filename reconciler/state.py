"""The one model of chat-group state, shared by config, observe, diff, plan, apply and export.

Desired and observed groups are the same types. In a desired group a field left as ``None`` is
*unmanaged*: the reconciler never changes it. In an observed group every field the API returned
is filled in. Names follow the config format (snake_case); the API's names live only in
``reconciler.tim`` and in the mapping helpers of ``observe``/``apply``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GroupType(StrEnum):
    """Group types by the API's names. The console's newer names are accepted as aliases."""

    Private = "Private"  # "Work" in the console
    Public = "Public"
    ChatRoom = "ChatRoom"  # "Meeting" in the console
    AVChatRoom = "AVChatRoom"
    Community = "Community"


# New console name -> API name. Both spellings are accepted everywhere a type is read.
TYPE_ALIASES: dict[str, GroupType] = {
    "Work": GroupType.Private,
    "Private": GroupType.Private,
    "Public": GroupType.Public,
    "Meeting": GroupType.ChatRoom,
    "ChatRoom": GroupType.ChatRoom,
    "AVChatRoom": GroupType.AVChatRoom,
    "Community": GroupType.Community,
}

# API name -> the name users write (what export emits).
DISPLAY_TYPE: dict[GroupType, str] = {
    GroupType.Private: "Work",
    GroupType.Public: "Public",
    GroupType.ChatRoom: "Meeting",
    GroupType.AVChatRoom: "AVChatRoom",
    GroupType.Community: "Community",
}

ApplyJoin = Literal["FreeAccess", "NeedPermission", "DisableApply"]
InviteJoin = Literal["FreeAccess", "NeedPermission", "DisableInvite"]
MsgFlag = Literal["AcceptAndNotify", "AcceptNotNotify", "Discard"]
Role = Literal["Owner", "Admin", "Member"]
MembersMode = Literal["authoritative", "additive"]

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

# Batch limits per call.
GROUP_INFO_BATCH = 50
IMPORT_BATCH = 300
ADD_BATCH = 300
DELETE_BATCH = 100
MARKS_BATCH = 500
ACCOUNT_BATCH = 100
MEMBER_PAGE = 200  # get_group_member_info: the current page text's maximum Limit

# Which group types keep a member list the REST API can read and write.
TYPES_WITH_MEMBERS = frozenset(
    {GroupType.Private, GroupType.Public, GroupType.ChatRoom, GroupType.Community}
)

# Seconds of tolerance when comparing mute deadlines: MuteTime is relative, computed at call time.
MUTE_TOLERANCE_S = 5


class Member(BaseModel):
    """A group member. ``None`` on an attribute of a desired member means unmanaged."""

    model_config = ConfigDict(extra="forbid")

    account: str
    role: Role | None = None
    name_card: str | None = None
    msg_flag: MsgFlag | None = None
    # Unix seconds when the mute ends; 0 = not muted. Absolute, so a plan stays stable over time.
    muted_until: int | None = None
    # AppMemberDefinedData. A value of None in a desired member deletes that key.
    custom: dict[str, str | None] = Field(default_factory=dict)
    # Used only when the member is imported; never compared.
    join_time: int | None = None
    unread: int | None = None


class Group(BaseModel):
    """A group, desired or observed."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: GroupType
    state: Literal["present", "absent"] = "present"
    name: str | None = None
    owner: str | None = None
    introduction: str | None = None
    notification: str | None = None
    face_url: str | None = None
    max_members: int | None = None
    apply_join: ApplyJoin | None = None
    invite_join: InviteJoin | None = None
    mute_all: bool | None = None
    # AppDefinedData. A value of None in a desired group deletes that key.
    custom: dict[str, str | None] = Field(default_factory=dict)
    protect: bool = False
    members_mode: MembersMode = "authoritative"
    # account -> Member. None = membership unmanaged (AVChatRoom, or no `members:` key declared).
    members: dict[str, Member] | None = None
    # mark -> sorted accounts. None = marks unmanaged. AVChatRoom only.
    marks: dict[int, list[str]] | None = None

    def member_count(self) -> int:
        return len(self.members) if self.members is not None else 0


class ObservedGroup(Group):
    """What the API reported for a group, plus what only observation knows."""

    # AVChatRoom: accounts currently online (marks can be set only on them).
    online: list[str] | None = None
    member_num: int | None = None


def normalize_type(value: str) -> GroupType:
    """Map Work/Meeting and the API names to a GroupType; raise ValueError on anything else."""
    try:
        return TYPE_ALIASES[value]
    except KeyError:
        choices = ", ".join(sorted(TYPE_ALIASES))
        raise ValueError(f"unknown group type {value!r}; expected one of: {choices}") from None


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


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
