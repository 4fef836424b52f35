"""Groups (service group_open_http_svc): listing, reading, creating, changing and destroying
them; the reader of get_group_info's items into ``ObservedGroup``s."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler.errors import ObserveError
from reconciler.state import TYPE_ALIASES, GroupType, ObservedGroup, normalize_type
from reconciler.tim.errors import GROUP_GONE_CODES, ID_TAKEN_CODES, MALFORMED, TimApiError
from reconciler.tim.limits import GROUP_LIST_PAGE, GROUP_SVC
from reconciler.tim.wire.common import (
    Joiner,
    Outcome,
    Request,
    custom_of,
    kv,
    listed,
    malformed,
    renamed,
)
from reconciler.tim.wire.members import MEMBER_FILTER_NAMES, LiveMembers, normalize_members

if TYPE_CHECKING:
    from reconciler.tim.client import Patience, TimClient

SERVICE = GROUP_SVC
COMMANDS = (
    "get_appid_group_list",
    "get_group_info",
    "create_group",
    "destroy_group",
    "modify_group_base_info",
    "change_group_owner",
)

# Older field names (2022-2023 SDKs) -> current ones (reference §3 naming note).
_GROUP_RENAMES = {"ShutUpAllMember": "MuteAllMember"}

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


# --- the reader of get_group_info --------------------------------------------------------------

# What group_from_api reads of a get_group_info answer (a ResponseFilter asks for these and
# nothing else); the mute switch under both its names.
GROUP_FIELDS_READ = (
    "Type",
    "Name",
    "Introduction",
    "Notification",
    "FaceUrl",
    "Owner_Account",
    "CreateTime",
    "MemberNum",
    "MaxMemberNum",
    "ApplyJoinOption",
    "InviteJoinOption",
    "MuteAllMember",
    "ShutUpAllMember",
    "SupportTopic",
    "EnablePermission",
    "DefaultPermission",
)


_ACCOUNT = itemgetter("Member_Account")


def normalize_group(group: dict[str, Any]) -> dict[str, Any]:
    """A get_group_info item with the current field names, its members' too."""
    out = renamed(group, _GROUP_RENAMES)
    if isinstance(out.get("MemberList"), list):
        out["MemberList"] = normalize_members(out["MemberList"])
    return out


def group_from_api(info: dict, members: list[dict] | None) -> ObservedGroup:
    gtype = normalize_type(info["Type"])
    mute = info.get("MuteAllMember")
    group = ObservedGroup(
        id=info["GroupId"],
        type=gtype,
        name=info.get("Name", ""),
        owner=info.get("Owner_Account") or None,
        introduction=info.get("Introduction", ""),
        notification=info.get("Notification", ""),
        face_url=info.get("FaceUrl", ""),
        max_members=info.get("MaxMemberNum"),
        apply_join=info.get("ApplyJoinOption") or None,
        invite_join=info.get("InviteJoinOption") or None,
        mute_all=None if mute is None else mute == "On",
        custom=custom_of(info.get("AppDefinedData")),
        member_num=info.get("MemberNum"),
        create_time=info.get("CreateTime"),
    )
    if gtype is GroupType.Community:
        # Communities only (seed 003); an answer without a field leaves it unknown.
        for name, wire in (
            ("support_topic", "SupportTopic"),
            ("enable_permission", "EnablePermission"),
        ):
            if info.get(wire) is not None:
                setattr(group, name, bool(int(info[wire])))
        if info.get("DefaultPermission") is not None:
            group.default_permission = int(info["DefaultPermission"])
    if members is not None:  # assigned, not validated: a Mapping looked up lazily
        group.members = LiveMembers(group.id, "get_group_info", members)
    return group


def parse_group_info(
    group_id: str, info: dict | None, named: Collection[str] | None = None
) -> ObservedGroup | None:
    """One get_group_info item -> the observed group, or None when the group does not exist.
    ``named``: only these accounts are wanted of its member list (a stale check's); a whole
    list (as long as MemberNum) then keeps only them, and the group is ``members_selected``.

    Raises ObserveError when the group is missing from the answer, when its per-group code is
    an error other than "no such group", or when the item is malformed.
    """
    if info is None:
        raise ObserveError(
            f"group {group_id}: get_group_info answered without this group (every requested "
            "group must appear in GroupInfo); nothing can be planned from such an answer"
        )
    try:
        code = int(info.get("ErrorCode", 0))
        if code in GROUP_GONE_CODES:
            return None
        if code:
            raise ObserveError(
                f"group {group_id}: get_group_info answered {code}: {info.get('ErrorInfo', '')}"
            )
        has_list = "MemberList" in info and info["Type"] != GroupType.Community
        members = info.get("MemberList") if has_list else None
        count = info.get("MemberNum")
        selected = (
            named is not None
            and isinstance(members, list)
            and not (isinstance(count, int) and len(members) < count)
        )
        if selected:  # the other members' rows would be built only to be dropped
            assert named is not None and members is not None
            accounts = list(map(_ACCOUNT, members))
            if set(map(type, accounts)) - {str}:  # checked as LiveMembers checks those it keeps
                raise ValueError("a Member_Account is not a string")
            members = list(compress(members, map(named.__contains__, accounts)))
        group = group_from_api(info, members)
        group.members_selected = selected
        return group
    except MALFORMED as err:
        raise malformed(group_id, "get_group_info", err) from None


def index_group_info(batches: list[list[dict]]) -> dict[str, dict]:
    try:
        return {item["GroupId"]: item for batch in batches for item in batch}
    except MALFORMED as err:
        raise ObserveError(
            f"get_group_info answered GroupInfo items that are not valid ({err!s}); check that "
            "the endpoint is a Tencent Cloud Chat REST API"
        ) from None


# --- reading -------------------------------------------------------------------------------------


async def get_appid_group_list(
    client: TimClient, limit: int | None = None, next: int = 0, group_type: str | None = None
) -> dict[str, Any]:
    """One page of the app's group IDs (1 call/s). ``Next`` is a uint64 cursor, 0 = done."""
    return await client.call(
        SERVICE, "get_appid_group_list", _group_list_body(limit, next, group_type)
    )


def _group_list_body(limit: int | None, next: int, group_type: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if limit is not None:
        if not 1 <= limit <= GROUP_LIST_PAGE:
            raise ValueError(f"get_appid_group_list: limit must be 1 to {GROUP_LIST_PAGE}")
        body["Limit"] = limit
    if next:
        body["Next"] = next
    if group_type is not None:
        body["GroupType"] = normalize_type(group_type).value
    return body


async def iter_all_group_ids(client: TimClient, group_type: str | None = None) -> list[str]:
    """Every group ID of the app (optionally of one type), paging by ``Next``."""
    ids: dict[str, None] = {}
    body = _group_list_body(None, 0, group_type)
    async for page in client.pages(SERVICE, "get_appid_group_list", body, "Next"):
        for item in listed(page, f"{SERVICE}/get_appid_group_list", "GroupIdList"):
            group_id = item.get("GroupId") if isinstance(item, dict) else item
            if isinstance(group_id, str):
                ids[group_id] = None
    return list(ids)


async def _group_info(
    client: TimClient, body: dict[str, Any], patience: Patience | None = None
) -> list[dict[str, Any]]:
    answer = await client.call(SERVICE, "get_group_info", body, patience=patience)
    return [normalize_group(g) for g in listed(answer, f"{SERVICE}/get_group_info", "GroupInfo")]


async def get_group_info(client: TimClient, group_ids: list[str]) -> list[dict[str, Any]]:
    """Profiles of up to 50 groups, all fields, member lists included (not for AVChatRoom).

    No ResponseFilter is sent: with a filter, unlisted fields are dropped and custom data would
    need its keys named; without one the server returns everything. Each item keeps its own
    ErrorCode/ErrorInfo (a missing group is reported there, not raised).
    """
    if not group_ids:
        return []

    async def send(ids: list[str]) -> list[dict[str, Any]]:
        return await _group_info(client, {"GroupIdList": ids})

    # An answer over 1 MB (10018) is asked for again in fewer groups per call.
    return await client.split("get_group_info", list(group_ids), send)


async def get_group(
    client: TimClient, group_id: str, patience: Patience | None = None
) -> ObservedGroup | None:
    """One group as the state model reads it, or None when it does not exist; ``patience``:
    the call's own timeout and hedging (the tool's small groups: ``client.CONTROL``)."""
    found = index_group_info([await _group_info(client, {"GroupIdList": [group_id]}, patience)])
    return parse_group_info(group_id, found.get(group_id))


async def get_group_profiles(
    client: TimClient,
    group_ids: list[str],
    group_keys: list[str],
    member_keys: list[str] | None = None,
    member_fields: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """get_group_info asking only for what the state model reads of a group: its profile,
    MemberNum and the custom keys ``group_keys``; with ``member_keys`` (custom keys of members)
    also the member list, with each member's ``member_fields`` (Member attribute names; all of
    role, name card, message flag and mute when None), else no member list at all. Far smaller
    answers than ``get_group_info``'s everything."""
    if not group_ids:
        return []
    response_filter: dict[str, Any] = {"GroupBaseInfoFilter": list(GROUP_FIELDS_READ)}
    if group_keys:
        response_filter["AppDefinedDataFilter_Group"] = list(group_keys)
    if member_keys is not None:
        fields = MEMBER_FILTER_NAMES if member_fields is None else member_fields
        response_filter["MemberInfoFilter"] = [
            name for attribute in fields for name in MEMBER_FILTER_NAMES[attribute]
        ]
        if member_keys:
            response_filter["AppDefinedDataFilter_GroupMember"] = list(member_keys)

    async def send(ids: list[str]) -> list[dict[str, Any]]:
        return await _group_info(client, {"GroupIdList": ids, "ResponseFilter": response_filter})

    return await client.split("get_group_info", list(group_ids), send)


# --- writing -------------------------------------------------------------------------------------


async def create_group(client: TimClient, body: dict[str, Any]) -> dict[str, Any]:
    """Create a group; the answer holds ``GroupId``. Initial MemberList: at most 100."""
    client.check_batch("create_group", body.get("MemberList") or [])
    return await client.call(SERVICE, "create_group", body)


async def destroy_group(client: TimClient, group_id: str, *, missing_ok: bool = False) -> None:
    """Destroy a group; with ``missing_ok`` a group that is already gone counts as done."""
    try:
        await client.call(SERVICE, "destroy_group", {"GroupId": group_id})
    except TimApiError as err:
        if not (missing_ok and err.code in GROUP_GONE_CODES):
            raise


async def modify_group_base_info(client: TimClient, body: dict[str, Any]) -> None:
    await client.call(SERVICE, "modify_group_base_info", renamed(body, _GROUP_RENAMES))


async def change_group_owner(client: TimClient, group_id: str, new_owner: str) -> None:
    body = {"GroupId": group_id, "NewOwner_Account": new_owner}
    await client.call(SERVICE, "change_group_owner", body)


# --- the plan's requests -------------------------------------------------------------------------


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
            body["AppDefinedData"] = kv(self.custom)
        if self.support_topic:
            body["SupportTopic"] = 1
        body.update(_permission_body(self))
        if self.members:
            body["MemberList"] = [
                {
                    "Member_Account": m.account,
                    **({"Role": "Admin"} if m.admin else {}),
                    **({"AppMemberDefinedData": kv(m.custom)} if m.custom else {}),
                }
                for m in self.members
            ]
        return body

    async def send(self, client: TimClient) -> Outcome:
        try:
            await create_group(client, self.body())
        except TimApiError as err:
            if err.code not in ID_TAKEN_CODES:
                raise
            # Look before failing: a retried or interrupted create may already have made it.
            found = await get_group_info(client, [self.group_id])
            info = found[0] if found and isinstance(found[0], dict) else {}
            live_type = (
                TYPE_ALIASES.get(info.get("Type") or "") if info.get("ErrorCode", 0) == 0 else None
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
            body["AppDefinedData"] = kv(self.custom)
        if self.max_members is not None:
            body["MaxMemberNum"] = self.max_members
        return body

    async def send(self, client: TimClient) -> Outcome:
        await modify_group_base_info(client, self.body())
        return Outcome()


@dataclass
class ChangeOwner(Request):
    api: ClassVar[str] = "change_group_owner"
    group_id: str
    owner: str

    async def send(self, client: TimClient) -> Outcome:
        await change_group_owner(client, self.group_id, self.owner)
        return Outcome()


@dataclass
class DestroyGroup(Request):
    api: ClassVar[str] = "destroy_group"
    group_id: str

    async def send(self, client: TimClient) -> Outcome:
        await destroy_group(client, self.group_id, missing_ok=True)
        return Outcome()
