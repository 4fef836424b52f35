"""Permission groups of Communities (service group_open_http_svc): the groups, their members and
their permissions in each topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError

from reconciler.state import PermissionGroup
from reconciler.tim.errors import GROUP_GONE_CODES, MALFORMED, TimApiError
from reconciler.tim.limits import (
    BATCH,
    GROUP_SVC,
    PERMISSION_GROUP_PAGE,
    PERMISSION_GROUP_PREFIX,
    PERMISSION_MEMBER_PAGE,
    permission_group_id,
    topic_id,
    topic_suffix,
)
from reconciler.tim.wire.common import (
    Outcome,
    Request,
    accounts_in,
    item_errors,
    listed,
    malformed,
    refused,
)

if TYPE_CHECKING:
    from reconciler.tim.client import TimClient

SERVICE = GROUP_SVC
COMMANDS = (
    "create_permission_group",
    "modify_permission_group",
    "destroy_permission_group",
    "get_permission_group",
    "add_permission_group_member",
    "delete_permission_group_member",
    "get_permission_group_member_list",
    "add_topic_permission_group",
    "set_topic_permission_group",
    "get_topic_permission_group",
)


# --- readers -------------------------------------------------------------------------------------


def _pg_suffix(full: object) -> str:
    if not isinstance(full, str) or not full.startswith(PERMISSION_GROUP_PREFIX):
        raise ValueError(f"{full!r} is not a permission group ID")
    return full[len(PERMISSION_GROUP_PREFIX) :]


def permission_groups_from_api(group_id: str, answer: dict) -> dict[str, PermissionGroup]:
    """One get_permission_group page: PermissionGroupInfoList (EN-61235) -> custom part of the
    ID -> PermissionGroup (members and topic permissions are read apart). Items with an
    ErrorCode are left out."""
    api = "get_permission_group"
    out: dict[str, PermissionGroup] = {}
    items = listed(answer, f"{SERVICE}/{api}", "PermissionGroupInfoList")
    try:
        for item in items:
            if item.get("ErrorCode", 0):
                continue
            suffix = _pg_suffix(item["PermissionGroupId"])
            out[suffix] = PermissionGroup(
                id=suffix,
                name=item.get("PermissionGroupName", ""),
                permission=int(item.get("Permission") or 0),
                custom_string=item.get("CustomString", ""),
            )
    except (*MALFORMED, ValidationError) as err:
        raise malformed(group_id, api, err) from None
    return out


def permission_members_from_api(group_id: str, answer: dict) -> list[str]:
    """One get_permission_group_member_list page: MemberList of {Member_Account} -> accounts."""
    api = "get_permission_group_member_list"
    items = listed(answer, f"{SERVICE}/{api}", "MemberList")
    return accounts_in(group_id, api, items, "Member_Account")


def topic_permissions_from_api(group_id: str, answer: dict) -> dict[str, int]:
    """get_topic_permission_group: TopicPermissionResultList of {ErrorCode, ErrorInfo, TopicId,
    Permission} (EN-61239) -> topic (custom part of its ID) -> bit set; items with an
    ErrorCode are left out."""
    api = "get_topic_permission_group"
    out: dict[str, int] = {}
    items = listed(answer, f"{SERVICE}/{api}", "TopicPermissionResultList")
    try:
        for item in items:
            if item.get("ErrorCode", 0):
                continue
            suffix = topic_suffix(group_id, item["TopicId"])
            if suffix is None:
                raise ValueError(f"topic {item['TopicId']!r} is not a topic of this group")
            out[suffix] = int(item["Permission"])
    except MALFORMED as err:
        raise malformed(group_id, api, err) from None
    return out


# --- reading -------------------------------------------------------------------------------------


async def get_permission_group(
    client: TimClient, group_id: str, ids: list[str] | None = None
) -> dict[str, PermissionGroup]:
    """A Community's permission groups: those of ``ids`` (full IDs) in one call, else all, 20 a
    page by ``Next`` (EN-61235)."""
    api = "get_permission_group"
    if ids:
        body = {"GroupId": group_id, "PermissionGroupIdList": list(ids)}
        return permission_groups_from_api(group_id, await client.call(SERVICE, api, body))
    found: dict[str, PermissionGroup] = {}
    first = {"GroupId": group_id, "Limit": PERMISSION_GROUP_PAGE, "Next": ""}
    async for page in client.pages(SERVICE, api, first, "Next"):
        found.update(permission_groups_from_api(group_id, page))
    return found


async def get_permission_group_member_list(
    client: TimClient, group_id: str, pg_id: str
) -> list[str]:
    """Every member of a permission group, 50 a page by ``Next`` (CN-103976), sorted."""
    accounts: list[str] = []
    first = {
        "GroupId": group_id,
        "PermissionGroupId": pg_id,
        "Limit": PERMISSION_MEMBER_PAGE,
        "Next": "",
    }
    async for page in client.pages(SERVICE, "get_permission_group_member_list", first, "Next"):
        accounts.extend(permission_members_from_api(group_id, page))
    return sorted(accounts)


async def get_topic_permission_group(
    client: TimClient, group_id: str, pg_id: str
) -> dict[str, int]:
    """A permission group's permissions per topic (custom part of the topic ID)."""
    body = {"GroupId": group_id, "PermissionGroupId": pg_id}
    answer = await client.call(SERVICE, "get_topic_permission_group", body)
    return topic_permissions_from_api(group_id, answer)


# --- writing -------------------------------------------------------------------------------------


async def _write(client: TimClient, command: str, body: dict[str, Any]) -> dict[str, Any]:
    """A write whose batch is checked against its limit first."""
    for name in ("MemberList", "TopicPermissionList", "PermissionGroupIdList"):
        if command in BATCH and name in body:
            client.check_batch(command, body[name])
    return await client.call(SERVICE, command, body)


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
            await _write(client, "create_permission_group", _pg_body(self, create=True))
        except TimApiError as err:
            # A retried create may have made it: look before failing.
            if err.code in GROUP_GONE_CODES or err.transient:
                raise
            pg = permission_group_id(self.permission_group)
            if self.permission_group not in await get_permission_group(client, self.group_id, [pg]):
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
        await _write(client, "modify_permission_group", _pg_body(self))
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
        answer = await _write(client, "destroy_permission_group", body)
        # Each one's own result (CN-103967): one that is gone is done, any other code fails.
        api = f"{SERVICE}/destroy_permission_group"
        item_errors(api, answer, "PermissionGroupResultList", GROUP_GONE_CODES)
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
        answer = await _write(client, self.api, body)
        # add answers each account's Result (CN-103974): 0 is refused, not done.
        return Outcome(refused=refused(answer))


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
        answer = await _write(client, self.api, body)
        # Each topic's own result (EN-61236): any code is a failure.
        item_errors(f"{SERVICE}/{self.api}", answer, "TopicPermissionResultList")
        return Outcome()


@dataclass
class SetTopicPermissions(AddTopicPermissions):
    """A permission group's permissions in topics it already has permissions in."""

    api: ClassVar[str] = "set_topic_permission_group"
