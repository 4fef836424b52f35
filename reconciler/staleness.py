"""What a reviewed plan rests on, and its digest: the stale check's identity.

A plan records, for each group it acts on, a ``Scope`` (what of the group its operations
rest on) and the ``fingerprint`` of that much of the group as observed. Before a saved plan is
applied, ``reconciler.planfile`` reads the same again and refuses the plan when a fingerprint
differs (its stale check); ``reconciler.plan`` makes both as it plans.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from reconciler.diff import GroupChange
from reconciler.state import GROUP_FIELDS, MEMBER_ATTRIBUTES, Group, MemberView, ObservedGroup
from reconciler.tim.calls import EXACT
from reconciler.tim.wire.members import LiveMembers


@dataclass(frozen=True)
class Scope:
    """What of a group a plan's operations rest on: its fingerprint covers that and nothing
    else, so a reviewed plan is refused when something it acts on changed, never for anything
    else. Of members it covers those the plan modifies (and a new owner): adding a member who
    has joined meanwhile, or removing one who has left, still ends as reviewed (apply counts
    both as done), and a member who joins or changes after the plan is left as the plan found
    it for the next plan; reading only those accounts keeps the stale check to a few calls."""

    __pydantic_config__ = EXACT  # read back from a plan file exactly as written
    fields: tuple[str, ...] = ()  # declared profile fields
    custom: tuple[str, ...] = ()  # declared custom keys of the group
    # The members the plan touches: whether each is one, and the attributes each declares
    # ("custom.KEY" for custom data; "role" for the owner set by `owner`).
    accounts: tuple[str, ...] = ()
    declared: dict[str, tuple[str, ...]] = field(default_factory=dict)
    member_num: bool = False  # the plan changes max_members, which the member count bounds
    # AVChatRoom: the marks the plan sets or deletes (who carries each), whether it changes
    # admins (the admin list), and the accounts whose mute or ban it changes.
    marks: tuple[int, ...] = ()
    admins: bool = False
    muted: tuple[str, ...] = ()
    banned: tuple[str, ...] = ()
    # Community: the topics and permission groups the plan creates, modifies or destroys.
    topics: tuple[str, ...] = ()
    permission_groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, want: Group, change: GroupChange) -> Scope:
        touched = {mc.account for mc in change.members if mc.action == "modify"}
        have = change.observed
        new_owner = next((fc.after for fc in change.fields if fc.field == "owner"), None)
        if new_owner and have is not None and have.members is not None:
            touched.add(new_owner)
        declared: dict[str, tuple[str, ...]] = {}
        for account in touched:
            member = (want.members or {}).get(account)
            names = [n for n in MEMBER_ATTRIBUTES if member and getattr(member, n) is not None]
            if account == want.owner and "role" not in names:
                names.insert(0, "role")  # via `owner`
            names += [f"custom.{key}" for key in sorted(member.custom)] if member else []
            if names:
                declared[account] = tuple(names)
        return cls(
            fields=tuple(n for n in GROUP_FIELDS if getattr(want, n) is not None),
            custom=tuple(sorted(want.custom)),
            accounts=tuple(sorted(touched)),
            declared=dict(sorted(declared.items())),
            member_num=any(fc.field == "max_members" for fc in change.fields),
            marks=tuple(sorted({*change.marks_set, *change.marks_delete})),
            admins=bool(change.admins_add or change.admins_remove),
            muted=tuple(sorted(fc.field for fc in change.muted)),
            banned=tuple(sorted(fc.field for fc in change.banned)),
            topics=tuple(sorted(tc.topic for tc in change.topics)),
            permission_groups=tuple(sorted(pc.permission_group for pc in change.permission_groups)),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scope:
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        values["declared"] = {str(a): tuple(n) for a, n in data["declared"].items()}
        return cls(**values)


def fingerprint(group: ObservedGroup | None, scope: Scope) -> str:
    """A digest of what ``scope`` covers of a group's observed state, to detect changes
    between plan and apply (chat, unmanaged fields, untouched members and undeclared
    attributes do not count)."""
    if group is None:
        return "absent"
    data: dict[str, Any] = {
        "type": group.type.value,
        "fields": {name: getattr(group, name) for name in scope.fields},
        "custom": {key: group.custom.get(key) for key in scope.custom},
        "marks": {str(m): (group.marks or {}).get(m) for m in scope.marks},
        "admins": sorted(group.admins or []) if scope.admins else None,
        "muted": {a: (group.muted or {}).get(a) for a in scope.muted},
        "banned": {a: (group.banned or {}).get(a) for a in scope.banned},
    }
    if scope.member_num:
        data["member_num"] = group.member_num
    if scope.topics:
        live = group.topics or {}
        data["topics"] = {t: live[t].model_dump() if t in live else None for t in scope.topics}
    if scope.permission_groups:
        pgs = group.permission_groups or {}
        data["permission_groups"] = {
            p: pgs[p].model_dump() if p in pgs else None for p in scope.permission_groups
        }
    members = group.members
    if scope.accounts and members is not None:
        data["members"] = [a for a in scope.accounts if a in members]
        data["declared"] = {
            account: _managed_values(members, account, names)
            for account, names in scope.declared.items()
            if account in members
        }
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _managed_values(
    members: Mapping[str, MemberView], account: str, names: tuple[str, ...]
) -> list:
    if isinstance(members, LiveMembers):  # as the API listed them, without making a Member
        return members.values_of(account, names)
    member = members[account]
    return [
        member.custom.get(n[len("custom.") :]) if n.startswith("custom.") else getattr(member, n)
        for n in names
    ]
