"""Changes -> an ordered, batched, guarded plan of API calls; the plan file.

Each operation is one API call on one group. Within a group operations run by ``step`` (below);
groups are independent of each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from reconciler.diff import GroupChange, diff_group
from reconciler.observe import LiveMembers, Observation
from reconciler.state import (
    ACCOUNT_BATCH,
    DELETE_BATCH,
    IMPORT_BATCH,
    MARKS_BATCH,
    Group,
    GroupType,
    Member,
    ObservedGroup,
)

PLAN_FORMAT_VERSION = 3  # 3: fingerprints of members' managed values as the API lists them
CREATE_MEMBER_LIST_MAX = 100  # create_group accepts at most 100 initial members

# Dependency order inside a group.
STEPS = (
    "import_accounts",
    "create",
    "base",  # modify_group_base_info: profile fields, custom data, raising max_members
    "import_members",
    "change_owner",
    "modify_members",
    "set_marks",
    "delete_marks",
    "remove_members",
    "lower_max",
    "destroy",
)
STEP_INDEX = {name: i for i, name in enumerate(STEPS)}

API_SERVICE = {
    "multiaccount_import": "im_open_login_svc",
    "modify_user_info": "group_open_avchatroom_http_svc",
}


def service_of(api: str) -> str:
    return API_SERVICE.get(api, "group_open_http_svc")


@dataclass
class Operation:
    group: str  # "" for app-wide operations (account import)
    step: str
    api: str
    body: dict[str, Any]
    # Absolute mute deadline for modify_group_member_info; MuteTime is computed at call time.
    muted_until: int | None = None
    items: int = 1  # accounts or members the call carries, for the summary


OPERATION_FIELDS = fields(Operation)


@dataclass
class Refusal:
    group: str
    reason: str
    overridable: bool  # --force overrides it; protection does not


# repr=False: asyncio.run (3.11) formats the repr of the main task's result twice when it
# restores the SIGINT handler; a full repr of a big plan took seconds (5 s at 100,000 members).
@dataclass(repr=False)
class Plan:
    changes: list[GroupChange]
    operations: list[Operation]
    refusals: list[Refusal] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    missing_accounts: list[str] = field(default_factory=list)

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
        return [op.group for op in self.operations if op.step == "destroy"]

    def calls_by_api(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.operations:
            counts[op.api] = counts.get(op.api, 0) + 1
        return dict(sorted(counts.items()))

    def counts(self) -> dict[str, int]:
        changed = self.changed
        return {
            "groups_create": sum(c.action == "create" for c in changed),
            "groups_update": sum(c.action == "update" for c in changed),
            "groups_destroy": sum(c.action == "destroy" for c in changed),
            "members_add": sum(len(c.members_by("add")) for c in changed),
            "members_modify": sum(len(c.members_by("modify")) for c in changed),
            "members_remove": sum(len(c.members_by("remove")) for c in changed),
            "marks_pending": sum(len(a) for c in self.changes for a in c.marks_pending.values()),
            "api_calls": len(self.operations),
        }


def min_seconds(calls_by_api: dict[str, int], rate_limit: float, rate_limits: dict[str, float]):
    """The floor time at the rate limit: the busiest API's calls divided by its rate."""
    worst = 0.0
    for api, calls in calls_by_api.items():
        worst = max(worst, calls / rate_limits.get(api, rate_limit))
    return worst


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _kv(custom: dict[str, str | None]) -> list[dict[str, str]]:
    # A Value of "" deletes the key (modify_group_base_info's documented convention).
    return [{"Key": k, "Value": "" if v is None else v} for k, v in custom.items()]


def _import_item(member: Member) -> dict[str, Any]:
    item: dict[str, Any] = {"Member_Account": member.account}
    if member.role == "Admin":
        item["Role"] = "Admin"
    if member.join_time is not None:
        item["JoinTime"] = member.join_time
    if member.unread is not None:
        item["UnreadMsgNum"] = member.unread
    return item


BASE_API_FIELDS = {
    "name": "Name",
    "introduction": "Introduction",
    "notification": "Notification",
    "face_url": "FaceUrl",
    "apply_join": "ApplyJoinOption",
    "invite_join": "InviteJoinOption",
}


def _base_body(change: GroupChange) -> dict[str, Any]:
    """modify_group_base_info fields for every changed profile field except max_members."""
    body: dict[str, Any] = {}
    custom: dict[str, str | None] = {}
    for fc in change.fields:
        if fc.field in BASE_API_FIELDS:
            body[BASE_API_FIELDS[fc.field]] = fc.after
        elif fc.field == "mute_all":
            body["MuteAllMember"] = "On" if fc.after else "Off"
        elif fc.field.startswith("custom."):
            custom[fc.field[len("custom.") :]] = fc.after
        elif fc.field == "custom":  # the whole mapping appeared or vanished
            custom.update({k: None for k in (fc.before or {})})
            custom.update(fc.after or {})
    if change.desired.custom and change.observed is not None:
        # Keys declared null that are present live show up as removals above; make sure of it.
        for key, value in change.desired.custom.items():
            if value is None and key in change.observed.custom:
                custom[key] = None
    if custom:
        body["AppDefinedData"] = _kv(custom)
    return body


def _member_body(group_id: str, account: str, fields: dict[str, Any]) -> tuple[dict, int | None]:
    body: dict[str, Any] = {"GroupId": group_id, "Member_Account": account}
    muted_until = None
    for name, value in fields.items():
        if name == "role":
            body["Role"] = value
        elif name == "name_card":
            body["NameCard"] = value
        elif name == "msg_flag":
            body["MsgFlag"] = value
        elif name == "muted_until":
            muted_until = value
        elif name == "custom":
            body["AppMemberDefinedData"] = _kv(value)
    return body, muted_until


def _attribute_fields(member: Member, with_custom: bool) -> dict[str, Any]:
    """Attributes of a new member that create_group/import_group_member cannot carry."""
    fields = {
        "name_card": member.name_card,
        "msg_flag": member.msg_flag,
        "muted_until": member.muted_until or None,
        "custom": (_set_custom(member) or None) if with_custom else None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _set_custom(member: Member) -> dict[str, str | None]:
    return {k: v for k, v in member.custom.items() if v}  # null and "" delete


def _modify_op(group_id: str, account: str, fields: dict[str, Any]) -> Operation:
    body, mute = _member_body(group_id, account, fields)
    return Operation(group_id, "modify_members", "modify_group_member_info", body, mute)


def _import_ops(group_id: str, members: list[Member]) -> list[Operation]:
    return [
        Operation(
            group_id,
            "import_members",
            "import_group_member",
            {"GroupId": group_id, "MemberList": [_import_item(m) for m in batch]},
            items=len(batch),
        )
        for batch in _chunks(members, IMPORT_BATCH)
    ]


def _create_ops(change: GroupChange) -> list[Operation]:
    want = change.desired
    gid = want.id
    body: dict[str, Any] = {"Type": want.type.value, "GroupId": gid, "Name": want.name}
    if want.owner:
        body["Owner_Account"] = want.owner
    for name, api_name in BASE_API_FIELDS.items():
        value = getattr(want, name)
        if value is not None and name != "name":
            body[api_name] = value
    if want.max_members is not None and want.type is not GroupType.AVChatRoom:
        body["MaxMemberCount"] = want.max_members
    custom = {k: v for k, v in want.custom.items() if v}  # null and "" delete
    if custom:
        body["AppDefinedData"] = _kv(custom)
    declared = list((want.members or {}).values())
    joining = [m for m in declared if m.account != want.owner]
    # Small groups get their members in the create call itself: one call instead of two.
    in_create = len(joining) <= CREATE_MEMBER_LIST_MAX and not any(
        m.join_time is not None or m.unread is not None for m in joining
    )
    if joining and in_create:
        body["MemberList"] = [
            {
                "Member_Account": m.account,
                **({"Role": "Admin"} if m.role == "Admin" else {}),
                **({"AppMemberDefinedData": _kv(_set_custom(m))} if _set_custom(m) else {}),
            }
            for m in joining
        ]
    ops = [
        Operation(gid, "create", "create_group", body, items=1 + len(body.get("MemberList", [])))
    ]
    if want.mute_all:
        ops.append(
            Operation(
                gid, "base", "modify_group_base_info", {"GroupId": gid, "MuteAllMember": "On"}
            )
        )
    if not in_create:
        ops.extend(_import_ops(gid, joining))
    for member in declared:
        # The owner joins through Owner_Account, which carries no custom data.
        fields = _attribute_fields(
            member, with_custom=member.account == want.owner or not in_create
        )
        if fields:
            ops.append(_modify_op(gid, member.account, fields))
    return ops


def _peak_members(change: GroupChange) -> int:
    have = change.observed
    current = have.member_num if have and have.member_num is not None else 0
    if have is not None and have.members is not None:
        current = len(have.members)
    return current + len(change.members_by("add"))


def _is_member(have: ObservedGroup | None, account: str) -> bool:
    return have is not None and have.members is not None and account in have.members


def _final_members(change: GroupChange) -> int | None:
    """How many members the group has after the plan, or None when that is not known."""
    have = change.observed
    if have is None:
        return None
    if have.members is not None:
        count = len(have.members)
    elif have.member_num is not None:
        count = have.member_num
    else:
        return None
    new_owner = next((fc.after for fc in change.fields if fc.field == "owner"), None)
    adds = {mc.account for mc in change.members_by("add")}
    if new_owner and not _is_member(have, new_owner) and have.members is not None:
        adds.add(new_owner)
    return count + len(adds) - len(change.members_by("remove"))


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


def _update_ops(change: GroupChange) -> list[Operation]:
    gid = change.group_id
    have = change.observed
    ops: list[Operation] = []
    base = _base_body(change)
    max_change = next((fc for fc in change.fields if fc.field == "max_members"), None)
    lower_later = False
    if max_change is not None and change.type is not GroupType.AVChatRoom:
        before = max_change.before or 0
        new_max = max_change.after
        # Raising, or lowering to a size the group never exceeds during this apply: do it now.
        if new_max >= before or new_max >= _peak_members(change):
            base["MaxMemberNum"] = new_max
        else:
            lower_later = True
    if base:
        ops.append(Operation(gid, "base", "modify_group_base_info", {"GroupId": gid, **base}))

    adds = [mc.member for mc in change.members_by("add") if mc.member is not None]
    new_owner = next((fc.after for fc in change.fields if fc.field == "owner"), None)
    if new_owner and not _is_member(have, new_owner) and all(m.account != new_owner for m in adds):
        # change_group_owner needs a member; with members unmanaged nobody else imports it
        # ("already a member" is success when the member list was not read).
        adds.append(Member(account=new_owner))
    ops.extend(_import_ops(gid, adds))
    if new_owner:
        ops.append(
            Operation(
                gid,
                "change_owner",
                "change_group_owner",
                {"GroupId": gid, "NewOwner_Account": new_owner},
            )
        )
    # Modify: changed attributes of existing members, and attributes of new members that the
    # import call cannot carry.
    for mc in change.members:
        if mc.action == "modify":
            fields = {}
            for fc in mc.fields:
                if fc.field == "role" and fc.after == "Owner":
                    continue  # done by change_group_owner
                if fc.field.startswith("custom"):
                    fields.setdefault("custom", {})
                    if fc.field == "custom":
                        fields["custom"].update({k: None for k in (fc.before or {})})
                        fields["custom"].update(fc.after or {})
                    else:
                        fields["custom"][fc.field[len("custom.") :]] = fc.after
                else:
                    fields[fc.field] = fc.after
        elif mc.action == "add" and mc.member is not None:
            fields = _attribute_fields(mc.member, with_custom=True)
        else:
            continue
        if fields:
            ops.append(_modify_op(gid, mc.account, fields))

    for step, command, marks in (
        ("set_marks", 1, change.marks_set),
        ("delete_marks", 2, change.marks_delete),
    ):
        per_account: dict[str, list[int]] = {}
        for mark, accounts in marks.items():
            for account in accounts:
                per_account.setdefault(account, []).append(mark)
        entries = [
            {"Member_Account": a, "Marks": sorted(m)} for a, m in sorted(per_account.items())
        ]
        for batch in _chunks(entries, MARKS_BATCH):
            ops.append(
                Operation(
                    gid,
                    step,
                    "modify_user_info",
                    {"GroupId": gid, "CommandType": command, "MemberList": batch},
                    items=len(batch),
                )
            )
    removals = [mc.account for mc in change.members_by("remove")]
    for batch in _chunks(removals, DELETE_BATCH):
        ops.append(
            Operation(
                gid,
                "remove_members",
                "delete_group_member",
                {"GroupId": gid, "MemberToDel_Account": batch, "Silence": 1},
                items=len(batch),
            )
        )
    if lower_later:
        ops.append(
            Operation(
                gid,
                "lower_max",
                "modify_group_base_info",
                {"GroupId": gid, "MaxMemberNum": max_change.after},
            )
        )
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
    if not removed:
        return refusals
    if change.desired.protect:
        refusals.append(
            Refusal(
                gid,
                f"group is protected (protect: true): {len(removed)} member removal(s) refused",
                False,
            )
        )
    have = change.observed
    if admin in removed:
        refusals.append(Refusal(gid, f"would remove the app admin identifier {admin!r}", True))
    staying_owner = change.desired.owner or (have.owner if have else None)
    if staying_owner in removed:
        refusals.append(Refusal(gid, f"would remove the group owner {staying_owner!r}", True))
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


def fingerprint(group: ObservedGroup | None) -> str:
    """A digest of a group's observed state, to detect changes between plan and apply."""
    if group is None:
        return "absent"
    data = group.model_dump(mode="json", exclude={"member_num", "members"})
    digest = hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
    members = group.members
    if isinstance(members, LiveMembers):  # as observed: the managed values as the API listed them
        digest.update(members.managed_json())
    elif members is not None:  # built by hand: each member's fields, accounts and keys sorted
        digest.update(orjson.dumps(members, default=vars, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


class Planner:
    """Builds a plan one group at a time, as observation completes each (``observe``'s settle).

    Once a group is added, the plan needs nothing more of its observed member list (observe lets
    it go when its settle returns).
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
    ) -> None:
        self._desired = desired
        self._admin = admin
        self._fraction = max_removal_fraction
        self._min_size = min_group_size_for_guard
        self._create_accounts = create_missing_accounts
        self._now = now
        self._done: dict[str, tuple[GroupChange, list[Operation], list[Refusal], str | None]] = {}

    def add(self, want: Group, have: ObservedGroup | None) -> None:
        change = diff_group(want, have, self._now)
        capacity = _capacity_error(change)
        if capacity:
            change.errors.append(capacity)
        operations: list[Operation] = []
        refusals: list[Refusal] = []
        digest = None
        if not change.errors and not change.empty:
            if change.action == "destroy":
                operations.append(
                    Operation(want.id, "destroy", "destroy_group", {"GroupId": want.id})
                )
            elif change.action == "create":
                operations.extend(_create_ops(change))
            else:
                operations.extend(_update_ops(change))
            refusals = _guards(change, self._admin, self._fraction, self._min_size)
            digest = fingerprint(have)
        self._done[want.id] = (change, operations, refusals, digest)

    def finish(self, missing_accounts: set[str]) -> Plan:
        """The plan, groups in the config's order; app-wide account imports first."""
        plan = Plan([], [])
        for want in self._desired:
            change, operations, refusals, digest = self._done[want.id]
            plan.changes.append(change)
            plan.errors.extend(change.errors)
            plan.operations.extend(operations)
            plan.refusals.extend(refusals)
            if digest is not None:
                plan.fingerprints[want.id] = digest
        missing = sorted(missing_accounts)
        plan.missing_accounts = missing
        if missing and self._create_accounts:
            plan.operations[:0] = [
                Operation(
                    "",
                    "import_accounts",
                    "multiaccount_import",
                    {"Accounts": batch},
                    items=len(batch),
                )
                for batch in _chunks(missing, ACCOUNT_BATCH)
            ]
        elif missing:
            shown = ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
            plan.errors.append(
                f"{len(missing)} member account(s) do not exist in the app: {shown}. Import them "
                "first, or set app.create_missing_accounts: true to have the plan import them"
            )
        return plan


def build_plan(desired: list[Group], observation: Observation, **options: Any) -> Plan:
    """The plan for groups already observed in full (options: those of Planner)."""
    planner = Planner(desired, **options)
    for want in desired:
        planner.add(want, observation.groups.get(want.id))
    return planner.finish(observation.missing_accounts)


# ---- plan files -------------------------------------------------------------------------------


def _stale_check_entry(group: Group) -> dict[str, Any]:
    """What apply needs to observe a touched group again exactly as plan did, for the stale
    check: the group without defaults and with its member list elided to ``{}`` (observation
    depends on whether members are managed, never on who is declared; a million listed members
    made the plan file 60 MB and its writing and reading take seconds)."""
    entry = group.model_dump(mode="json", exclude_defaults=True, exclude={"members"})
    if group.members is not None:
        entry["members"] = {}
    return entry


def plan_document(
    plan: Plan, *, config_digest: str, app: dict[str, Any], desired: list[Group]
) -> dict:
    """A versioned, secret-free JSON document: what apply --plan executes."""
    touched = set(plan.fingerprints)
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "tool": "tim-reconciler",
        "config_digest": config_digest,
        "app": app,
        "counts": plan.counts(),
        "calls_by_api": plan.calls_by_api(),
        "fingerprints": plan.fingerprints,
        "groups": [_stale_check_entry(g) for g in desired if g.id in touched],
        # Shallow: asdict() deep-copied every body (a second and a half for 11,000 calls).
        "operations": [
            {f.name: getattr(op, f.name) for f in OPERATION_FIELDS} for op in plan.operations
        ],
        "pending_marks": {
            c.group_id: {str(m): a for m, a in c.marks_pending.items()}
            for c in plan.changes
            if c.marks_pending
        },
    }


def operations_from_document(doc: dict) -> list[Operation]:
    return [Operation(**op) for op in doc["operations"]]
