"""Live groups -> config YAML, so a team can adopt what exists: `plan` on the result is empty."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml_rs

from reconciler.observe import read_groups
from reconciler.state import (
    DISPLAY_TYPE,
    LOCK_GROUP_ID,
    TOPIC_FIELDS,
    GroupType,
    Member,
    ObservedGroup,
    PermissionGroup,
    Topic,
    utc_text,
)
from reconciler.tim.client import TimClient

# Above this many groups a single output file is split into one file per group type.
SPLIT_ABOVE = 500


def _member_entry(member: Member) -> str | dict[str, Any]:
    entry: dict[str, Any] = {"account": member.account}
    if member.role == "Admin":
        entry["role"] = "Admin"
    if member.name_card:
        entry["name_card"] = member.name_card
    if member.msg_flag and member.msg_flag != "AcceptAndNotify":
        entry["msg_flag"] = member.msg_flag
    if member.muted_until:
        entry["muted_until"] = utc_text(member.muted_until)
    if member.custom:
        entry["custom"] = dict(member.custom)
    return member.account if len(entry) == 1 else entry


def _topic_entry(topic: Topic) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": topic.id, "name": topic.name}
    for name in TOPIC_FIELDS[1:]:
        if getattr(topic, name):
            entry[name] = getattr(topic, name)
    return entry


def _permission_group_entry(pg: PermissionGroup) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": pg.id, "name": pg.name, "permission": pg.permission or 0}
    if pg.custom_string:
        entry["custom_string"] = pg.custom_string
    entry["members"] = list(pg.members or [])
    entry["topic_permissions"] = dict(sorted((pg.topic_permissions or {}).items()))
    return entry


def group_entry(group: ObservedGroup) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": group.id, "type": DISPLAY_TYPE[group.type], "name": group.name}
    if group.owner:
        entry["owner"] = group.owner
    for name in ("introduction", "notification", "face_url"):
        if getattr(group, name):
            entry[name] = getattr(group, name)
    if group.max_members is not None and group.type is not GroupType.AVChatRoom:
        entry["max_members"] = group.max_members
    for name in ("apply_join", "invite_join", "mute_all"):
        if getattr(group, name) is None:
            continue
        if name == "apply_join" and group.type is GroupType.Community:
            continue  # not a Community setting (the config refuses it)
        if name == "invite_join" and group.type is GroupType.AVChatRoom:
            continue
        entry[name] = getattr(group, name)
    if group.custom:
        entry["custom"] = dict(group.custom)
    if group.members is not None:
        entry["members"] = [_member_entry(m) for m in group.members.values()]
    if group.admins:
        entry["admins"] = list(group.admins)
    for key in ("muted", "banned"):
        deadlines = getattr(group, key)
        if deadlines:
            entry[key] = {a: utc_text(until) for a, until in sorted(deadlines.items())}
    if group.type is GroupType.Community and group.support_topic:
        entry["support_topic"] = True
        if group.enable_permission is not None:
            entry["enable_permission"] = group.enable_permission
        if group.enable_permission and group.default_permission is not None:
            entry["default_permission"] = group.default_permission
        if group.topics is not None:
            entry["topics"] = [_topic_entry(t) for _, t in sorted(group.topics.items())]
        if group.permission_groups:
            entry["permission_groups"] = [
                _permission_group_entry(p) for _, p in sorted(group.permission_groups.items())
            ]
    return entry


def _dump(app: dict | None, groups: list[ObservedGroup] | None) -> str:
    doc: dict[str, Any] = {}
    if app is not None:
        doc["app"] = app
    if groups is not None:
        doc["groups"] = [group_entry(g) for g in groups]
    return yaml_rs.dumps(doc, compact=True).removeprefix("---\n")


async def export_groups(
    client: TimClient,
    app: dict[str, Any],
    ids: list[str] | None,
    output: str | None,
    *,
    local_db: Path | None = None,
) -> list[str]:
    """Write the YAML of groups ``ids`` (all of the app's when None) with the app section
    ``app``; return lines telling what was written. ``local_db``: the embedded emulator's
    file, which the written config must keep pointing at."""
    if not ids:  # every group of the app but the app lock (reconciler.lock), which is ours
        ids = [gid for gid in await client.iter_all_group_ids() if gid != LOCK_GROUP_ID]
    unavailable: set[str] = set()
    groups = await read_groups(client, list(ids), unavailable)
    groups.sort(key=lambda g: (g.type.value, g.id))
    notes = []
    if unavailable:
        notes.append(
            f"warning: {', '.join(sorted(unavailable))} not available to this app (an edition "
            "feature): what they read (AVChatRoom admins, mutes or bans; Community topics or "
            "permission groups) is left out of the export"
        )
    target_dir = Path(output).parent if output and Path(output).suffix else Path(output or ".")
    if local_db is not None:
        app = {**app, "local_db": os.path.relpath(local_db.resolve(), target_dir.resolve())}
    if output is None:
        print(_dump(app, groups), end="")
        return [*notes, f"exported {len(groups)} group(s)"]
    target = Path(output)
    if target.suffix in (".yaml", ".yml") and len(groups) <= SPLIT_ABOVE:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_dump(app, groups))
        return [*notes, f"wrote {len(groups)} group(s) to {target}"]
    # A directory: the app section once, then one file per group type.
    if target.suffix in (".yaml", ".yml"):
        target = target.with_suffix("")
    target.mkdir(parents=True, exist_ok=True)
    (target / "app.yaml").write_text(_dump(app, None))
    lines = [*notes, f"wrote {target / 'app.yaml'}"]
    for gtype in GroupType:
        subset = [g for g in groups if g.type is gtype]
        if subset:
            path = target / f"groups-{DISPLAY_TYPE[gtype].lower()}.yaml"
            path.write_text(_dump(None, subset))
            lines.append(f"wrote {len(subset)} group(s) to {path}")
    return lines
