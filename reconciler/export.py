"""Live groups -> config YAML, so a team can adopt what exists: `plan` on the result is empty."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import yaml_rs

from reconciler.config.loader import (
    CONFIG_MAX_BYTES,
    TYPE_DIRECTORIES,
    FileProblem,
    config_files,
    read_regular,
    render_sources,
)
from reconciler.errors import UsageError
from reconciler.observe import read_groups
from reconciler.state import (
    DISPLAY_TYPE,
    PATTERN_CHARS,
    TOOL_GROUP_IDS,
    TOPIC_FIELDS,
    GroupType,
    MembersMode,
    MemberView,
    ObservedGroup,
    PermissionGroup,
    Topic,
    matching,
    utc_text,
)
from reconciler.tim.client import TimClient
from reconciler.tim.wire.groups import iter_all_group_ids

# Above this many groups a single output file is split into one file per group type.
SPLIT_ABOVE = 500

# per-type: one file (or, in a directory, one file per group type); per-group: one file per
# group, in the directory of its type (the loader reads those: TYPE_DIRECTORIES)
Layout = Literal["per-type", "per-group"]


def _member_entry(member: MemberView) -> str | dict[str, Any]:
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


def group_entry(
    group: ObservedGroup, members_mode: MembersMode = "authoritative"
) -> dict[str, Any]:
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
        if members_mode == "additive":
            entry["members_mode"] = "additive"
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


@dataclass(frozen=True, slots=True)
class Exported:
    """One group as export writes it: ``text`` is its item of a ``groups:`` list, whole lines.
    A group is turned into text as soon as it is read, so the live models are not all held."""

    type: GroupType
    id: str
    text: str

    @classmethod
    def of(cls, group: ObservedGroup, mode: MembersMode) -> Exported:
        text = _yaml({"groups": [group_entry(group, mode)]}).removeprefix("groups:\n")
        return cls(group.type, group.id, text)


def _yaml(doc: dict[str, Any]) -> str:
    text = yaml_rs.dumps(doc, compact=True).removeprefix("---\n")
    return text if text.endswith("\n") else text + "\n"  # as `fmt --check` wants a file


def _dump(app: dict | None, groups: list[Exported] | None) -> str:
    head = _yaml({"app": app}) if app is not None else ""
    return head + ("groups:\n" + "".join(g.text for g in groups) if groups is not None else "")


# The first line of every file export writes: export replaces a file only while it starts with
# this line and the digest in it still matches the rest (nobody edited it since).
HEADER = "# Written by reconciler export; it replaces this file only while unchanged. sha256: "


def _signed(text: str) -> str:
    return f"{HEADER}{hashlib.sha256(text.encode()).hexdigest()}\n{text}"


def _is_own(text: str) -> bool:
    head, _, body = text.partition("\n")
    return head.startswith(HEADER) and _signed(body) == text


def _declared(
    directory: Path, writing: set[Path], variables: dict[str, str], values: list[str]
) -> tuple[dict[str, Path], Path | None]:
    """The group IDs the directory's other config files declare (where), and the file that
    declares its `app:` section; templates rendered as the loader does. A file that does not
    parse is left to the loader to report."""
    groups: dict[str, Path] = {}
    app = None
    if not directory.is_dir() or not config_files(directory):
        return groups, app
    for path, text in render_sources(directory, variables, values).items():
        if path.resolve() in writing:
            continue
        try:
            data = yaml_rs.loads(text)
        except yaml_rs.YAMLDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        if "app" in data:
            app = path
        for item in data.get("groups") or []:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                groups.setdefault(item["id"], path)
    return groups, app


def _check_targets(files: Iterable[Path], force: bool) -> None:
    """Refuse to replace a file export did not write (unless ``force``) or any app.yaml."""
    for path in files:
        if not path.exists() and not path.is_symlink():
            continue
        if path.name == "app.yaml":
            raise UsageError(
                f"{path} exists; export never replaces an app.yaml (even with --force): "
                "export to a directory, which keeps its app.yaml, or to another file name"
            )
        try:
            own = _is_own(read_regular(path, CONFIG_MAX_BYTES).decode())
        except (FileProblem, UnicodeDecodeError):
            own = False
        if not own and not force:
            raise UsageError(
                f"{path} exists and was not written by export (or was edited since); "
                "export replaces only its own unchanged files: choose another --output, or "
                "add --force to replace it"
            )


def _own_files_not_written(directory: Path, writing: set[Path]) -> set[Path]:
    """The directory's config files an earlier export wrote and nobody edited since, which this
    export does not write: with ``--all`` their groups are gone from the app (or moved to another
    file), so keeping them would make the next plan create those groups again."""
    stale = set()
    for path in config_files(directory) if directory.is_dir() else []:
        resolved = path.resolve()
        if resolved in writing or path.name == "app.yaml" or path.is_symlink():
            continue  # an app.yaml is kept, as export never replaces one
        if not path.is_file():
            continue
        try:
            if _is_own(read_regular(path, CONFIG_MAX_BYTES).decode()):
                stale.add(resolved)
        except (FileProblem, UnicodeDecodeError):
            continue
    return stale


def group_file(group: Exported) -> Path:
    """The file of one group in the per-group layout: in its type's directory, named by its ID
    with every character a file name could trip on percent-encoded (``work/class-1a.yaml``)."""
    return Path(TYPE_DIRECTORIES[group.type], f"{quote(group.id, safe='@#')}.yaml")


async def _chosen_ids(client: TimClient, names: list[str] | None) -> tuple[list[str], list[str]]:
    """The group IDs to export and the names that matched none. ``names`` None: every group of
    the app but the tool's own (the lock, the revision record). IDs alone are read directly; a
    pattern among them lists the app's groups (get_appid_group_list) to match against."""
    if names is not None and not any(PATTERN_CHARS & set(n) for n in names):
        return list(dict.fromkeys(names)), []
    known = [gid for gid in await iter_all_group_ids(client) if gid not in TOOL_GROUP_IDS]
    if names is None:
        return known, []
    hits = matching(known, names)
    chosen = set().union(*hits.values())
    return [gid for gid in known if gid in chosen], [n for n, found in hits.items() if not found]


async def export_groups(
    client: TimClient,
    app: dict[str, Any],
    names: list[str] | None,
    output: str | None,
    *,
    members_mode: MembersMode = "authoritative",
    layout: Layout = "per-type",
    strict: bool = False,
    local_db: Path | None = None,
    force: bool = False,
    variables: dict[str, str] | None = None,
    values: list[str] | None = None,
) -> list[str]:
    """Write the YAML of the groups ``names`` cover (IDs or shell-style patterns; all of the
    app's when None) with the app section ``app``; return lines telling what was written.
    A name that matches no group is listed and skipped (UsageError with ``strict``).
    ``members_mode``: what each exported member list declares. ``layout``: see ``Layout``.
    ``local_db``: the embedded emulator's file, which the written config must keep pointing
    at. Nothing is written when a file export would replace is not its own (see
    ``_check_targets``) or when another file of the target directory (templates rendered with
    ``variables`` and ``values``) already declares an exported group."""
    target = Path(output) if output else None
    to_file = target is not None and target.suffix in (".yaml", ".yml")
    if layout == "per-group" and (target is None or to_file):
        raise UsageError(
            f"--layout per-group writes one file per group into a directory: give --output a "
            f"directory{f', not the file {output}' if output else ''}"
        )
    ids, unknown = await _chosen_ids(client, names)
    unavailable: set[str] = set()
    exported: list[Exported] = []
    await read_groups(
        client, ids, unavailable, unknown, lambda g: exported.append(Exported.of(g, members_mode))
    )
    groups = sorted(exported, key=lambda g: (g.type.value, g.id))
    notes = []
    listed = ", ".join(repr(n) for n in unknown)
    if unknown and (strict or not groups):
        raise UsageError(
            f"--group {listed}: no group of the app matches; nothing was written (check the "
            "IDs in `export --all`'s output"
            + (", or leave out --strict to export the others)" if groups else ")")
        )
    if unknown:
        notes.append(f"warning: skipped --group {listed}: no group of the app matches")
    if unavailable:
        notes.append(
            f"warning: {', '.join(sorted(unavailable))} not available to this app (an edition "
            "feature): what they read (AVChatRoom admins, mutes or bans; Community topics or "
            "permission groups) is left out of the export"
        )
    target_dir = target.parent if to_file and target is not None else Path(output or ".")
    if local_db is not None:
        app = {**app, "local_db": os.path.relpath(local_db.resolve(), target_dir.resolve())}
    if target is None:
        print(_dump(app, groups), end="")
        return [*notes, f"exported {len(groups)} group(s)"]
    single = to_file and len(groups) <= SPLIT_ABOVE
    if to_file and not single:
        target = target_dir = target.with_suffix("")
    app_file = None if single else target / "app.yaml"
    files: dict[Path, list[Exported] | None] = {}  # what to write: path -> its groups
    if app_file is None:
        files[target] = groups
    else:  # a directory: the app section once, then one file per group type or per group
        if app_file.exists() or app_file.is_symlink():
            notes.append(f"kept {app_file} as it is: export never replaces an app.yaml")
        else:
            files[app_file] = None
        if layout == "per-group":
            files.update((target / group_file(g), [g]) for g in groups)
        else:
            for gtype in GroupType:
                of_type = [g for g in groups if g.type is gtype]
                if of_type:
                    files[target / f"groups-{DISPLAY_TYPE[gtype].lower()}.yaml"] = of_type
    _check_targets(files, force)
    # Every file lies under target_dir: resolving the directory once is resolving them all
    # (per-group: tens of thousands of files).
    root = target_dir.resolve()
    writing = {root / p.relative_to(target_dir) for p in files}
    stale = _own_files_not_written(target_dir, writing) if names is None and not single else set()
    declared, app_from = _declared(target_dir, writing | stale, variables or {}, values or [])
    for group in groups:
        if group.id in declared:
            raise UsageError(
                f"{declared[group.id]} already declares group {group.id!r}; the export would "
                "declare it twice: export to another directory, or leave the group out "
                "(export --group ID for the others)"
            )
    if app_from is not None and (single or app_file in files):
        files = {path: subset for path, subset in files.items() if path != app_file}
        notes.append(f"wrote no app section: {app_from} has the directory's")
    written = 0
    for folder in {path.parent for path in files}:
        folder.mkdir(parents=True, exist_ok=True)
    for path, subset in files.items():
        with_app = (single or subset is None) and app_from is None
        path.write_text(_signed(_dump(app if with_app else None, subset)))
        if layout == "per-group" and subset:
            written += 1
        else:
            notes.append(f"wrote {len(subset)} group(s) to {path}" if subset else f"wrote {path}")
    if written:
        notes.append(f"wrote {written} group(s) to {target}, one file each in its type's directory")
    for path in sorted(stale):  # only once everything else is written: nothing lost on an error
        path.unlink()
        shown = target_dir / path.relative_to(root)
        notes.append(
            f"removed {shown}: an earlier export's unchanged file, for groups that are gone "
            "from the app or that this export wrote elsewhere"
        )
    return notes
