"""The saved plan: what `plan --out` writes and `apply --plan` executes, and its stale check.

A plan file is versioned, secret-free JSON. It records what the plan was made with (tool version,
app, endpoint, selection, refusals overridden with --force), the operations, and a fingerprint of
each touched group's observed state; before the first write, ``check_fresh`` observes those
groups again and refuses the plan if any fingerprint changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from reconciler import __version__
from reconciler.config import AppConfig
from reconciler.errors import PlanFileError, StalePlanError
from reconciler.observe import Reread, observe_accounts
from reconciler.plan import Operation, Plan, Scope, fingerprint
from reconciler.state import Group, GroupType, ObservedGroup
from reconciler.tim.calls import request_from_json, request_to_json
from reconciler.tim.client import TimClient

# 4: operations are typed requests ({"api", "request"}); selection, forced refusals and the
# scope of each fingerprint recorded. 5: a fingerprint covers the members the plan touches
PLAN_FORMAT_VERSION = 5
TOOL = "tim-reconciler"


@dataclass
class Selection:
    """Which declared groups a run covers: ``only`` (all when empty) minus ``exclude``."""

    only: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)

    @property
    def everything(self) -> bool:
        return not self.only and not self.exclude


@dataclass(repr=False)
class SavedPlan:
    path: Path
    app: AppConfig
    base_dir: Path  # where a relative local_db is found: the plan file's directory
    config_digest: str
    tool_version: str
    selection: Selection
    forced: list[str]  # the refusals --force overrode when the plan was made
    groups: list[Group]  # the touched groups, as observe needs them for the stale check
    fingerprints: dict[str, str]
    scopes: dict[str, Scope]  # what each fingerprint covers
    operations: list[Operation]
    view: dict[str, Any] | None = None  # the plan as render shows it (render.plan_view)

    def __repr__(self) -> str:
        return f"<SavedPlan {self.path}: {len(self.operations)} operation(s)>"

    def destroys(self) -> list[str]:
        return sorted({op.group for op in self.operations if op.step == "destroy"})


def check_writable(path: str | Path) -> None:
    """Refuse an output path before anything is observed, not after."""
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise PlanFileError(f"{path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise PlanFileError(f"{path}: the directory {parent} is not writable")
    if Path(path).is_dir():
        raise PlanFileError(f"{path} is a directory; give a file name for the plan")


def _stale_check_entry(group: Group) -> dict[str, Any]:
    """What apply needs to read a touched group again: the group without defaults and with its
    member list elided to ``{}`` (the stale check reads the members its scope names, never the
    declared list; a million listed members made the plan file 60 MB)."""
    entry = group.model_dump(mode="json", exclude_defaults=True, exclude={"members"})
    if group.members is not None:
        entry["members"] = {}
    return entry


def document(
    plan: Plan,
    *,
    app: dict[str, Any],
    endpoint: str,
    config_digest: str,
    desired: list[Group],
    selection: Selection,
    forced: bool,
    view: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The plan file's content (``app`` is the app section, local_db made absolute; ``view``
    what ``reconciler show`` prints from it)."""
    touched = set(plan.fingerprints)
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "tool": TOOL,
        "tool_version": __version__,
        "app": app,
        "endpoint": endpoint,
        "config_digest": config_digest,
        "selection": {"only": selection.only, "exclude": selection.exclude},
        "forced": [f"group {r.group}: {r.reason}" for r in plan.refusals if forced],
        "counts": plan.counts(),
        "calls_by_api": plan.calls_by_api(),
        "fingerprints": plan.fingerprints,
        # Shallow: asdict() would deep-copy every scope's members (seconds at scale).
        "scopes": {gid: vars(scope) for gid, scope in plan.scopes.items()},
        "groups": [_stale_check_entry(g) for g in desired if g.id in touched],
        "operations": [
            {
                "group": op.group,
                "step": op.step,
                "api": op.api,
                "request": request_to_json(op.request),
            }
            for op in plan.operations
        ],
        "pending_marks": {
            c.group_id: {str(m): a for m, a in c.marks_pending.items()}
            for c in plan.changes
            if c.marks_pending
        },
        "view": view,
    }


def write(path: str | Path, doc: dict[str, Any]) -> None:
    Path(path).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")


def read(path: str | Path) -> SavedPlan:
    """A plan file written by ``write``; PlanFileError when it is not one this version reads."""
    path = Path(path)
    try:
        doc = orjson.loads(path.read_bytes())
        if not isinstance(doc, dict) or doc.get("tool") != TOOL:
            raise ValueError("it is not a tim-reconciler plan file")
        if doc.get("format_version") != PLAN_FORMAT_VERSION:
            raise ValueError(
                f"format_version {doc.get('format_version')!r} is not "
                f"{PLAN_FORMAT_VERSION}, the one this version reads; run plan again"
            )
        selection = doc["selection"]
        return SavedPlan(
            path=path,
            app=AppConfig(**doc["app"]),
            base_dir=path.resolve().parent,
            config_digest=str(doc["config_digest"]),
            tool_version=str(doc["tool_version"]),
            selection=Selection(list(selection["only"]), list(selection["exclude"])),
            forced=[str(r) for r in doc["forced"]],
            groups=[Group.model_validate(g) for g in doc["groups"]],
            fingerprints=dict(doc["fingerprints"]),
            scopes={gid: Scope.from_json(v) for gid, v in doc["scopes"].items()},
            operations=[
                Operation(op["group"], op["step"], request_from_json(op["api"], op["request"]))
                for op in doc["operations"]
            ],
            view=doc.get("view"),
        )
    except OSError as err:
        raise PlanFileError(f"{path}: cannot be read ({err.strerror or err})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        what = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise PlanFileError(f"{path}: not a usable plan file: {what}") from None


def _scoped(group: Group, scope: Scope | None) -> Group:
    """The group as far as its fingerprint reads it: of an AVChatRoom's marks, admins, mutes
    and bans only those the plan changes."""
    if scope is None or group.type is not GroupType.AVChatRoom:
        return group
    return group.model_copy(
        update={
            "marks": {m: [] for m in scope.marks} or None,
            "admins": [] if scope.admins else None,
            "muted": dict.fromkeys(scope.muted, 0) or None,
            "banned": dict.fromkeys(scope.banned, 0) or None,
        }
    )


async def check_fresh(client: TimClient, saved: SavedPlan) -> None:
    """Read what each touched group's fingerprint covers again, and nothing more (only the
    members the plan touches: by name where the API allows it); raise StalePlanError if any
    changed. All of it before the first write."""
    now: dict[str, str] = {}

    def settle(want: Group, have: ObservedGroup | None) -> None:
        scope = saved.scopes.get(want.id)
        now[want.id] = fingerprint(have, scope) if scope is not None else ""
        if have is not None:
            have.release_members()

    needs = {
        gid: Reread(
            accounts=scope.accounts,
            group_keys=scope.custom,
            member_keys=sorted(
                {
                    name.removeprefix("custom.")
                    for names in scope.declared.values()
                    for name in names
                    if name.startswith("custom.")
                }
            ),
            member_fields=sorted(
                {
                    name
                    for names in scope.declared.values()
                    for name in names
                    if not name.startswith("custom.")
                }
            ),
            topics=bool(scope.topics),
            permission_groups=bool(scope.permission_groups),
        )
        for gid, scope in saved.scopes.items()
    }
    wanted = [_scoped(g, saved.scopes.get(g.id)) for g in saved.groups]
    await observe_accounts(client, wanted, needs, settle)
    stale = sorted(gid for gid, digest in saved.fingerprints.items() if now.get(gid) != digest)
    if stale:
        raise StalePlanError(stale)
