"""Desired vs observed groups -> field-level changes.

Both sides are projected onto the fields the desired group manages (a field left unset in YAML is
not managed) and compared with ``==``; only the groups whose own fields differ go through
deepdiff, whose tree tells which fields changed. Members are compared one by one: membership for
those that declare only an account, the managed attributes for the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from reconciler.state import (
    GROUP_FIELDS,
    MEMBER_ATTRIBUTES,
    MUTE_TOLERANCE_S,
    PERMISSION_GROUP_FIELDS,
    TOPIC_FIELDS,
    Group,
    GroupType,
    Member,
    MemberView,
    ObservedGroup,
    PermissionGroup,
    Topic,
    compares,
    set_keys,
)

# Fields some servers leave out of get_group_info answers (InviteJoinOption is read by one SDK
# only; reference §16.1): unreported, a declared value cannot be verified, so an existing group
# is not planned to change on its account (it would be planned again on every run). It is still
# sent when a group is created.
UNREPORTED_FIELDS = ("invite_join",)

Action = Literal["create", "update", "destroy"]


@dataclass
class FieldChange:
    field: str  # e.g. "name", "custom.Key", "muted_until"
    before: Any
    after: Any


@dataclass
class MemberChange:
    account: str
    action: Literal["add", "remove", "modify"]
    fields: list[FieldChange] = field(default_factory=list)
    member: Member | None = None  # the desired member, for add


@dataclass
class TopicChange:
    """A topic to create, modify or destroy (``topic``: the custom part of its ID)."""

    topic: str
    action: Literal["create", "modify", "destroy"]
    fields: list[FieldChange] = field(default_factory=list)


@dataclass
class PermissionGroupChange:
    """A permission group to create, modify or destroy (``permission_group``: the custom part
    of its ID); ``topic_permissions``: ``field`` is the topic, ``before`` None = none yet."""

    permission_group: str
    action: Literal["create", "modify", "destroy"]
    fields: list[FieldChange] = field(default_factory=list)
    members_add: list[str] = field(default_factory=list)
    members_remove: list[str] = field(default_factory=list)
    topic_permissions: list[FieldChange] = field(default_factory=list)


@dataclass
class GroupChange:
    group_id: str
    type: GroupType
    action: Action
    desired: Group
    observed: ObservedGroup | None
    fields: list[FieldChange] = field(default_factory=list)
    members: list[MemberChange] = field(default_factory=list)
    marks_set: dict[int, list[str]] = field(default_factory=dict)
    marks_delete: dict[int, list[str]] = field(default_factory=dict)
    marks_pending: dict[int, list[str]] = field(default_factory=dict)
    # AVChatRoom: admins to make and revoke; mutes and bans whose deadline changes (``field``
    # is the account, ``before``/``after`` Unix seconds, 0 = none).
    admins_add: list[str] = field(default_factory=list)
    admins_remove: list[str] = field(default_factory=list)
    muted: list[FieldChange] = field(default_factory=list)
    banned: list[FieldChange] = field(default_factory=list)
    topics: list[TopicChange] = field(default_factory=list)  # Community with topics
    permission_groups: list[PermissionGroupChange] = field(default_factory=list)
    # Declared fields the server did not report (UNREPORTED_FIELDS): neither verified nor planned.
    unverified: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    recreate: bool = False  # an error says the group would have to be recreated

    @property
    def empty(self) -> bool:
        return (
            self.action == "update"
            and not self.fields
            and not self.members
            and not self.marks_set
            and not self.marks_delete
            and not self.admins_add
            and not self.admins_remove
            and not self.muted
            and not self.banned
            and not self.topics
            and not self.permission_groups
        )

    def members_by(self, action: str) -> list[MemberChange]:
        return [m for m in self.members if m.action == action]


@overload
def effective_mute(until: int, now: int) -> int: ...
@overload
def effective_mute(until: None, now: int) -> None: ...
def effective_mute(until: int | None, now: int) -> int | None:
    """A deadline already passed means not muted."""
    if until is None:
        return None
    return until if until > now else 0


_ABSENT = object()


def _member_field_changes(
    want: MemberView, have: MemberView, now: int, owner: str | None
) -> list[FieldChange]:
    """The managed attributes of a member that differ, in the config format's field order.

    Called for every declared member that is live (up to a million): plain comparisons, no
    intermediate views; a member that declares only its account costs five checks.
    """
    changes: list[FieldChange] = []
    role = "Owner" if want.account == owner else want.role
    if role is not None and role != have.role:
        changes.append(FieldChange("role", have.role, role))
    if want.name_card is not None and want.name_card != have.name_card:
        changes.append(FieldChange("name_card", have.name_card, want.name_card))
    if want.msg_flag is not None and want.msg_flag != have.msg_flag:
        changes.append(FieldChange("msg_flag", have.msg_flag, want.msg_flag))
    if want.muted_until is not None:
        wanted = effective_mute(want.muted_until, now)
        current = effective_mute(have.muted_until or 0, now)
        if abs(current - wanted) > MUTE_TOLERANCE_S:
            changes.append(FieldChange("muted_until", current, wanted))
    if want.custom:
        # Keys declared null or "" are to be absent; undeclared keys are left alone.
        kept = set_keys(want.custom)
        for key in sorted(want.custom):
            wanted_value = kept.get(key, _ABSENT)
            current_value = have.custom.get(key, _ABSENT)
            if wanted_value != current_value:
                before = None if current_value is _ABSENT else current_value
                after = None if wanted_value is _ABSENT else wanted_value
                changes.append(FieldChange(f"custom.{key}", before, after))
    return changes


def _views(want: Group, have: ObservedGroup) -> tuple[dict, dict]:
    """The group's own managed fields, before and after (members are compared apart)."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in GROUP_FIELDS:
        value = getattr(want, name)
        if value is not None:
            after[name] = value
            before[name] = getattr(have, name)
    if want.custom:
        after["custom"] = set_keys(want.custom)
        before["custom"] = {k: v for k, v in have.custom.items() if k in want.custom}
    return before, after


def _explain_fields(change: GroupChange, before: dict, after: dict) -> None:
    from deepdiff import DeepDiff  # only a plan that changes fields needs it (not apply --plan)

    tree = DeepDiff(before, after, view="tree", threshold_to_diff_deeper=0)
    for kind, levels in tree.items():
        for level in levels:
            old = level.t1 if kind != "dictionary_item_added" else None
            new = level.t2 if kind != "dictionary_item_removed" else None
            name = ".".join(str(p) for p in level.path(output_format="list"))
            change.fields.append(FieldChange(name, old, new))
    change.fields.sort(key=field_order)


def _member_changes(want: Group, have: ObservedGroup, now: int) -> list[MemberChange]:
    """Members to add, modify and remove, with the changed fields of each modified one.

    Compared member by member rather than through deepdiff, whose cost per node dominates
    planning at scale. Most members declare only their account; for those, membership is all
    there is to compare.
    """
    wanted, current = want.declared_members(), have.members or {}
    owner = want.owner or have.owner
    changes: list[MemberChange] = []
    # Key views: membership tested at C speed (see DeclaredMembers and LiveMembers).
    wanted_accounts, current_accounts = wanted.keys(), current.keys()
    for account, member in wanted.rows():
        if account not in current_accounts:
            changes.append(MemberChange(account, "add", member=wanted[account]))
        elif (member is not None and compares(member)) or account == owner:
            # Only now is the live member looked up (built from the API's item, see LiveMembers).
            fields = _member_field_changes(member or wanted[account], current[account], now, owner)
            if fields:
                changes.append(MemberChange(account, "modify", fields))
    if owner and owner not in wanted:
        # The owner is always a member; declaring it under `owner` is enough.
        live = current.get(owner)
        if live is None:
            changes.append(MemberChange(owner, "add", member=Member(account=owner)))
        elif live.role != "Owner":
            fields = [FieldChange("role", live.role, "Owner")]
            changes.append(MemberChange(owner, "modify", fields))
    if want.members_mode == "authoritative":
        # A set difference at C speed (a million live members are walked): sorted below.
        gone = current_accounts - wanted_accounts
        gone.discard(owner)
        changes.extend(MemberChange(account, "remove") for account in gone)
    changes.sort(key=member_order)
    return changes


MEMBER_ACTION_ORDER = {"add": 0, "modify": 1, "remove": 2}


def member_order(change: MemberChange) -> tuple[int, str]:
    """Members as a plan shows them: added, modified, removed; each by account."""
    return MEMBER_ACTION_ORDER[change.action], change.account


FIELD_ORDER = {name: i for i, name in enumerate((*GROUP_FIELDS, *MEMBER_ATTRIBUTES))}


def field_order(fc: FieldChange) -> tuple[int, str]:
    """Fields in the order of the config format; custom keys last, by name."""
    return FIELD_ORDER.get(fc.field, len(FIELD_ORDER)), fc.field


def _explain(change: GroupChange, want: Group, have: ObservedGroup, now: int) -> None:
    before, after = _views(want, have)
    if change.action == "update":
        for name in UNREPORTED_FIELDS:
            if name in after and before[name] is None:
                del before[name], after[name]
                change.unverified.append(name)
    if before != after:
        _explain_fields(change, before, after)
    if want.members is not None and have.members is not None:
        change.members = _member_changes(want, have, now)


def _diff_marks(change: GroupChange, want: Group, have: ObservedGroup) -> None:
    online = set(have.online or [])
    current = have.marks or {}
    for mark, accounts in sorted((want.marks or {}).items()):
        wanted, present = set(accounts), set(current.get(mark, []))
        to_set = sorted(a for a in wanted - present if a in online)
        pending = sorted(a for a in wanted - present if a not in online)
        to_delete = sorted(present - wanted)
        if to_set:
            change.marks_set[mark] = to_set
        if pending:
            change.marks_pending[mark] = pending
        if to_delete:
            change.marks_delete[mark] = to_delete


def _deadline_changes(want: dict[str, int], have: dict[str, int], now: int) -> list[FieldChange]:
    """Declared mute or ban deadlines that differ from the live ones (beyond the tolerance)."""
    changes = []
    for account in sorted(want):
        wanted = effective_mute(want[account], now) or 0
        current = effective_mute(have.get(account, 0), now) or 0
        if abs(current - wanted) > MUTE_TOLERANCE_S:
            changes.append(FieldChange(account, current, wanted))
    return changes


def _diff_room(change: GroupChange, want: Group, have: ObservedGroup, now: int) -> None:
    """An AVChatRoom's admins, mutes and bans."""
    if want.admins is not None:
        live = set(have.admins or ())
        change.admins_add = sorted(set(want.admins) - live)
        change.admins_remove = sorted(live - set(want.admins))
    if want.muted is not None:
        change.muted = _deadline_changes(want.muted, have.muted or {}, now)
    if want.banned is not None:
        change.banned = _deadline_changes(want.banned, have.banned or {}, now)


def _diff_topics(change: GroupChange, want: dict[str, Topic], have: dict[str, Topic]) -> None:
    """Declared topics against the live ones: the listed ones only (others are left alone)."""
    for tid, topic in want.items():
        live = have.get(tid)
        if topic.state == "absent":
            if live is not None:
                change.topics.append(TopicChange(tid, "destroy"))
            continue
        if live is None:
            if not topic.name:
                change.errors.append(
                    f"group {change.group_id}: topic {tid!r} does not exist yet and has no "
                    "name: set `name` to create it"
                )
                continue
            fields = [
                FieldChange(n, None, getattr(topic, n))
                for n in TOPIC_FIELDS
                if getattr(topic, n) not in (None, "", False)
            ]
            change.topics.append(TopicChange(tid, "create", fields))
            continue
        fields = [
            FieldChange(n, getattr(live, n), getattr(topic, n))
            for n in TOPIC_FIELDS
            if getattr(topic, n) is not None and getattr(topic, n) != getattr(live, n)
        ]
        if fields:
            change.topics.append(TopicChange(tid, "modify", fields))


def _diff_permission_groups(
    change: GroupChange, want: dict[str, PermissionGroup], have: dict[str, PermissionGroup]
) -> None:
    """Declared permission groups against the live ones (others are left alone): fields,
    members (exact when declared) and the declared topics' permissions."""
    for pid, pg in want.items():
        live = have.get(pid)
        if pg.state == "absent":
            if live is not None:
                change.permission_groups.append(PermissionGroupChange(pid, "destroy"))
            continue
        if live is None and not pg.name:
            change.errors.append(
                f"group {change.group_id}: permission group {pid!r} does not exist yet and has "
                "no name: set `name` to create it"
            )
            continue
        base = live or PermissionGroup(id=pid, members=[], topic_permissions={})
        pc = PermissionGroupChange(pid, "create" if live is None else "modify")
        pc.fields = [
            FieldChange(n, None if live is None else getattr(live, n), getattr(pg, n))
            for n in PERMISSION_GROUP_FIELDS
            if getattr(pg, n) is not None and (live is None or getattr(pg, n) != getattr(live, n))
        ]
        if pg.members is not None:
            current = set(base.members or ())
            pc.members_add = sorted(set(pg.members) - current)
            pc.members_remove = sorted(current - set(pg.members))
        current_perms = base.topic_permissions or {}
        pc.topic_permissions = [
            FieldChange(topic, current_perms.get(topic), bits)
            for topic, bits in sorted((pg.topic_permissions or {}).items())
            if current_perms.get(topic) != bits
        ]
        if live is None or pc.fields or pc.members_add or pc.members_remove or pc.topic_permissions:
            change.permission_groups.append(pc)


def _support_topic_error(change: GroupChange, want: Group, have: ObservedGroup) -> bool:
    """support_topic is taken at creation only: a live value that differs cannot be changed."""
    if want.support_topic is None or have.support_topic is None:
        return False
    if want.support_topic == have.support_topic:
        return False
    live = "supports" if have.support_topic else "does not support"
    change.errors.append(
        f"group {want.id}: the live Community {live} topics but the config says support_topic: "
        f"{str(want.support_topic).lower()}; the API sets SupportTopic only at creation, so "
        "the group must be recreated (destroy it and create it again) to change it"
    )
    change.recreate = True
    return True


def diff_group(want: Group, have: ObservedGroup | None, now: int | None = None) -> GroupChange:
    now = int(time.time()) if now is None else now
    if want.state == "absent":
        action: Action = "destroy"
        return GroupChange(want.id, want.type, action if have else "update", want, have)
    if have is None:
        change = GroupChange(want.id, want.type, "create", want, None)
        if want.id.startswith("@TGS#") and not want.id.startswith("@TGS#_"):
            change.errors.append(
                f"group {want.id} does not exist, and IDs starting with @TGS# are assigned by "
                "the server: use a custom ID to create a group, or the ID of an existing one"
            )
            return change
        if not want.name:
            change.errors.append(
                f"group {want.id} does not exist yet and has no name: set `name` to create it"
            )
            return change
        _explain(change, want, _empty_like(want), now)
        if want.support_topic:
            change.fields.append(FieldChange("support_topic", None, True))
        if want.topics:
            _diff_topics(change, want.topics, {})
        if want.permission_groups:
            _diff_permission_groups(change, want.permission_groups, {})
        if want.type is GroupType.AVChatRoom:
            if want.marks:
                change.marks_pending = {m: sorted(a) for m, a in sorted(want.marks.items()) if a}
            _diff_room(change, want, _empty_like(want), now)
        return change
    change = GroupChange(want.id, want.type, "update", want, have)
    if have.type is not want.type:
        change.errors.append(
            f"group {want.id} is {have.type.value} live but {want.type.value} in the config: "
            "a group's type cannot change; destroy and recreate it under another ID"
        )
        return change
    if (
        want.type is GroupType.AVChatRoom
        and want.owner is not None
        and want.owner != (have.owner or None)
    ):
        change.errors.append(
            f"group {want.id}: the owner of an AVChatRoom cannot be changed through the REST "
            f"API (change_group_owner does not support AVChatRoom); live owner "
            f"{have.owner or '(none)'!s}, config {want.owner!r}: set owner to the live one or "
            "remove `owner`"
        )
        return change
    if _support_topic_error(change, want, have):
        return change
    _explain(change, want, have, now)
    if want.topics is not None:
        _diff_topics(change, want.topics, have.topics or {})
    if want.permission_groups is not None:
        _diff_permission_groups(change, want.permission_groups, have.permission_groups or {})
    if want.type is GroupType.AVChatRoom:
        if want.marks is not None:
            _diff_marks(change, want, have)
        _diff_room(change, want, have, now)
    return change


def _empty_like(want: Group) -> ObservedGroup:
    """An observed group with nothing set, so a new group's whole config shows as additions."""
    return ObservedGroup(
        id=want.id,
        type=want.type,
        members={} if want.members is not None else None,
    )
