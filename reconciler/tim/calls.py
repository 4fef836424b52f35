"""The write calls a plan is made of, in domain terms, and how each one goes over the wire.

The planner builds these requests; the client sends them (``TimClient.perform``), which turns a
request into its body, reads the answer and returns an ``Outcome``. Nothing outside ``tim/``
knows a wire field name. A request is a plain dataclass, so a plan file stores it as JSON and
reads it back with ``request_from_json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ConfigDict

from reconciler.state import TYPE_ALIASES, GroupType, MsgFlag, Role
from reconciler.tim.errors import GROUP_GONE_CODES, ID_TAKEN_CODES, TimApiError
from reconciler.tim.limits import HIDDEN_MARK, permission_group_id, service_of, topic_id

if TYPE_CHECKING:
    from reconciler.tim.client import TimClient


@dataclass
class Outcome:
    """What a call achieved beyond "it succeeded"."""

    refused: list[str] = field(default_factory=list)  # accounts the API refused (Result 0)
    offline: list[str] = field(default_factory=list)  # marks not changed: the member is offline
    existed: bool = False  # create_group: a group of the declared type was there already


# A saved plan's requests are read back only in the shape they were written: no unknown field,
# no coercion (planfile.read validates them with pydantic).
EXACT = ConfigDict(extra="forbid", strict=True)


@dataclass
class Joiner:
    """A member joining through create_group or import_group_member."""

    __pydantic_config__ = EXACT

    account: str
    admin: bool = False
    join_time: int | None = None  # import only
    unread: int | None = None  # import only
    custom: dict[str, str] = field(default_factory=dict)  # create_group only


def _kv(custom: dict[str, str | None]) -> list[dict[str, str]]:
    # An empty Value deletes the key (modify_group_base_info's documented convention).
    return [{"Key": k, "Value": v or ""} for k, v in custom.items()]


# Profile fields: config name -> wire name (create_group and modify_group_base_info alike).
PROFILE_FIELDS = {
    "name": "Name",
    "introduction": "Introduction",
    "notification": "Notification",
    "face_url": "FaceUrl",
    "apply_join": "ApplyJoinOption",
    "invite_join": "InviteJoinOption",
}
# Communities with topics (seed 003): config name -> wire name, create and modify alike.
PERMISSION_FIELDS = {
    "enable_permission": "EnablePermission",
    "default_permission": "DefaultPermission",
}


def _permission_body(request: Any) -> dict[str, int]:
    return {
        wire: int(getattr(request, name))
        for name, wire in PERMISSION_FIELDS.items()
        if getattr(request, name) is not None
    }


class Request:
    """A write call. ``api`` is the command; ``count`` the items it carries (for summaries)."""

    __pydantic_config__ = EXACT
    api: ClassVar[str]
    group_id: str

    @property
    def count(self) -> int:
        """The accounts, members or marked members the call carries (1 when none)."""
        for name in ("accounts", "members", "marks"):
            items = getattr(self, name, None)
            if isinstance(items, list | dict):
                return len(items)
        return 1

    async def send(self, client: TimClient) -> Outcome:
        raise NotImplementedError


@dataclass
class CreateGroup(Request):
    api: ClassVar[str] = "create_group"
    group_id: str
    type: GroupType
    name: str
    owner: str | None = None
    introduction: str | None = None
    notification: str | None = None
    face_url: str | None = None
    apply_join: str | None = None
    invite_join: str | None = None
    max_members: int | None = None
    custom: dict[str, str] = field(default_factory=dict)
    members: list[Joiner] = field(default_factory=list)
    support_topic: bool = False  # Community only, and only at creation
    enable_permission: bool | None = None
    default_permission: int | None = None

    @property
    def count(self) -> int:
        return 1 + len(self.members)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Type": GroupType(self.type).value, "GroupId": self.group_id}
        if self.owner:
            body["Owner_Account"] = self.owner
        for name, wire in PROFILE_FIELDS.items():
            if getattr(self, name) is not None:
                body[wire] = getattr(self, name)
        if self.max_members is not None:
            body["MaxMemberCount"] = self.max_members
        if self.custom:
            body["AppDefinedData"] = _kv(self.custom)
        if self.support_topic:
            body["SupportTopic"] = 1
        body.update(_permission_body(self))
        if self.members:
            body["MemberList"] = [
                {
                    "Member_Account": m.account,
                    **({"Role": "Admin"} if m.admin else {}),
                    **({"AppMemberDefinedData": _kv(m.custom)} if m.custom else {}),
                }
                for m in self.members
            ]
        return body

    async def send(self, client: TimClient) -> Outcome:
        try:
            await client.create_group(self.body())
        except TimApiError as err:
            if err.code not in ID_TAKEN_CODES:
                raise
            # Look before failing: a retried or interrupted create may already have made it.
            found = await client.get_group_info([self.group_id])
            info = found[0] if found and isinstance(found[0], dict) else {}
            live_type = (
                TYPE_ALIASES.get(info.get("Type")) if info.get("ErrorCode", 0) == 0 else None
            )
            if live_type is not GroupType(self.type):
                raise
            return Outcome(existed=True)
        return Outcome()


@dataclass
class ModifyGroup(Request):
    """Profile fields, mute-all, custom data and the member limit; ``None`` = unchanged."""

    api: ClassVar[str] = "modify_group_base_info"
    group_id: str
    name: str | None = None
    introduction: str | None = None
    notification: str | None = None
    face_url: str | None = None
    apply_join: str | None = None
    invite_join: str | None = None
    max_members: int | None = None
    mute_all: bool | None = None
    custom: dict[str, str | None] = field(default_factory=dict)  # None or "" deletes a key
    enable_permission: bool | None = None
    default_permission: int | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"GroupId": self.group_id}
        body.update(_permission_body(self))
        for name, wire in PROFILE_FIELDS.items():
            if getattr(self, name) is not None:
                body[wire] = getattr(self, name)
        if self.mute_all is not None:
            body["MuteAllMember"] = "On" if self.mute_all else "Off"
        if self.custom:
            body["AppDefinedData"] = _kv(self.custom)
        if self.max_members is not None:
            body["MaxMemberNum"] = self.max_members
        return body

    async def send(self, client: TimClient) -> Outcome:
        await client.modify_group_base_info(self.body())
        return Outcome()


@dataclass
class ImportMembers(Request):
    api: ClassVar[str] = "import_group_member"
    group_id: str
    members: list[Joiner]

    async def send(self, client: TimClient) -> Outcome:
        items = []
        for m in self.members:
            item: dict[str, Any] = {"Member_Account": m.account}
            if m.admin:
                item["Role"] = "Admin"
            if m.join_time is not None:
                item["JoinTime"] = m.join_time
            if m.unread is not None:
                item["UnreadMsgNum"] = m.unread
            items.append(item)
        answer = await client.import_group_member(self.group_id, items)
        return Outcome(
            refused=[str(i.get("Member_Account")) for i in answer if i.get("Result") == 0]
        )


@dataclass
class ChangeOwner(Request):
    api: ClassVar[str] = "change_group_owner"
    group_id: str
    owner: str

    async def send(self, client: TimClient) -> Outcome:
        await client.change_group_owner(self.group_id, self.owner)
        return Outcome()


@dataclass
class ModifyMember(Request):
    """One member's attributes; ``None`` = unchanged. ``muted_until`` is absolute (0 = unmute):
    the relative MuteTime is computed when the request leaves."""

    api: ClassVar[str] = "modify_group_member_info"
    group_id: str
    account: str
    role: Role | None = None
    name_card: str | None = None
    msg_flag: MsgFlag | None = None
    muted_until: int | None = None
    custom: dict[str, str | None] = field(default_factory=dict)

    async def send(self, client: TimClient) -> Outcome:
        body: dict[str, Any] = {"GroupId": self.group_id, "Member_Account": self.account}
        for name, wire in (("role", "Role"), ("name_card", "NameCard"), ("msg_flag", "MsgFlag")):
            if getattr(self, name) is not None:
                body[wire] = getattr(self, name)
        if self.custom:
            body["AppMemberDefinedData"] = _kv(self.custom)
        await client.modify_group_member_info(body, muted_until=self.muted_until)
        return Outcome()


@dataclass
class ChangeMarks(Request):
    """Set (``delete`` false) or delete AVChatRoom marks of online members: account -> marks."""

    api: ClassVar[str] = "modify_user_info"
    group_id: str
    marks: dict[str, list[int]]
    delete: bool = False

    async def send(self, client: TimClient) -> Outcome:
        entries = [{"Member_Account": a, "Marks": m} for a, m in self.marks.items()]
        try:
            answer = await client.modify_user_info(self.group_id, 2 if self.delete else 1, entries)
        except TimApiError as err:
            # Seed 000: when every listed account is offline the whole call fails (the code is
            # not documented). Look: if none of them is online, they are all pending.
            if err.transient or await self._any_online(client):
                raise
            return Outcome(offline=list(self.marks))
        done = {m.get("Member_Account") for m in answer.get("MemberList") or []}
        return Outcome(offline=[a for a in self.marks if a not in done])

    async def _any_online(self, client: TimClient) -> bool:
        # Mark 600 hides a member from the plain online list unless asked for by that mark.
        online = set(await client.online_accounts(self.group_id))
        online.update(await client.online_accounts(self.group_id, HIDDEN_MARK))
        return not online.isdisjoint(self.marks)


@dataclass
class MuteMembers(Request):
    """Mute ``accounts`` until ``muted_until`` (absolute Unix seconds; 0 unmutes) in one call:
    one MuteTime for all of them, computed when the request leaves."""

    api: ClassVar[str] = "forbid_send_msg"
    group_id: str
    accounts: list[str]
    muted_until: int

    async def send(self, client: TimClient) -> Outcome:
        await client.forbid_send_msg(self.group_id, self.accounts, self.muted_until)
        return Outcome()


@dataclass
class ChangeAdmins(Request):
    """Make ``accounts`` admins of an AVChatRoom (``remove`` false) or revoke them."""

    api: ClassVar[str] = "modify_admin"
    group_id: str
    accounts: list[str]
    remove: bool = False

    async def send(self, client: TimClient) -> Outcome:
        await client.modify_admin(self.group_id, self.accounts, remove=self.remove)
        return Outcome()


@dataclass
class BanMembers(Request):
    """Ban ``accounts`` from an AVChatRoom until ``banned_until`` (absolute Unix seconds); the
    relative Duration is computed when the request leaves. Banning removes them from the room."""

    api: ClassVar[str] = "ban_group_member"
    group_id: str
    accounts: list[str]
    banned_until: int

    async def send(self, client: TimClient) -> Outcome:
        await client.ban_group_member(self.group_id, self.accounts, self.banned_until)
        return Outcome()


@dataclass
class UnbanMembers(Request):
    api: ClassVar[str] = "unban_group_member"
    group_id: str
    accounts: list[str]

    async def send(self, client: TimClient) -> Outcome:
        await client.unban_group_member(self.group_id, self.accounts)
        return Outcome()


# Topic attributes: config name -> wire name (create_topic and modify_topic alike).
TOPIC_WIRE = {
    "name": "TopicName",
    "introduction": "Introduction",
    "notification": "Notification",
    "face_url": "FaceUrl",
    "custom_string": "CustomString",
}


def _topic_body(request: CreateTopic | ModifyTopic) -> dict[str, Any]:
    body: dict[str, Any] = {
        "GroupId": request.group_id,
        "TopicId": topic_id(request.group_id, request.topic),
    }
    for name, wire in TOPIC_WIRE.items():
        if getattr(request, name) is not None:
            body[wire] = getattr(request, name)
    return body


@dataclass
class CreateTopic(Request):
    """A topic of a Community with topics, under its custom ID (``topic`` is the part after
    "@TOPIC#_"). create_topic carries no mute-all: a muted topic is modified after."""

    api: ClassVar[str] = "create_topic"
    group_id: str
    topic: str
    name: str
    introduction: str | None = None
    notification: str | None = None
    face_url: str | None = None
    custom_string: str | None = None

    async def send(self, client: TimClient) -> Outcome:
        try:
            await client.create_topic(_topic_body(self))
        except TimApiError as err:
            # A retried or interrupted create may have made it: look before failing.
            if err.code in GROUP_GONE_CODES or err.transient:
                raise
            live = await client.get_topic(self.group_id, [topic_id(self.group_id, self.topic)])
            if not live:
                raise
            return Outcome(existed=True)
        return Outcome()


@dataclass
class ModifyTopic(Request):
    """A topic's attributes; ``None`` = unchanged."""

    api: ClassVar[str] = "modify_topic"
    group_id: str
    topic: str
    name: str | None = None
    introduction: str | None = None
    notification: str | None = None
    face_url: str | None = None
    custom_string: str | None = None
    mute_all: bool | None = None

    async def send(self, client: TimClient) -> Outcome:
        body = _topic_body(self)
        if self.mute_all is not None:
            body["MuteAllMember"] = "On" if self.mute_all else "Off"  # CN-78205
        await client.modify_topic(body)
        return Outcome()


@dataclass
class DestroyTopics(Request):
    """Destroy topics of a Community (``topics``: the custom parts of their IDs)."""

    api: ClassVar[str] = "destroy_topic"
    group_id: str
    topics: list[str]

    @property
    def count(self) -> int:
        return len(self.topics)

    async def send(self, client: TimClient) -> Outcome:
        await client.destroy_topic(self.group_id, [topic_id(self.group_id, t) for t in self.topics])
        return Outcome()


def _pg_body(request: Any, create: bool = False) -> dict[str, Any]:
    """``create``: Permission is required (CN-103966); none declared is no permissions (0)."""
    body: dict[str, Any] = {
        "GroupId": request.group_id,
        "PermissionGroupId": permission_group_id(request.permission_group),
    }
    for name, wire in (
        ("name", "PermissionGroupName"),
        ("permission", "Permission"),
        ("custom_string", "CustomString"),
    ):
        value = getattr(request, name, None)
        if value is None and create and wire == "Permission":
            value = 0
        if value is not None:
            body[wire] = value
    return body


def _item_errors(
    api: str, answer: dict[str, Any], field: str, done: frozenset[int] = frozenset()
) -> None:
    """Raise the first per-item error of a write's answer (codes in ``done`` count as done)."""
    for item in answer.get(field) or []:
        code = item.get("ErrorCode", 0) if isinstance(item, dict) else 0
        if code and code not in done:
            raise TimApiError(f"{service_of(api)}/{api}", int(code), str(item.get("ErrorInfo", "")))


def _results(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of a MemberList answer whose Result is 0 (refused)."""
    items = answer.get("MemberList") or []
    return [m for m in items if isinstance(m, dict) and m.get("Result") == 0]


@dataclass
class CreatePermissionGroup(Request):
    """A permission group of a Community under its custom ID ("@PMG#_" + ``permission_group``)."""

    api: ClassVar[str] = "create_permission_group"
    group_id: str
    permission_group: str
    name: str
    permission: int | None = None
    custom_string: str | None = None

    async def send(self, client: TimClient) -> Outcome:
        try:
            # Permission is required on create (CN-103966): none declared is no permissions.
            await client.call_group(self.api, _pg_body(self, create=True))
        except TimApiError as err:
            # A retried create may have made it: look before failing.
            if err.code in GROUP_GONE_CODES or err.transient:
                raise
            pg = permission_group_id(self.permission_group)
            if self.permission_group not in await client.get_permission_group(self.group_id, [pg]):
                raise
            return Outcome(existed=True)
        return Outcome()


@dataclass
class ModifyPermissionGroup(Request):
    api: ClassVar[str] = "modify_permission_group"
    group_id: str
    permission_group: str
    name: str | None = None
    permission: int | None = None
    custom_string: str | None = None

    async def send(self, client: TimClient) -> Outcome:
        await client.call_group("modify_permission_group", _pg_body(self))
        return Outcome()


@dataclass
class DestroyPermissionGroups(Request):
    api: ClassVar[str] = "destroy_permission_group"
    group_id: str
    permission_groups: list[str]

    @property
    def count(self) -> int:
        return len(self.permission_groups)

    async def send(self, client: TimClient) -> Outcome:
        ids = [permission_group_id(p) for p in self.permission_groups]
        body = {"GroupId": self.group_id, "PermissionGroupIdList": ids}
        answer = await client.call_group(self.api, body)
        # Each one's own result (CN-103967): one that is gone is done, any other code fails.
        _item_errors(self.api, answer, "PermissionGroupResultList", GROUP_GONE_CODES)
        return Outcome()


@dataclass
class AddPermissionMembers(Request):
    """Add ``accounts`` (members of the Community) to a permission group."""

    api: ClassVar[str] = "add_permission_group_member"
    group_id: str
    permission_group: str
    accounts: list[str]

    async def send(self, client: TimClient) -> Outcome:
        body = {
            "GroupId": self.group_id,
            "PermissionGroupId": permission_group_id(self.permission_group),
            "MemberList": [{"Member_Account": a} for a in self.accounts],
        }
        answer = await client.call_group(self.api, body)
        # add answers each account's Result (CN-103974): 0 is refused, not done.
        return Outcome(refused=[str(m.get("Member_Account")) for m in _results(answer)])


@dataclass
class RemovePermissionMembers(AddPermissionMembers):
    """Take ``accounts`` out of a permission group (they stay members of the Community)."""

    api: ClassVar[str] = "delete_permission_group_member"


@dataclass
class AddTopicPermissions(Request):
    """A permission group's permissions in topics it has none in: topic (custom part of its
    ID) -> bit set."""

    api: ClassVar[str] = "add_topic_permission_group"
    group_id: str
    permission_group: str
    topics: dict[str, int]

    @property
    def count(self) -> int:
        return len(self.topics)

    async def send(self, client: TimClient) -> Outcome:
        body = {
            "GroupId": self.group_id,
            "PermissionGroupId": permission_group_id(self.permission_group),
            "TopicPermissionList": [
                {"TopicId": topic_id(self.group_id, t), "Permission": p}
                for t, p in self.topics.items()
            ],
        }
        answer = await client.call_group(self.api, body)
        # Each topic's own result (EN-61236): any code is a failure.
        _item_errors(self.api, answer, "TopicPermissionResultList")
        return Outcome()


@dataclass
class SetTopicPermissions(AddTopicPermissions):
    """A permission group's permissions in topics it already has permissions in."""

    api: ClassVar[str] = "set_topic_permission_group"


@dataclass
class RemoveMembers(Request):
    api: ClassVar[str] = "delete_group_member"
    group_id: str
    accounts: list[str]

    async def send(self, client: TimClient) -> Outcome:
        await client.delete_group_member(self.group_id, self.accounts)
        return Outcome()


@dataclass
class DestroyGroup(Request):
    api: ClassVar[str] = "destroy_group"
    group_id: str

    async def send(self, client: TimClient) -> Outcome:
        await client.destroy_group(self.group_id, missing_ok=True)
        return Outcome()


@dataclass
class ImportAccounts(Request):
    api: ClassVar[str] = "multiaccount_import"
    accounts: list[str]
    group_id: str = ""  # app-wide

    async def send(self, client: TimClient) -> Outcome:
        return Outcome(refused=await client.multiaccount_import(self.accounts))


REQUEST_TYPES: dict[str, type[Request]] = {
    cls.api: cls
    for cls in (
        CreateGroup,
        ModifyGroup,
        ImportMembers,
        ChangeOwner,
        ModifyMember,
        ChangeMarks,
        MuteMembers,
        ChangeAdmins,
        BanMembers,
        UnbanMembers,
        CreateTopic,
        ModifyTopic,
        DestroyTopics,
        CreatePermissionGroup,
        ModifyPermissionGroup,
        DestroyPermissionGroups,
        AddPermissionMembers,
        RemovePermissionMembers,
        AddTopicPermissions,
        SetTopicPermissions,
        RemoveMembers,
        DestroyGroup,
        ImportAccounts,
    )
}


def request_to_json(request: Request) -> dict[str, Any]:
    """The request's fields, shallow (orjson writes the nested Joiners itself)."""
    return {f.name: getattr(request, f.name) for f in fields(request)}  # type: ignore[arg-type]


def request_from_json(api: str, data: dict[str, Any]) -> Request:
    """A request saved by ``request_to_json``; raises KeyError/TypeError on a foreign shape."""
    cls = REQUEST_TYPES[api]
    values = dict(data)
    if "members" in values and cls in (CreateGroup, ImportMembers):
        values["members"] = [Joiner(**m) for m in values["members"]]
    if "marks" in values:
        values["marks"] = {str(a): list(m) for a, m in values["marks"].items()}
    if "type" in values:
        values["type"] = GroupType(values["type"])
    return cls(**values)
