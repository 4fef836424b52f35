"""Answers of the read APIs -> the state model (``reconciler.state``).

get_group_info items become ``ObservedGroup``s; member lists become ``LiveMembers``, which keep
each member as the row of its managed values and make a ``Member`` only when one is looked up.
An answer not shaped as documented is an ``ObserveError`` naming the group and the API.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pydantic import ValidationError

from reconciler.errors import ObserveError
from reconciler.state import (
    GroupType,
    LiveMember,
    Member,
    ObservedGroup,
    PermissionGroup,
    Topic,
    normalize_type,
)
from reconciler.tim.errors import GROUP_GONE_CODES, MALFORMED, TimAnswerError
from reconciler.tim.limits import PERMISSION_GROUP_PREFIX, service_of, topic_suffix


def listed(answer: dict, api: str, *fields: str) -> list:
    """The list an answer of ``api`` carries under the first of ``fields`` (current name
    first) it has. An answer without it is an error naming the API and the field, never an
    empty result: an empty result makes a plan create, remove or drop what exists."""
    for name in fields:
        if name in answer:
            items = answer[name]
            if not isinstance(items, list):
                raise TimAnswerError(f"{service_of(api)}/{api}", f"{name} is not a list")
            return items
    raise TimAnswerError(f"{service_of(api)}/{api}", f"the answer has no {fields[0]} list")


def _custom(items: list[dict] | None) -> dict[str, str | None]:
    return {str(kv["Key"]): str(kv.get("Value", "")) for kv in items or []}


# Observed members are the bulk of a big plan (a million of them). Each is kept as the row of its
# managed values (a tuple: a fifth of a Member's memory) and made into a Member only when looked
# up; then without a pydantic validation when every value is already of its declared type,
# sharing the canonical strings of role and message flag.
# JoinTime, MsgSeq, LastSendMsgTime and the like are not kept: they change as members chat.
_ROLES = {r: r for r in ("Owner", "Admin", "Member")}
_MSG_FLAGS = {f: f for f in ("AcceptAndNotify", "AcceptNotNotify", "Discard")}

# (Role, NameCard, MsgFlag, MuteUntil, AppMemberDefinedData) as the API listed them.
MemberRow = tuple[object, object, object, object, object]
# The Member attributes those are, in that order.
MEMBER_ROW = ("role", "name_card", "msg_flag", "muted_until", "custom")
# The MemberInfoFilter names that ask for each of them but custom (the mute by both its names).
MEMBER_FILTER_NAMES = {
    "role": ("Role",),
    "name_card": ("NameCard",),
    "msg_flag": ("MsgFlag",),
    "muted_until": ("MuteUntil", "ShutUpUntil"),
}


def _member(account: str, row: MemberRow) -> LiveMember:
    role, name_card, msg_flag, muted_until, custom = row
    role = _ROLES.get(role or "Member")
    msg_flag = _MSG_FLAGS.get(msg_flag or "AcceptAndNotify")
    name_card = "" if name_card is None else name_card
    muted_until = muted_until or 0
    if not (role and msg_flag and type(name_card) is str and type(muted_until) is int):
        # Anything unusual (padded names, numbers as strings): checked, and a malformed one
        # raises.
        m = Member(
            account=account,
            role=str(row[0] or "Member").strip() or "Member",
            name_card=name_card,
            msg_flag=msg_flag or row[2],
            muted_until=int(muted_until),
            custom=_custom(custom),
        )
        return LiveMember(account, m.role, m.name_card, m.msg_flag, m.muted_until, m.custom)
    # Values already of the field types: no validation needed (validating is most of the cost).
    return LiveMember(
        account, role, name_card, msg_flag, muted_until, _custom(custom) if custom else {}
    )


class LiveMembers(Mapping[str, LiveMember]):
    """A group's members as the API listed them, by account; a LiveMember is made on lookup.

    A plan reads every member of every declared group but looks closely only at those whose
    attributes the config declares: for the others the account is all it needs.
    """

    __slots__ = ("_rows", "_group_id", "_api")

    def __init__(self, group_id: str, api: str, items: list[dict]) -> None:
        self._group_id, self._api = group_id, api
        try:
            rows = {
                item["Member_Account"]: (
                    item.get("Role"),
                    item.get("NameCard"),
                    item.get("MsgFlag"),
                    item.get("MuteUntil"),
                    item.get("AppMemberDefinedData"),
                )
                for item in items
            }
        except MALFORMED as err:
            raise malformed(group_id, api, err) from None
        if not all(type(account) is str for account in rows):
            raise malformed(group_id, api, ValueError("a Member_Account is not a string"))
        self._rows: dict[str, MemberRow] = rows

    def __getitem__(self, account: str) -> LiveMember:
        row = self._rows[account]
        try:
            return _member(account, row)
        except MALFORMED as err:
            raise malformed(self._group_id, self._api, err) from None

    def __contains__(self, account: object) -> bool:
        return account in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"<LiveMembers of {self._group_id}: {len(self._rows)}>"

    def values_of(self, account: str, names: tuple[str, ...]) -> list:
        """The member's values of ``names`` (Member attribute names, "custom.KEY" for a custom
        key) as the API listed them: what a fingerprint hashes."""
        row = self._rows[account]
        custom = [kv for kv in row[4] if isinstance(kv, dict)] if isinstance(row[4], list) else []
        values: list = []
        for name in names:
            if name.startswith("custom."):
                key = name[len("custom.") :]
                values.append(
                    next((kv.get("Value") for kv in custom if kv.get("Key") == key), None)
                )
            else:
                values.append(row[MEMBER_ROW.index(name)])
        return values


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
        custom=_custom(info.get("AppDefinedData")),
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


def _deadlines(group_id: str, api: str, items: object, until: tuple[str, ...]) -> dict[str, int]:
    """``[{Member_Account, <until>}]`` -> account -> Unix seconds; ``until`` lists the field's
    names, current first."""
    try:
        out: dict[str, int] = {}
        for item in items or []:  # type: ignore[attr-defined]
            account = item["Member_Account"]
            value = next((item[name] for name in until if name in item), None)
            if type(account) is not str or type(value) is not int:
                raise ValueError(f"{account!r}: {until[0]} is not an integer")
            out[account] = value
        return out
    except MALFORMED as err:
        raise malformed(group_id, api, err) from None


def muted_accounts(group_id: str, answer: dict) -> dict[str, int]:
    """get_group_muted_account: MutedAccountList (older ShuttedUinList) -> account -> until."""
    api = "get_group_muted_account"
    items = listed(answer, api, "MutedAccountList", "ShuttedUinList")
    return _deadlines(group_id, api, items, ("MutedUntil", "ShuttedUntil"))


def banned_accounts(group_id: str, answer: dict) -> dict[str, int]:
    """One get_group_ban_member page: BannedAccountList -> account -> until."""
    items = listed(answer, "get_group_ban_member", "BannedAccountList")
    return _deadlines(group_id, "get_group_ban_member", items, ("BannedUntil",))


def _accounts(group_id: str, api: str, items: list, field: str) -> list[str]:
    """``[{<field>: account, ...}]`` -> the accounts, in order."""
    try:
        accounts = [item[field] for item in items]
        if not all(type(a) is str for a in accounts):
            raise ValueError(f"a {field} is not a string")
    except MALFORMED as err:
        raise malformed(group_id, api, err) from None
    return accounts


def admin_accounts(group_id: str, answer: dict) -> list[str]:
    """get_admin_list: Admin_List of {Admin_Account, Avatar, NickName} (CN-102858) -> sorted
    accounts."""
    items = listed(answer, "get_admin_list", "Admin_List")
    return sorted(_accounts(group_id, "get_admin_list", items, "Admin_Account"))


def topics_from_api(group_id: str, answer: dict) -> dict[str, Topic]:
    """get_topic: TopicInfo items -> topic (the custom part of its ID) -> Topic. Items with a
    non-zero ErrorCode (a topic asked for that does not exist) are left out."""
    topics: dict[str, Topic] = {}
    items = listed(answer, "get_topic", "TopicInfo")
    try:
        for item in items:
            if item.get("ErrorCode", 0):
                continue
            full = item["TopicId"]
            suffix = topic_suffix(group_id, full)
            if suffix is None:
                raise ValueError(f"topic {full!r} is not a topic of this group")
            mute = item.get("MuteAllMember", item.get("ShutUpAllMember"))
            topics[suffix] = Topic(
                id=suffix,
                name=item.get("TopicName", ""),
                introduction=item.get("Introduction", ""),
                notification=item.get("Notification", ""),
                face_url=item.get("FaceUrl", ""),
                custom_string=item.get("CustomString", ""),
                mute_all=mute == "On",
            )
    except (*MALFORMED, ValidationError) as err:
        raise malformed(group_id, "get_topic", err) from None
    return topics


def _pg_suffix(full: object) -> str:
    if not isinstance(full, str) or not full.startswith(PERMISSION_GROUP_PREFIX):
        raise ValueError(f"{full!r} is not a permission group ID")
    return full[len(PERMISSION_GROUP_PREFIX) :]


def permission_groups_from_api(group_id: str, answer: dict) -> dict[str, PermissionGroup]:
    """One get_permission_group page: PermissionGroupInfoList (EN-61235) -> custom part of the
    ID -> PermissionGroup (members and topic permissions are read apart). Items with an
    ErrorCode are left out."""
    out: dict[str, PermissionGroup] = {}
    items = listed(answer, "get_permission_group", "PermissionGroupInfoList")
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
        raise malformed(group_id, "get_permission_group", err) from None
    return out


def permission_members_from_api(group_id: str, answer: dict) -> list[str]:
    """One get_permission_group_member_list page: MemberList of {Member_Account} -> accounts."""
    api = "get_permission_group_member_list"
    return _accounts(group_id, api, listed(answer, api, "MemberList"), "Member_Account")


def topic_permissions_from_api(group_id: str, answer: dict) -> dict[str, int]:
    """get_topic_permission_group: TopicPermissionResultList of {ErrorCode, ErrorInfo, TopicId,
    Permission} (EN-61239) -> topic (custom part of its ID) -> bit set; items with an
    ErrorCode are left out."""
    out: dict[str, int] = {}
    items = listed(answer, "get_topic_permission_group", "TopicPermissionResultList")
    try:
        for item in items:
            if item.get("ErrorCode", 0):
                continue
            suffix = topic_suffix(group_id, item["TopicId"])
            if suffix is None:
                raise ValueError(f"topic {item['TopicId']!r} is not a topic of this group")
            out[suffix] = int(item["Permission"])
    except MALFORMED as err:
        raise malformed(group_id, "get_topic_permission_group", err) from None
    return out


def malformed(group_id: str, api: str, err: Exception) -> ObserveError:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        what = f"{where}: {first['msg']}" if where else first["msg"]
    elif isinstance(err, KeyError):
        what = f"missing field {err}"
    else:
        what = str(err)
    return ObserveError(
        f"group {group_id}: {api} answered something that is not a valid answer ({what}); "
        "check that the endpoint is a Tencent Cloud Chat REST API"
    )


def parse_group_info(group_id: str, info: dict | None) -> ObservedGroup | None:
    """One get_group_info item -> the observed group, or None when the group does not exist.

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
        return group_from_api(info, info.get("MemberList") if has_list else None)
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
