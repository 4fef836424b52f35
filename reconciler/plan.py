"""Changes -> an ordered, batched, guarded plan of typed API calls.

Each operation is one call (a ``reconciler.tim.calls`` request) on one group. Within a group
operations run by ``step`` (below); groups are independent of each other. The guards that can
refuse a plan are here too (``Plan.raise_if_unsafe``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from reconciler.diff import FieldChange, GroupChange, diff_group
from reconciler.errors import PlanInvalid, PlanRefused, RecreateRequired
from reconciler.observe import Observation
from reconciler.staleness import Scope, fingerprint
from reconciler.state import (
    Group,
    GroupType,
    Member,
    MemberView,
    ObservedGroup,
    set_keys,
)
from reconciler.tim.calls import (
    PERMISSION_FIELDS,
    PROFILE_FIELDS,
    AddPermissionMembers,
    AddTopicPermissions,
    BanMembers,
    ChangeAdmins,
    ChangeMarks,
    ChangeOwner,
    CreateGroup,
    CreatePermissionGroup,
    CreateTopic,
    DestroyGroup,
    DestroyPermissionGroups,
    DestroyTopics,
    ImportAccounts,
    ImportMembers,
    Joiner,
    ModifyGroup,
    ModifyMember,
    ModifyPermissionGroup,
    ModifyTopic,
    MuteMembers,
    RemoveMembers,
    RemovePermissionMembers,
    Request,
    SetTopicPermissions,
    UnbanMembers,
)
from reconciler.tim.limits import Limits, chunks

# Dependency order inside a group.
STEPS = (
    "import_accounts",
    "create",
    "base",  # modify_group_base_info: profile fields, custom data, raising max_members
    "create_topics",  # Community topics (a topic exists only in its group)
    "modify_topics",  # also a new topic's mute-all, which create_topic does not carry
    "destroy_topics",
    "permission_groups",  # create and modify Community permission groups
    "import_members",
    "change_owner",
    "revoke_admins",  # AVChatRoom: before new admins, so the room never holds more than 5
    "modify_members",  # also mutes (forbid_send_msg), AVChatRoom admins and unbans
    "permission_members",  # permission groups' members (members of the group by now), topics
    "set_marks",
    "delete_marks",
    "destroy_permission_groups",
    "remove_members",  # also AVChatRoom bans (a ban removes the account from the room)
    "lower_max",
    "destroy",
)
STEP_INDEX = {name: i for i, name in enumerate(STEPS)}
# The steps each API's operations are planned in: a saved plan whose operation says otherwise
# was not made by the planner (planfile.read refuses it).
API_STEPS: dict[str, tuple[str, ...]] = {
    cls.api: steps
    for cls, steps in (
        (ImportAccounts, ("import_accounts",)),
        (CreateGroup, ("create",)),
        (ModifyGroup, ("base", "lower_max")),
        (CreateTopic, ("create_topics",)),
        (ModifyTopic, ("modify_topics",)),
        (DestroyTopics, ("destroy_topics",)),
        (CreatePermissionGroup, ("permission_groups",)),
        (ModifyPermissionGroup, ("permission_groups",)),
        (ImportMembers, ("import_members",)),
        (ChangeOwner, ("change_owner",)),
        (ChangeAdmins, ("revoke_admins", "modify_members")),
        (ModifyMember, ("modify_members",)),
        (MuteMembers, ("modify_members",)),
        (UnbanMembers, ("modify_members",)),
        (AddPermissionMembers, ("permission_members",)),
        (RemovePermissionMembers, ("permission_members",)),
        (AddTopicPermissions, ("permission_members",)),
        (SetTopicPermissions, ("permission_members",)),
        (ChangeMarks, ("set_marks", "delete_marks")),
        (DestroyPermissionGroups, ("destroy_permission_groups",)),
        (RemoveMembers, ("remove_members",)),
        (BanMembers, ("remove_members",)),
        (DestroyGroup, ("destroy",)),
    )
}


@dataclass
class Operation:
    group: str  # "" for app-wide operations (account import)
    step: str
    request: Request

    @property
    def api(self) -> str:
        return self.request.api

    @property
    def items(self) -> int:
        """Accounts or members the call carries, for the summary."""
        return self.request.count

    @property
    def destroys(self) -> bool:
        """Whether it destroys a group, topics or permission groups (--allow-destroy's)."""
        return isinstance(self.request, DestroyGroup | DestroyTopics | DestroyPermissionGroups)

    def destroyed(self) -> list[str]:
        """What it destroys: its group, and topics and permission groups as "<group> topic
        <id>" and "<group> permission group <id>"."""
        request = self.request
        if isinstance(request, DestroyGroup):
            return [self.group]
        if isinstance(request, DestroyTopics):
            return [f"{self.group} topic {t}" for t in request.topics]
        if isinstance(request, DestroyPermissionGroups):
            return [f"{self.group} permission group {p}" for p in request.permission_groups]
        return []


@dataclass
class Refusal:
    group: str
    reason: str
    overridable: bool  # --force overrides it; protection does not


# repr=False: asyncio.run (3.11) formats the repr of the main task's result twice when it
# restores the SIGINT handler, and a full repr of a big plan takes seconds.
@dataclass(repr=False)
class Plan:
    changes: list[GroupChange]
    operations: list[Operation]
    refusals: list[Refusal] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    scopes: dict[str, Scope] = field(default_factory=dict)  # what each fingerprint covers
    missing_accounts: list[str] = field(default_factory=list)
    # The batch sizes and rates it was made with (and, after apply, what the server taught).
    limits: Limits | None = None
    notes: list[str] = field(default_factory=list)  # what the plan could not verify

    def __repr__(self) -> str:
        return f"<Plan: {len(self.changes)} group(s), {len(self.operations)} operation(s)>"

    @property
    def changed(self) -> list[GroupChange]:
        return [c for c in self.changes if not c.empty and not c.errors]

    @property
    def reviewable(self) -> list[GroupChange]:
        """What a reviewer sees: groups with work to do or marks waiting; not failed diffs."""
        return [c for c in self.changes if not c.errors and (not c.empty or c.marks_pending)]

    @property
    def has_changes(self) -> bool:
        return bool(self.operations)

    def destroys(self) -> list[str]:
        """What the plan destroys (``Operation.destroyed``; each needs --allow-destroy)."""
        return [what for op in self.operations for what in op.destroyed()]

    @property
    def app_errors(self) -> list[str]:
        """The errors that are no one group's (accounts missing from the app): with one, no
        part of the plan is safe to apply."""
        own = {error for change in self.changes for error in change.errors}
        return [error for error in self.errors if error not in own]

    def blocking(self, force: bool = False) -> list[Refusal]:
        """The refusals that stand: all of them, or with ``force`` the unoverridable ones."""
        return [r for r in self.refusals if not (force and r.overridable)]

    def raise_if_unsafe(self, force: bool = False, *, applying: bool = True) -> None:
        """Raise PlanInvalid when the plan has errors, PlanRefused when a guard refuses it
        (``applying``: say that nothing was applied; plan alone applies nothing anyway)."""
        if self.errors:
            recreate = [c.group_id for c in self.changes if c.recreate]
            if recreate:
                raise RecreateRequired(self.errors, recreate, applying)
            raise PlanInvalid(self.errors, applying)
        blocking = self.blocking(force)
        if blocking:
            removals = self.counts()["members_remove"]
            bans = sum(1 for c in self.changed for fc in c.banned if fc.after)
            hint = (
                "Review the removals; if they are intended, run again with --force."
                if all(r.overridable for r in blocking)
                else "Protected groups (protect: true) are never destroyed, emptied or banned "
                "from; set protect: false first if this is intended."
            )
            raise PlanRefused(
                f"Plan refused by {len(blocking)} guard(s) ({removals} member removal(s)"
                f"{f' and {bans} ban(s)' if bans else ''} in all; see 'Refused:' above). "
                f"{'Nothing was applied. ' if applying else ''}{hint}"
            )

    def calls_by_api(self) -> dict[str, int]:
        """Calls per API at the plan's limits: one per operation, or more where a size the
        server taught since (``Limits.learn``) splits an operation."""
        return calls_by_api(self.operations, self.limits)

    def counts(self) -> dict[str, int]:
        """What the plan does; a destroyed group's members count as removed."""
        changed = self.changed
        return {
            "groups_create": sum(c.action == "create" for c in changed),
            "groups_update": sum(c.action == "update" for c in changed),
            "groups_destroy": sum(c.action == "destroy" for c in changed),
            "members_add": sum(len(c.members_by("add")) for c in changed),
            "members_modify": sum(len(c.members_by("modify")) for c in changed),
            "members_remove": sum(
                members_before(c) if c.action == "destroy" else len(c.members_by("remove"))
                for c in changed
            ),
            "marks_pending": sum(len(a) for c in self.changes for a in c.marks_pending.values()),
            "api_calls": len(self.operations),
        }


def members_before(change: GroupChange) -> int:
    """How many members a group had when it was observed (what its destroy removes)."""
    have = change.observed
    if have is None:
        return 0
    return have.member_count() if have.members is not None else have.member_num or 0


def calls_by_api(operations: list[Operation], limits: Limits | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in operations:
        n = limits.calls(op.api, op.items) if limits is not None else 1
        counts[op.api] = counts.get(op.api, 0) + n
    return dict(sorted(counts.items()))


def _joiner(member: Member, *, created: bool = False) -> Joiner:
    # A group this plan creates has a CreateTime of the moment of creation, and JoinTime must
    # lie after it (CN-1636): a declared join_time is then left out and the member joins now.
    return Joiner(
        member.account,
        admin=member.role == "Admin",
        join_time=None if created else member.join_time,
        unread=member.unread,
    )


def _join_time_errors(change: GroupChange, now: int) -> list[str]:
    """join_time must lie after the group's creation and not in the future (CN-1636); for a
    group being created it is not sent (see ``_joiner``), so only the future is an error."""
    have = change.observed
    created = have.create_time if have is not None else None
    errors = []
    for mc in change.members_by("add"):
        when = mc.member.join_time if mc.member is not None else None
        if when is None:
            continue
        where = f"group {change.group_id} member {mc.account}: join_time {when}"
        if when > now:
            errors.append(f"{where} is in the future (now is {now}); use a past time or drop it")
        elif created is not None and when <= created:
            errors.append(
                f"{where} is not after the group's creation ({created}); the API refuses such "
                "a member: use a later time or drop join_time"
            )
    return errors


def _profile_changes(change: GroupChange) -> dict[str, Any]:
    """ModifyGroup fields for every changed profile field except max_members."""
    fields: dict[str, Any] = {
        fc.field: fc.after
        for fc in change.fields
        if fc.field in PROFILE_FIELDS or fc.field in PERMISSION_FIELDS or fc.field == "mute_all"
    }
    custom = _custom_changes(change.fields)
    if custom:
        fields["custom"] = custom
    return fields


def _custom_changes(changes: list[FieldChange]) -> dict[str, str | None]:
    """Custom keys to write from field changes (``custom.KEY``, or the whole ``custom``
    mapping appearing or vanishing); None deletes a key."""
    custom: dict[str, str | None] = {}
    for fc in changes:
        if fc.field.startswith("custom."):
            custom[fc.field[len("custom.") :]] = fc.after
        elif fc.field == "custom":
            custom.update({k: None for k in (fc.before or {})})
            custom.update(fc.after or {})
    return custom


def _attribute_fields(member: MemberView, with_custom: bool, now: int) -> dict[str, Any]:
    """Attributes of a new member that create_group/import_group_member cannot carry (a mute
    whose deadline has passed is nothing to set)."""
    fields = {
        "name_card": member.name_card,
        "msg_flag": member.msg_flag,
        "muted_until": member.muted_until if (member.muted_until or 0) > now else None,
        "custom": (set_keys(member.custom) or None) if with_custom else None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _modify_ops(
    group_id: str, account: str, fields: dict[str, Any], mutes: dict[str, int]
) -> list[Operation]:
    """The member's modify_group_member_info, if it needs one; a mute rides along with it, or,
    when a mute is all there is, joins the group's mutes (``mutes``) for forbid_send_msg."""
    if set(fields) == {"muted_until"}:
        mutes[account] = fields["muted_until"]
        return []
    if not fields:
        return []
    return [Operation(group_id, "modify_members", ModifyMember(group_id, account, **fields))]


def _mute_ops(group_id: str, mutes: dict[str, int], limits: Limits) -> list[Operation]:
    """forbid_send_msg, 500 accounts a call: accounts muted until the same second share calls,
    and all of the group's unmutes (0) go together."""
    by_deadline: dict[int, list[str]] = {}
    for account, until in mutes.items():
        by_deadline.setdefault(until, []).append(account)
    return [
        Operation(group_id, "modify_members", MuteMembers(group_id, batch, until))
        for until, accounts in sorted(by_deadline.items())
        for batch in chunks(sorted(accounts), limits.batch_of(MuteMembers.api))
    ]


def _room_ops(change: GroupChange, limits: Limits) -> list[Operation]:
    """An AVChatRoom's admins, mutes and bans: revocations first; bans in the removal step."""
    gid = change.group_id
    ops = [
        Operation(gid, step, ChangeAdmins(gid, batch, remove=remove))
        for step, remove, accounts in (
            ("revoke_admins", True, change.admins_remove),
            ("modify_members", False, change.admins_add),
        )
        for batch in chunks(accounts, limits.batch_of(ChangeAdmins.api))
    ]
    ops.extend(_mute_ops(gid, {fc.field: fc.after for fc in change.muted}, limits))
    unbans = sorted(fc.field for fc in change.banned if not fc.after)
    ops.extend(
        Operation(gid, "modify_members", UnbanMembers(gid, batch))
        for batch in chunks(unbans, limits.batch_of(UnbanMembers.api))
    )
    bans: dict[int, list[str]] = {}
    for fc in change.banned:
        if fc.after:
            bans.setdefault(fc.after, []).append(fc.field)
    ops.extend(
        Operation(gid, "remove_members", BanMembers(gid, batch, until))
        for until, accounts in sorted(bans.items())
        for batch in chunks(sorted(accounts), limits.batch_of(BanMembers.api))
    )
    return ops


def _topic_ops(change: GroupChange, limits: Limits) -> list[Operation]:
    """A Community's topics: created (a muted one modified after), modified, destroyed."""
    gid = change.group_id
    ops: list[Operation] = []
    destroy: list[str] = []
    for tc in change.topics:
        values = {fc.field: fc.after for fc in tc.fields}
        if tc.action == "destroy":
            destroy.append(tc.topic)
            continue
        if tc.action == "create":
            mute = values.pop("mute_all", None)
            ops.append(Operation(gid, "create_topics", CreateTopic(gid, tc.topic, **values)))
            if mute:
                ops.append(
                    Operation(gid, "modify_topics", ModifyTopic(gid, tc.topic, mute_all=True))
                )
            continue
        ops.append(Operation(gid, "modify_topics", ModifyTopic(gid, tc.topic, **values)))
    ops.extend(
        Operation(gid, "destroy_topics", DestroyTopics(gid, batch))
        for batch in chunks(sorted(destroy), limits.batch_of(DestroyTopics.api))
    )
    return ops


def _permission_group_ops(change: GroupChange, limits: Limits) -> list[Operation]:
    """A Community's permission groups: created or modified, then their members and topic
    permissions (once members have joined and topics exist); destroyed before removals."""
    gid = change.group_id
    ops: list[Operation] = []
    destroy: list[str] = []
    for pc in change.permission_groups:
        pid = pc.permission_group
        if pc.action == "destroy":
            destroy.append(pid)
            continue
        values = {fc.field: fc.after for fc in pc.fields}
        if pc.action == "create":
            ops.append(
                Operation(gid, "permission_groups", CreatePermissionGroup(gid, pid, **values))
            )
        elif values:
            ops.append(
                Operation(gid, "permission_groups", ModifyPermissionGroup(gid, pid, **values))
            )
        for cls, accounts in (
            (AddPermissionMembers, pc.members_add),
            (RemovePermissionMembers, pc.members_remove),
        ):
            ops.extend(
                Operation(gid, "permission_members", cls(gid, pid, batch))
                for batch in chunks(accounts, limits.batch_of(cls.api))
            )
        for topic_cls, items in (
            (AddTopicPermissions, [fc for fc in pc.topic_permissions if fc.before is None]),
            (SetTopicPermissions, [fc for fc in pc.topic_permissions if fc.before is not None]),
        ):
            ops.extend(
                Operation(
                    gid,
                    "permission_members",
                    topic_cls(gid, pid, {fc.field: fc.after for fc in batch}),
                )
                for batch in chunks(items, limits.batch_of(topic_cls.api))
            )
    ops.extend(
        Operation(gid, "destroy_permission_groups", DestroyPermissionGroups(gid, batch))
        for batch in chunks(sorted(destroy), limits.batch_of(DestroyPermissionGroups.api))
    )
    return ops


def _import_ops(
    group_id: str, members: list[Member], limits: Limits, *, created: bool = False
) -> list[Operation]:
    return [
        Operation(
            group_id,
            "import_members",
            ImportMembers(group_id, [_joiner(m, created=created) for m in batch]),
        )
        for batch in chunks(members, limits.batch_of(ImportMembers.api))
    ]


def _create_ops(change: GroupChange, now: int, limits: Limits) -> list[Operation]:
    want = change.desired
    gid = want.id
    declared = list(want.declared_members().values())
    joining = [m for m in declared if m.account != want.owner]
    # The first 100 join in create_group itself, which carries Role Admin and custom data but
    # not unread counts (JoinTime is not sent to a new group: it would lie before CreateTime);
    # the rest are imported. First those whose custom data would be all that costs a modify
    # call after an import, then other members with custom data (their name card or message
    # flag needs that call anyway).
    riders = [m for m in joining if m.unread is None]
    riders.sort(key=lambda m: (not set_keys(m.custom), bool(m.name_card or m.msg_flag)))
    in_create = {m.account for m in riders[: limits.batch_of(CreateGroup.api)]}
    create = CreateGroup(
        gid,
        want.type,
        want.name or "",
        owner=want.owner,
        **{name: getattr(want, name) for name in PROFILE_FIELDS if name != "name"},
        max_members=want.max_members if want.type is not GroupType.AVChatRoom else None,
        custom=set_keys(want.custom),
        support_topic=bool(want.support_topic),
        enable_permission=want.enable_permission,
        default_permission=want.default_permission,
        members=[
            Joiner(m.account, admin=m.role == "Admin", custom=set_keys(m.custom))
            for m in joining
            if m.account in in_create
        ],
    )
    ops = [Operation(gid, "create", create)]
    if want.mute_all:
        ops.append(Operation(gid, "base", ModifyGroup(gid, mute_all=True)))
    ops.extend(_topic_ops(change, limits))
    ops.extend(_permission_group_ops(change, limits))
    later = [m for m in joining if m.account not in in_create]
    ops.extend(_import_ops(gid, later, limits, created=True))
    mutes: dict[str, int] = {}
    for member in declared:
        # The owner joins through Owner_Account, which carries no custom data.
        custom = member.account not in in_create
        ops.extend(_modify_ops(gid, member.account, _attribute_fields(member, custom, now), mutes))
    ops.extend(_mute_ops(gid, mutes, limits))
    if want.type is GroupType.AVChatRoom:
        ops.extend(_room_ops(change, limits))
    return ops


def _joining(change: GroupChange) -> set[str]:
    """Who joins the group in this plan: added members, and a new owner not known to be a
    member (when the member list was not read, the owner is imported to be sure)."""
    adds = {mc.account for mc in change.members_by("add")}
    new_owner = next((fc.after for fc in change.fields if fc.field == "owner"), None)
    if new_owner and not _is_member(change.observed, new_owner):
        adds.add(new_owner)
    return adds


def _current_members(have: ObservedGroup) -> int:
    return have.known_members()


def _peak_members(change: GroupChange) -> int:
    have = change.observed
    current = _current_members(have) if have is not None else 0
    return current + len(_joining(change))


def _is_member(have: ObservedGroup | None, account: str) -> bool:
    return have is not None and have.members is not None and account in have.members


def _final_members(change: GroupChange) -> int | None:
    """How many members the group has after the plan, or None when that is not known."""
    have = change.observed
    if have is None or (have.members is None and have.member_num is None):
        return None
    return _current_members(have) + len(_joining(change)) - len(change.members_by("remove"))


def _capacity_error(change: GroupChange) -> str | None:
    """max_members below the members the group keeps would be refused by the API (10004)."""
    if change.action != "update" or change.type is GroupType.AVChatRoom:
        return None
    max_change = next((fc for fc in change.fields if fc.field == "max_members"), None)
    final = _final_members(change)
    if max_change is None or final is None or max_change.after >= final:
        return None
    return (
        f"group {change.group_id}: max_members {max_change.after} is below the {final} members "
        "the group keeps after this plan (members not listed stay in additive mode or when "
        "members are not managed); raise max_members or remove members"
    )


def _update_ops(change: GroupChange, now: int, limits: Limits) -> list[Operation]:
    gid = change.group_id
    have = change.observed
    ops: list[Operation] = []
    base = _profile_changes(change)
    max_change = next((fc for fc in change.fields if fc.field == "max_members"), None)
    lower_later = False
    if max_change is not None and change.type is not GroupType.AVChatRoom:
        before = max_change.before or 0
        new_max = max_change.after
        # Raising, or lowering to a size the group never exceeds during this apply: do it now.
        if new_max >= before or new_max >= _peak_members(change):
            base["max_members"] = new_max
        else:
            lower_later = True
    if base:
        ops.append(Operation(gid, "base", ModifyGroup(gid, **base)))
    ops.extend(_topic_ops(change, limits))
    ops.extend(_permission_group_ops(change, limits))

    adds = [mc.member for mc in change.members_by("add") if mc.member is not None]
    new_owner = next((fc.after for fc in change.fields if fc.field == "owner"), None)
    if new_owner and not _is_member(have, new_owner) and all(m.account != new_owner for m in adds):
        # change_group_owner needs a member; with members unmanaged nobody else imports it
        # ("already a member" is success when the member list was not read).
        adds.append(Member(account=new_owner))
    ops.extend(_import_ops(gid, adds, limits))
    if new_owner:
        ops.append(Operation(gid, "change_owner", ChangeOwner(gid, new_owner)))
    # Modify: changed attributes of existing members, and attributes of new members that the
    # import call cannot carry; mutes alone go in batches.
    mutes: dict[str, int] = {}
    for mc in change.members:
        if mc.action == "modify":
            fields = {
                fc.field: fc.after
                for fc in mc.fields
                # the owner's role is changed by change_group_owner
                if not fc.field.startswith("custom")
                and not (fc.field == "role" and fc.after == "Owner")
            }
            custom = _custom_changes(mc.fields)
            if custom:
                fields["custom"] = custom
        elif mc.action == "add" and mc.member is not None:
            fields = _attribute_fields(mc.member, True, now)
        else:
            continue
        ops.extend(_modify_ops(gid, mc.account, fields, mutes))
    ops.extend(_mute_ops(gid, mutes, limits))
    if change.type is GroupType.AVChatRoom:
        ops.extend(_room_ops(change, limits))

    for step, delete, marks in (
        ("set_marks", False, change.marks_set),
        ("delete_marks", True, change.marks_delete),
    ):
        per_account: dict[str, list[int]] = {}
        for mark, accounts in marks.items():
            for account in accounts:
                per_account.setdefault(account, []).append(mark)
        entries = sorted((a, sorted(m)) for a, m in per_account.items())
        for batch in chunks(entries, limits.batch_of(ChangeMarks.api)):
            ops.append(Operation(gid, step, ChangeMarks(gid, dict(batch), delete=delete)))
    removals = [mc.account for mc in change.members_by("remove")]
    for batch in chunks(removals, limits.batch_of(RemoveMembers.api)):
        ops.append(Operation(gid, "remove_members", RemoveMembers(gid, batch)))
    if lower_later and max_change is not None:
        ops.append(Operation(gid, "lower_max", ModifyGroup(gid, max_members=max_change.after)))
    return ops


def _guards(change: GroupChange, admin: str, fraction: float, min_size: int) -> list[Refusal]:
    refusals: list[Refusal] = []
    gid = change.group_id
    if change.action == "destroy":
        if change.desired.protect:
            refusals.append(
                Refusal(gid, "group is protected (protect: true) and cannot be destroyed", False)
            )
        return refusals
    removed = [mc.account for mc in change.members_by("remove")]
    banned = [fc.field for fc in change.banned if fc.after]  # a ban removes from the room
    if not removed and not banned:
        return refusals
    if change.desired.protect:
        refusals.extend(
            Refusal(gid, f"group is protected (protect: true): {len(out)} {what} refused", False)
            for out, what in ((removed, "member removal(s)"), (banned, "ban(s)"))
            if out
        )
    have = change.observed
    staying_owner = change.desired.owner or (have.owner if have else None)
    for out, verb in ((removed, "remove"), (banned, "ban")):
        if admin in out:
            refusals.append(Refusal(gid, f"would {verb} the app admin identifier {admin!r}", True))
        if staying_owner in out:
            refusals.append(Refusal(gid, f"would {verb} the group owner {staying_owner!r}", True))
    if not removed:
        return refusals
    current = len(have.members or {}) if have else 0
    if current >= min_size and len(removed) / current > fraction:
        refusals.append(
            Refusal(
                gid,
                f"would remove {len(removed)} of {current} members "
                f"({len(removed) / current:.0%} > policy.max_removal_fraction {fraction:.0%})",
                True,
            )
        )
    return refusals


class Planner:
    """Builds a plan one group at a time, as observation completes each (``observe``'s settle).

    Once a group is added, the plan needs nothing more of its observed member list: ``add``
    releases it (``ObservedGroup.release_members``), so a plan made as groups are read and one
    made from a whole observation carry the same.
    """

    def __init__(
        self,
        desired: list[Group],
        *,
        admin: str,
        max_removal_fraction: float,
        min_group_size_for_guard: int = 10,
        create_missing_accounts: bool = False,
        now: int | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._desired = desired
        self._admin = admin
        self._fraction = max_removal_fraction
        self._min_size = min_group_size_for_guard
        self._create_accounts = create_missing_accounts
        self._now = now
        self._limits = limits or Limits()
        self._done: dict[
            str, tuple[GroupChange, list[Operation], list[Refusal], tuple[str, Scope] | None]
        ] = {}

    def add(self, want: Group, have: ObservedGroup | None) -> None:
        now = int(time.time()) if self._now is None else self._now
        change = diff_group(want, have, now)
        capacity = _capacity_error(change)
        if capacity:
            change.errors.append(capacity)
        if change.action != "destroy":
            now = int(time.time()) if self._now is None else self._now
            change.errors.extend(_join_time_errors(change, now))
        operations: list[Operation] = []
        refusals: list[Refusal] = []
        digest = None
        if not change.errors and not change.empty:
            if change.action == "destroy":
                operations.append(Operation(want.id, "destroy", DestroyGroup(want.id)))
            elif change.action == "create":
                operations.extend(_create_ops(change, now, self._limits))
            else:
                operations.extend(_update_ops(change, now, self._limits))
            refusals = _guards(change, self._admin, self._fraction, self._min_size)
            scope = Scope.of(want, change)
            digest = (fingerprint(have, scope), scope)
        self._done[want.id] = (change, operations, refusals, digest)
        if have is not None:
            have.release_members()  # all the plan needs of them is made

    def finish(self, missing_accounts: set[str]) -> Plan:
        """The plan, groups in the config's order; app-wide account imports first."""
        plan = Plan([], [], limits=self._limits)
        for want in self._desired:
            change, operations, refusals, digest = self._done[want.id]
            plan.changes.append(change)
            plan.errors.extend(change.errors)
            plan.operations.extend(operations)
            plan.refusals.extend(refusals)
            if digest is not None:
                plan.fingerprints[want.id], plan.scopes[want.id] = digest
        plan.notes = _unverified_notes(plan.changes)
        missing = sorted(missing_accounts)
        plan.missing_accounts = missing
        if missing and self._create_accounts:
            plan.operations[:0] = [
                Operation("", "import_accounts", ImportAccounts(batch))
                for batch in chunks(missing, self._limits.batch_of(ImportAccounts.api))
            ]
        elif missing:
            shown = ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
            plan.errors.append(
                f"{len(missing)} member account(s) do not exist in the app: {shown}. Import them "
                "first, or set app.create_missing_accounts: true to have the plan import them"
            )
        return plan


def _unverified_notes(changes: list[GroupChange]) -> list[str]:
    """One note per declared field the server did not report, with the groups it concerns."""
    groups: dict[str, list[str]] = {}
    for change in changes:
        for name in change.unverified:
            groups.setdefault(name, []).append(change.group_id)
    notes = []
    for name, ids in groups.items():
        shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
        notes.append(
            f"{name} is not reported by this server for {len(ids)} existing group(s) ({shown}): "
            "it is set when a group is created, but cannot be verified or changed afterwards, "
            "so no change to it is planned"
        )
    return notes


def build_plan(desired: list[Group], observation: Observation, **options: Any) -> Plan:
    """The plan for groups already observed in full (options: those of Planner)."""
    planner = Planner(desired, **options)
    for want in desired:
        planner.add(want, observation.groups.get(want.id))
    return planner.finish(observation.missing_accounts)
