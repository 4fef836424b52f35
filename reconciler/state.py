"""The one model of chat-group state, shared by config, observe, diff, plan, apply and export.

Desired and observed groups are the same types. In a desired group a field left as ``None`` is
*unmanaged*: the reconciler never changes it. In an observed group every field the API returned
is filled in. Names follow the config format (snake_case); the API's names live only in
``reconciler.tim`` and in the mapping helpers of ``observe``/``apply``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetPydanticSchema
from pydantic_core import core_schema as cs


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

# The API's documented limits and identifier rules live in reconciler.tim.limits; the state
# model and the config read them from here.

# The group that holds the app's lock (reconciler.lock): the tool's own, never declared or exported.
LOCK_GROUP_ID = "tim-reconciler-lock"
# The group that records the config revision last applied (reconciler.revision), likewise.
REVISION_GROUP_ID = "tim-reconciler-revision"
TOOL_GROUP_IDS = frozenset({LOCK_GROUP_ID, REVISION_GROUP_ID})

# Every Community's ID starts so, custom or server-assigned (reference §3), and no other's.
COMMUNITY_ID_PREFIX = "@TGS#_"

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


# A member's managed attributes, custom data aside (what a plan compares and sets, one by one),
# in the config format's order. tests/test_state.py checks them against the model.
MEMBER_ATTRIBUTES = ("role", "name_card", "msg_flag", "muted_until")

_NO_CUSTOM: dict[str, str | None] = {}  # shared by every declared member without custom data
_ACCOUNT_ONLY = frozenset({"account"})
_ALL_FIELDS = frozenset(Member.model_fields)
_set_slot = object.__setattr__
_UNMANAGED = (None,) * len(MEMBER_ATTRIBUTES)
_PLAIN = (*_UNMANAGED, _NO_CUSTOM, None, None)  # what a plain member's values are, account aside


class DeclaredMember(NamedTuple):
    """A member as the config declares it, kept by DeclaredMembers: every Member field in the
    model's order (tests/test_state.py checks), None where unmanaged. A plain type, not a
    Member: a config of ten million memberships holds one for each member that declares more
    than its account."""

    account: str
    role: Role | None
    name_card: str | None
    msg_flag: MsgFlag | None
    muted_until: int | None
    custom: dict[str, str | None]
    join_time: int | None
    unread: int | None


def compares(member: DeclaredMember) -> bool:
    """The member declares what a plan compares (MEMBER_ATTRIBUTES or custom data); for the
    others membership is all there is to compare."""
    return member[1:5] != _UNMANAGED or bool(member[5])


_new_tuple = tuple.__new__  # what DeclaredMember._make calls, less a Python call a member


def declared_member(
    values: Mapping[str, Any], share: Callable[[Any, Any], Any] | None = None
) -> DeclaredMember | None:
    """A member given as values already validated against the config's stricter member schema
    (a mapping with ``account`` and the keys given); None when it gives nothing but its
    account (as the plain ``- account`` form). ``share(key, custom)``: the custom data to keep,
    one mapping for equal ones (``dict.setdefault`` of a table by the items)."""
    if len(values) == 1:
        return None
    get = values.get
    custom = get("custom") or _NO_CUSTOM
    if share is not None and custom:
        custom = share(tuple(custom.items()), custom)
    return _new_tuple(
        DeclaredMember,
        (
            values["account"],
            get("role"),
            get("name_card"),
            get("msg_flag"),
            get("muted_until"),
            custom,
            get("join_time"),
            get("unread"),
        ),
    )


def _member(account: str, row: DeclaredMember | None) -> Member:
    """A Member made from a row, skipping pydantic's second validation and built small:
    attributes set one by one, always in the order of the fields, are kept by CPython in the
    object itself on a key table all members share (until something asks for ``__dict__``).
    A plain member's only field set is its account, another's are all (None: unmanaged).
    Made members are read-only: assigning an attribute raises (the frozenset of fields set,
    shared, cannot record it)."""
    member = Member.__new__(Member)
    put = _set_slot
    put(member, "account", account)
    if row is None:
        put(member, "role", None)
        put(member, "name_card", None)
        put(member, "msg_flag", None)
        put(member, "muted_until", None)
        put(member, "custom", _NO_CUSTOM)
        put(member, "join_time", None)
        put(member, "unread", None)
        put(member, "__pydantic_fields_set__", _ACCOUNT_ONLY)
    else:
        put(member, "role", row[1])
        put(member, "name_card", row[2])
        put(member, "msg_flag", row[3])
        put(member, "muted_until", row[4])
        put(member, "custom", row[5])
        put(member, "join_time", row[6])
        put(member, "unread", row[7])
        put(member, "__pydantic_fields_set__", _ALL_FIELDS)
    put(member, "__pydantic_extra__", None)
    put(member, "__pydantic_private__", None)
    return member


class DeclaredMembers(Mapping[str, Member]):
    """A desired group's members by account, in the config's order; a Member is made on lookup.

    A config of ten million memberships declares most members by account alone: a Member for
    each (about 180 bytes, 2 us to make) was most of a big config's memory and load time. Only
    the account is kept of those, and a DeclaredMember of the others; read-only.
    """

    __slots__ = ("_rows",)

    def __init__(self, rows: dict[str, DeclaredMember | None]) -> None:
        self._rows = rows

    @classmethod
    def of(cls, members: Mapping[str, Member]) -> DeclaredMembers:
        """Members given as Members (a group built in code rather than loaded)."""
        if isinstance(members, DeclaredMembers):
            return members
        rows = {a: declared_member(vars(m) | {"account": a}) for a, m in members.items()}
        return cls({a: None if row and row[1:] == _PLAIN else row for a, row in rows.items()})

    def __getitem__(self, account: str) -> Member:
        return _member(account, self._rows[account])

    def __contains__(self, account: object) -> bool:
        return account in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DeclaredMembers):
            return self._rows == other._rows
        return Mapping.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<DeclaredMembers: {len(self._rows)}>"

    def keys(self) -> KeysView[str]:
        return self._rows.keys()  # a dict's: membership tested at C speed (a plan's hot loop)

    def rows(self) -> ItemsView[str, DeclaredMember | None]:
        """Each account with its DeclaredMember, None for the plain ``- account`` form."""
        return self._rows.items()

    def custom_keys(self) -> set[str]:
        """The custom-data keys any member declares."""
        return {key for row in self._rows.values() if row is not None for key in row[5]}

    def values_of(self, account: str) -> tuple[Any, ...]:
        """The member's values of every Member field in their order: what a digest of the
        group reads, without making the Member."""
        row = self._rows[account]
        if row is None:
            return (account, *_PLAIN)
        return tuple(row)


class LiveMember(NamedTuple):
    """A member as observed: the managed values the API listed, checked. A plain type, not a
    Member: a plan of a million memberships makes one for every member it looks at."""

    account: str
    role: Role
    name_card: str
    msg_flag: MsgFlag
    muted_until: int
    custom: dict[str, str | None]


class MemberView(Protocol):
    """What is read of a member, desired or observed: a Member and a LiveMember both are one."""

    @property
    def account(self) -> str: ...
    @property
    def role(self) -> Role | None: ...
    @property
    def name_card(self) -> str | None: ...
    @property
    def msg_flag(self) -> MsgFlag | None: ...
    @property
    def muted_until(self) -> int | None: ...
    @property
    def custom(self) -> dict[str, str | None]: ...


def _members_schema(_source: Any, handler: GetCoreSchemaHandler) -> cs.CoreSchema:
    """A DeclaredMembers is taken as it is; a dict is validated as Members and kept as one."""
    as_dict = handler.generate_schema(dict[str, Member])
    return cs.union_schema(
        [
            cs.is_instance_schema(DeclaredMembers),
            cs.no_info_after_validator_function(DeclaredMembers.of, as_dict),
        ],
        serialization=cs.plain_serializer_function_ser_schema(
            lambda members: {a: m.model_dump() for a, m in members.items()}
        ),
    )


# A group's members by account: a desired group's are a DeclaredMembers (a dict of Members is
# validated into one); an observed group's a LiveMembers (reconciler.tim.wire.members), assigned
# unvalidated, or a dict of Members. All are a Mapping of member views.
Members = Annotated[Mapping[str, MemberView], GetPydanticSchema(_members_schema)]
ObservedMembers = Annotated[
    Mapping[str, MemberView],
    GetPydanticSchema(lambda _source, handler: handler.generate_schema(dict[str, Member])),
]


_NONE = DeclaredMembers({})


class Topic(BaseModel):
    """A Community topic. ``None`` on an attribute of a desired topic means unmanaged."""

    model_config = ConfigDict(extra="forbid")

    # The custom part of the topic ID: the full ID is "<group id>@TOPIC#_<id>" (tim.limits).
    id: str
    state: Literal["present", "absent"] = "present"
    name: str | None = None
    introduction: str | None = None
    notification: str | None = None
    face_url: str | None = None
    custom_string: str | None = None
    mute_all: bool | None = None


# A topic's managed attributes, in the config format's order.
TOPIC_FIELDS = ("name", "introduction", "notification", "face_url", "custom_string", "mute_all")


class PermissionGroup(BaseModel):
    """A Community permission group. ``None`` on an attribute of a desired one = unmanaged."""

    model_config = ConfigDict(extra="forbid")

    id: str  # the custom part: the full ID is "@PMG#_<id>" (tim.limits)
    state: Literal["present", "absent"] = "present"
    name: str | None = None
    permission: int | None = None  # the group-level permission bit set
    custom_string: str | None = None
    # Exact when declared: accounts not listed are taken out of the permission group.
    members: list[str] | None = None
    # topic (custom part of its ID) -> permission bit set; only the listed topics are managed.
    topic_permissions: dict[str, int] | None = None


PERMISSION_GROUP_FIELDS = ("name", "permission", "custom_string")


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
    members: Members | None = None
    # mark -> sorted accounts. None = marks unmanaged. AVChatRoom only.
    marks: dict[int, list[str]] | None = None
    # AVChatRoom only (the other types declare these on members): None = unmanaged.
    # admins: the room's admins, sorted (exact: others are revoked).
    admins: list[str] | None = None
    # muted / banned: account -> Unix seconds the mute or ban ends (0 = not). Only the listed
    # accounts are managed; a live mute or ban of anyone else is left alone.
    muted: dict[str, int] | None = None
    banned: dict[str, int] | None = None
    # Community only. support_topic is set at creation and never changes; enable_permission
    # and default_permission (a bit set) apply to Communities with topics.
    support_topic: bool | None = None
    enable_permission: bool | None = None
    default_permission: int | None = None
    # topic id (custom part) -> Topic. None = topics unmanaged; only the listed ones are
    # managed (a live topic not listed is left alone).
    topics: dict[str, Topic] | None = None
    # permission group id (custom part) -> PermissionGroup; only the listed ones are managed.
    permission_groups: dict[str, PermissionGroup] | None = None

    def member_count(self) -> int:
        return len(self.members) if self.members is not None else 0

    def declared_members(self) -> DeclaredMembers:
        """A desired group's members (none when unmanaged): validated as a DeclaredMembers
        (``Members``), or made one of Members assigned in code."""
        if self.members is None:
            return _NONE
        return DeclaredMembers.of(cast("Mapping[str, Member]", self.members))


# A group's managed base fields: its own values, compared and set field by field (custom data,
# members, marks, topics and the rest have their own changes), in the config format's order.
GROUP_FIELDS = (
    "name",
    "owner",
    "introduction",
    "notification",
    "face_url",
    "max_members",
    "apply_join",
    "invite_join",
    "mute_all",
    "enable_permission",  # Communities with topics
    "default_permission",
)


class ObservedGroup(Group):
    """What the API reported for a group, plus what only observation knows."""

    members: ObservedMembers | None = None
    # AVChatRoom: accounts currently online (marks can be set only on them).
    online: list[str] | None = None
    member_num: int | None = None
    create_time: int | None = None  # Unix seconds (imports' JoinTime must lie after it)
    # True once the member list was let go (``release_members``).
    members_released: bool = False
    # True when ``members`` holds only the accounts read by name (the declared ones of an
    # additive group): ``member_num`` counts the group.
    members_selected: bool = False

    def members_partial(self) -> bool:
        """The member list is missing or shorter than the member count the API reported: a
        big group's list may be left out of get_group_info or cut short, and then has to be
        paged before anyone is added or removed on its basis."""
        if self.members_released or self.members_selected or self.type is GroupType.AVChatRoom:
            return False
        if self.members is None:
            return True
        return isinstance(self.member_num, int) and len(self.members) < self.member_num

    def known_members(self) -> int:
        """How many members the group has: its list's length when the list is whole."""
        if self.members is not None and not self.members_selected:
            return len(self.members)
        return self.member_num or 0

    def release_members(self) -> None:
        """Let the member list go once a plan has diffed the group: a million observed members
        are then never all held at once. ``member_num`` keeps the count."""
        self.members = None
        self.members_released = True


def normalize_type(value: str) -> GroupType:
    """Map Work/Meeting and the API names to a GroupType; raise ValueError on anything else."""
    try:
        return TYPE_ALIASES[value]
    except KeyError:
        choices = ", ".join(sorted(TYPE_ALIASES))
        raise ValueError(f"unknown group type {value!r}; expected one of: {choices}") from None


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def set_keys(custom: dict[str, str | None]) -> dict[str, str]:
    """The custom-data keys a desired mapping sets: null and "" both delete a key (the API
    deletes a key written with an empty Value)."""
    return {k: v for k, v in custom.items() if v}


def utc_text(seconds: int) -> str:
    """Unix seconds as the UTC date-time the config format and the plan show."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# What makes a selection name a pattern rather than an ID (fnmatch's special characters).
PATTERN_CHARS = frozenset("*?[")


def matching(known: list[str], names: list[str]) -> dict[str, set[str]]:
    """Each name -> the IDs of ``known`` it covers: an ID that exists is taken literally even if
    it holds pattern characters; any other name is a shell-style pattern (``stg-*``,
    ``class-?a``, ``[ab]-*``), case-sensitive on every platform, as IDs are."""
    exact = set(known)
    return {
        name: {name} if name in exact else {k for k in known if fnmatch.fnmatchcase(k, name)}
        for name in names
    }
