"""The write calls a plan is made of, in domain terms, registered by command.

Each request type lives in the module of its API family (``reconciler.tim.wire``), where it
builds its body and reads its answer; the planner builds them and the client sends them
(``TimClient.perform``). A request is a plain dataclass, so a plan file stores it as JSON and
reads it back with ``request_from_json``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from reconciler.state import GroupType
from reconciler.tim.wire.accounts import ImportAccounts
from reconciler.tim.wire.avchatroom import ChangeAdmins, ChangeMarks
from reconciler.tim.wire.common import EXACT, Joiner, Outcome, Request
from reconciler.tim.wire.groups import (
    PERMISSION_FIELDS,
    PROFILE_FIELDS,
    ChangeOwner,
    CreateGroup,
    DestroyGroup,
    ModifyGroup,
)
from reconciler.tim.wire.members import (
    BanMembers,
    ImportMembers,
    ModifyMember,
    MuteMembers,
    RemoveMembers,
    UnbanMembers,
)
from reconciler.tim.wire.permission_groups import (
    AddPermissionMembers,
    AddTopicPermissions,
    CreatePermissionGroup,
    DestroyPermissionGroups,
    ModifyPermissionGroup,
    RemovePermissionMembers,
    SetTopicPermissions,
)
from reconciler.tim.wire.topics import CreateTopic, DestroyTopics, ModifyTopic

__all__ = [
    "EXACT",
    "PERMISSION_FIELDS",
    "PROFILE_FIELDS",
    "REQUEST_TYPES",
    "AddPermissionMembers",
    "AddTopicPermissions",
    "BanMembers",
    "ChangeAdmins",
    "ChangeMarks",
    "ChangeOwner",
    "CreateGroup",
    "CreatePermissionGroup",
    "CreateTopic",
    "DestroyGroup",
    "DestroyPermissionGroups",
    "DestroyTopics",
    "ImportAccounts",
    "ImportMembers",
    "Joiner",
    "ModifyGroup",
    "ModifyMember",
    "ModifyPermissionGroup",
    "ModifyTopic",
    "MuteMembers",
    "Outcome",
    "RemoveMembers",
    "RemovePermissionMembers",
    "Request",
    "SetTopicPermissions",
    "UnbanMembers",
    "request_from_json",
    "request_to_json",
]

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
