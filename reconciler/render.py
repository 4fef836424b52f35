"""Views of a plan: text for terminals and logs, markdown for pull requests, json for machines."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from reconciler import __version__
from reconciler.diff import (
    MEMBER_ACTION_ORDER,
    FieldChange,
    GroupChange,
    field_order,
)
from reconciler.plan import Operation, Plan, calls_by_api, members_before
from reconciler.state import (
    DISPLAY_TYPE,
    GROUP_FIELDS,
    MEMBER_ATTRIBUTES,
    PERMISSION_GROUP_FIELDS,
    TOPIC_FIELDS,
    GroupType,
    utc_text,
)
from reconciler.tim.calls import (
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
    ImportMembers,
    ModifyGroup,
    ModifyMember,
    ModifyPermissionGroup,
    ModifyTopic,
    MuteMembers,
    RemoveMembers,
    RemovePermissionMembers,
    UnbanMembers,
)
from reconciler.tim.limits import Limits, min_seconds

# The JSON view's own version; it changes when a field of that document does.
# 4: added members' attributes, tool, tool_version, app, endpoint, has_changes, empty;
# AVChatRoom admins, mutes and bans; 5: notes (declared fields the server did not report),
# Community topics and permission groups; 6: destructive, and counts that agree with each
# group's action (a destroy counts its members removed; a group with only pending marks is none)
JSON_FORMAT_VERSION = 6
MARKDOWN_LIMIT = 60_000
SYMBOL = {"create": "+", "update": "~", "destroy": "-"}
COLOR = {"+": "green", "~": "yellow", "-": "red"}


def _value(value: Any) -> str:
    if isinstance(value, str | dict | list):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "(unset)"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _show(field: str, value: Any) -> str:
    """A value as a reviewer reads it: mute deadlines as UTC times, strings quoted."""
    if field == "muted_until" and isinstance(value, int):
        if not value:
            return "not muted"
        return utc_text(value)
    return _value(value)


def _field_line(field: str, before: Any, after: Any, create: bool) -> tuple[str, str]:
    if create or before is None:
        return "+", f"{field}: {_show(field, after)}"
    if after is None:
        return "-", f"{field}: {_show(field, before)}"
    return "~", f"{field}: {_show(field, before)} -> {_show(field, after)}"


def change_lines(change: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(indent, symbol, text) lines describing one group's change (a view's ``changes`` item)."""
    title = f"group {change['group']} ({change['type']})"
    # A group whose only news is marks waiting for members to come online changes nothing.
    symbol = " " if change["empty"] else SYMBOL[change["action"]]
    lines: list[tuple[int, str, str]] = [(0, symbol, title)]
    if change["action"] == "destroy":
        members = change.get("members_before") or 0
        lines.append((1, "-", f"destroy group with {members} member(s) (needs --allow-destroy)"))
        return lines
    create = change["action"] == "create"
    for fc in change["fields"]:
        lines.append((1, *_field_line(fc["field"], fc["before"], fc["after"], create)))
    for mc in change["members"]:
        account = mc["account"]
        if mc["action"] == "add":
            lines.append((1, "+", f"member {account}{_attributes_text(mc.get('attributes'))}"))
        elif mc["action"] == "remove":
            lines.append((1, "-", f"member {account}"))
        else:
            details = ", ".join(
                f"{fc['field']} {_show(fc['field'], fc['before'])} -> "
                f"{_show(fc['field'], fc['after'])}"
                for fc in mc["fields"]
            )
            lines.append((1, "~", f"member {account}: {details}"))
    for symbol, verb, key in (("+", "set", "marks_set"), ("-", "delete", "marks_delete")):
        for mark, accounts in change[key].items():
            lines.append((1, symbol, f"mark {mark} {verb}: {', '.join(accounts)}"))
    for mark, accounts in change["marks_pending"].items():
        lines.append((1, "?", f"mark {mark} pending until online: {', '.join(accounts)}"))
    lines.extend(_room_lines(change))
    lines.extend(_topic_lines(change))
    lines.extend(_permission_group_lines(change))
    return lines


def _permission_group_lines(change: dict[str, Any]) -> list[tuple[int, str, str]]:
    lines: list[tuple[int, str, str]] = []
    for pc in change.get("permission_groups", ()):
        pid = pc["permission_group"]
        if pc["action"] == "destroy":
            lines.append((1, "-", f"permission group {pid}: delete (needs --allow-destroy)"))
            continue
        create = pc["action"] == "create"
        lines.append((1, "+" if create else "~", f"permission group {pid}"))
        for fc in pc["fields"]:
            lines.append((2, *_field_line(fc["field"], fc["before"], fc["after"], create)))
        lines += [(2, "+", f"member {a}") for a in pc["members_add"]]
        lines += [(2, "-", f"member {a}") for a in pc["members_remove"]]
        for fc in pc["topic_permissions"]:
            line = _field_line(f"topic {fc['field']} permission", fc["before"], fc["after"], create)
            lines.append((2, *line))
    return lines


def _topic_lines(change: dict[str, Any]) -> list[tuple[int, str, str]]:
    """A Community's topics: what each one created or modified gets, and destroys."""
    lines: list[tuple[int, str, str]] = []
    for tc in change.get("topics", ()):
        topic = tc["topic"]
        if tc["action"] == "destroy":
            lines.append((1, "-", f"topic {topic}: destroy (needs --allow-destroy)"))
            continue
        symbol = "+" if tc["action"] == "create" else "~"
        lines.append((1, symbol, f"topic {topic}"))
        for fc in tc["fields"]:
            create = tc["action"] == "create"
            lines.append((2, *_field_line(fc["field"], fc["before"], fc["after"], create)))
    return lines


def _room_lines(change: dict[str, Any]) -> list[tuple[int, str, str]]:
    """An AVChatRoom's admins, mutes and bans."""
    lines = [(1, "+", f"admin {a}") for a in change.get("admins_add", ())]
    lines += [(1, "-", f"admin {a}") for a in change.get("admins_remove", ())]
    for fc in change.get("muted", ()):
        before, after = _show("muted_until", fc["before"]), _show("muted_until", fc["after"])
        lines.append((1, "~", f"muted {fc['field']}: {before} -> {after}"))
    for fc in change.get("banned", ()):
        if fc["after"]:
            until = utc_text(fc["after"])
            lines.append((1, "-", f"ban {fc['field']} until {until} (removes them from the room)"))
        else:
            lines.append((1, "+", f"unban {fc['field']} (banned until {utc_text(fc['before'])})"))
    return lines


def _member_attributes(member) -> dict[str, Any]:
    """The managed attributes an added member is given (what the text shows after its name)."""
    if member is None:
        return {}
    shown: dict[str, Any] = {}
    for name in MEMBER_ATTRIBUTES:
        value = getattr(member, name)
        if value not in (None, 0):
            shown[name] = value
    custom = {k: v for k, v in member.custom.items() if v is not None}
    if custom:
        shown["custom"] = custom
    return shown


def _attributes_text(attributes: dict[str, Any] | None) -> str:
    if not attributes:
        return ""
    shown = [f"{k} {_show(k, v)}" for k, v in attributes.items() if k != "custom"]
    shown += [f"custom.{k} {_value(v)}" for k, v in attributes.get("custom", {}).items()]
    return f" ({', '.join(shown)})"


def summary_line(view: dict[str, Any]) -> str:
    c = view["counts"]
    if view["errors"]:
        return f"The plan has {len(view['errors'])} error(s); fix them and plan again."
    if not view["has_changes"]:
        text = "No changes. The live groups match the configuration."
        if c["marks_pending"]:
            text += f" ({c['marks_pending']} mark(s) pending on offline members.)"
        return text
    return (
        f"Plan: {c['groups_create']} group(s) to create, {c['groups_update']} to update, "
        f"{c['groups_destroy']} to destroy; members {c['members_add']} to add, "
        f"{c['members_modify']} to modify, {c['members_remove']} to remove; "
        f"{c['api_calls']} API call(s)."
    )


def calls_lines(view: dict[str, Any]) -> list[str]:
    calls = view["calls_by_api"]
    if not calls:
        return []
    parts = ", ".join(f"{api} {n}" for api, n in calls.items())
    return [f"API calls: {parts}", f"Minimum time at the rate limit: {view['min_seconds']:.2f} s"]


def learned_lines(limits: Limits | None, operations: list[Operation]) -> list[str]:
    """One line per API whose batch size the server taught this run (``Limits.learn``), with
    the plan's calls and floor recomputed at that size."""
    if limits is None or not limits.learned:
        return []
    calls = calls_by_api(operations, limits)
    planned = len(operations)
    lines = []
    for api in sorted(limits.learned):
        unit = limits.unit_of(api)
        size = limits.batch_of(api)
        lines.append(
            f"Warning: {api}: the server refused calls of {min(limits.refused[api])} {unit}; "
            f"this run sent at most {size} per call (set app.limits.batch.{api}: {size} to "
            "plan with it)."
        )
    if operations:
        lines.append(
            f"At the learned sizes the plan is {sum(calls.values())} call(s) ({planned} planned), "
            f"at least {limits.min_seconds(calls):.2f} s at the rate limit."
        )
    return lines


def problem_lines(view: dict[str, Any]) -> list[str]:
    lines = [f"Note: {n}" for n in view.get("notes", ())]  # absent from older saved plans
    lines += [f"Error: {e}" for e in view["errors"]]
    for r in view["refusals"]:
        how = "override with --force" if r["overridable"] else "not overridable"
        lines.append(f"Refused: group {r['group']}: {r['reason']} ({how})")
    return lines


def _change_view(ch: GroupChange) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "group": ch.group_id,
        "type": DISPLAY_TYPE[ch.type],
        "action": "none" if ch.empty else ch.action,
        "empty": ch.empty,
        "fields": [fc.__dict__ for fc in ch.fields],
        "members": [
            {"account": m.account, "action": m.action, "fields": [f.__dict__ for f in m.fields]}
            | ({"attributes": _member_attributes(m.member)} if m.action == "add" else {})
            for m in ch.members
        ],
        # JSON keys are strings: a saved plan reads back exactly what was shown.
        "marks_set": {str(m): a for m, a in ch.marks_set.items()},
        "marks_delete": {str(m): a for m, a in ch.marks_delete.items()},
        "marks_pending": {str(m): a for m, a in ch.marks_pending.items()},
        "admins_add": ch.admins_add,
        "admins_remove": ch.admins_remove,
        "muted": [fc.__dict__ for fc in ch.muted],
        "banned": [fc.__dict__ for fc in ch.banned],
        "topics": [
            {"topic": tc.topic, "action": tc.action, "fields": [f.__dict__ for f in tc.fields]}
            for tc in ch.topics
        ],
        "permission_groups": [
            {
                "permission_group": pc.permission_group,
                "action": pc.action,
                "fields": [f.__dict__ for f in pc.fields],
                "members_add": pc.members_add,
                "members_remove": pc.members_remove,
                "topic_permissions": [f.__dict__ for f in pc.topic_permissions],
            }
            for pc in ch.permission_groups
        ],
    }
    if ch.action == "destroy":
        doc["members_before"] = members_before(ch)
    return doc


# What makes a plan destructive: it destroys something or takes members away.
_DESTRUCTIVE = (
    DestroyGroup,
    DestroyTopics,
    DestroyPermissionGroups,
    RemoveMembers,
    BanMembers,
    RemovePermissionMembers,
)


def destructive(operations: list[Operation]) -> bool:
    return any(isinstance(op.request, _DESTRUCTIVE) for op in operations)


def plan_view(
    plan: Plan, rate_limit: float, *, app: int | None = None, endpoint: str | None = None
) -> dict[str, Any]:
    """The plan as one JSON-ready document: everything each view shows, and where it applies
    (``app``: the SDKAppID, ``endpoint``: the URL or the emulator). The text and markdown views
    are made from it, so a saved plan (which keeps it) shows exactly as it did."""
    calls = plan.calls_by_api()
    return {
        "format_version": JSON_FORMAT_VERSION,
        "tool": "tim-reconciler",
        "tool_version": __version__,
        "app": app,
        "endpoint": endpoint,
        "has_changes": plan.has_changes,
        "destructive": destructive(plan.operations),
        "counts": plan.counts(),
        "calls_by_api": calls,
        "min_seconds": round(min_seconds(calls, plan.limits or rate_limit), 3),
        "errors": plan.errors,
        "notes": plan.notes,
        "refusals": [r.__dict__ for r in plan.refusals],
        "changes": [_change_view(ch) for ch in plan.reviewable],
        "operations": [
            {"group": op.group, "step": op.step, "api": op.api, "items": op.items}
            for op in plan.operations
        ],
    }


def _view(plan: Plan | dict[str, Any], rate_limit: float | None) -> dict[str, Any]:
    return plan if isinstance(plan, dict) else plan_view(plan, rate_limit or 0)


def render_text(plan: Plan | dict[str, Any], rate_limit: float | None, color: bool) -> str:
    view = _view(plan, rate_limit)
    out: list[str] = []
    for change in view["changes"]:
        for indent, symbol, text in change_lines(change):
            line = f"{'    ' * indent}{symbol} {text}"
            if color and symbol in COLOR:
                line = f"[{COLOR[symbol]}]{_escape(line)}[/]"
            elif color:
                line = _escape(line)
            out.append(line)
        out.append("")
    out.extend(calls_lines(view))
    out.extend(problem_lines(view))
    out.append(summary_line(view))
    return "\n".join(out)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def render_markdown(plan: Plan | dict[str, Any], rate_limit: float | None) -> str:
    view = _view(plan, rate_limit)
    c = view["counts"]
    head = [
        "## tim-reconciler plan",
        "",
        "| groups create | update | destroy | members add | modify | remove | API calls |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {c['groups_create']} | {c['groups_update']} | {c['groups_destroy']} | "
        f"{c['members_add']} | {c['members_modify']} | {c['members_remove']} | "
        f"{c['api_calls']} |",
        "",
        summary_line(view),
        "",
    ]
    if view.get("app") is not None:
        head.insert(2, f"App {_code(str(view['app']))} at {_code(str(view['endpoint']))}")
        head.insert(3, "")
    problems = problem_lines(view)
    if problems:
        head += _fenced("text", problems) + [""]
    head += [f"- {line}" for line in calls_lines(view)]
    head.append("")
    body: list[str] = []
    size = sum(len(x) + 1 for x in head)
    shown = 0
    changes = view["changes"]
    for change in changes:
        lines = change_lines(change)
        _, symbol, title = lines[0]
        block = [
            f"<details><summary><code>{_html(f'{symbol} {title}')}</code></summary>",
            "",
            *_fenced("diff", [f"{_diff_symbol(s)} {'  ' * i}{text}" for i, s, text in lines[1:]]),
            "</details>",
            "",
        ]
        block_size = sum(len(x) + 1 for x in block)
        if size + block_size > MARKDOWN_LIMIT - 500:
            break
        body.extend(block)
        size += block_size
        shown += 1
    if shown < len(changes):
        body.append(
            f"_{len(changes) - shown} more changed group(s) not shown to stay under "
            f"{MARKDOWN_LIMIT:,} characters; see the plan file or the text output for all._"
        )
    return "\n".join(head + body)


# Markdown that no ID or value can escape, in GitHub's and GitLab's renderers (CommonMark):
# text in HTML is entity-escaped, "@" included (no mention); everything else sits in code,
# where nothing renders, behind a fence longer than any run of backticks it holds.


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def _html(text: str) -> str:
    return html.escape(_one_line(text), quote=True).replace("@", "&#64;")


def _ticks(text: str) -> int:
    return max((len(run) for run in re.findall("`+", text)), default=0)


def _code(text: str) -> str:
    """An inline code span holding ``text`` exactly."""
    text = _one_line(text)
    fence = "`" * (_ticks(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""  # (one space is stripped)
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(info: str, lines: list[str]) -> list[str]:
    """A fenced code block holding ``lines`` exactly (each kept to one line)."""
    lines = [_one_line(line) for line in lines]
    fence = "`" * max(3, max(map(_ticks, lines), default=0) + 1)
    return [f"{fence}{info}", *lines, fence]


def _diff_symbol(symbol: str) -> str:
    return {"?": "!", "~": "!"}.get(symbol, symbol)


def render_json(plan: Plan | dict[str, Any], rate_limit: float | None = None) -> str:
    return json.dumps(_view(plan, rate_limit), indent=2, ensure_ascii=False, default=str)


# ---- What a saved plan shows: made from its operations, the only part of it that runs ----


def _flat_before(changes: list[FieldChange]) -> dict[str, Any]:
    """Field -> the value it had, a whole ``custom`` mapping spread over ``custom.KEY``."""
    out: dict[str, Any] = {}
    for fc in changes:
        if fc.field == "custom":
            out.update({f"custom.{k}": v for k, v in (fc.before or {}).items()})
        elif fc.before is not None:
            out[fc.field] = fc.before
    return out


def before_values(plan: Plan) -> dict[str, dict[str, Any]]:
    """What each change of ``plan`` replaces, per group: the live values a saved plan shows
    beside the new ones its operations carry (labels only: nothing here is executed)."""
    out: dict[str, dict[str, Any]] = {}
    for ch in plan.reviewable:
        entry: dict[str, Any] = {
            "fields": _flat_before(ch.fields),
            "members": {
                m.account: _flat_before(m.fields) for m in ch.members if m.action == "modify"
            },
            "muted": {fc.field: fc.before for fc in ch.muted},
            "banned": {fc.field: fc.before for fc in ch.banned},
            "topics": {t.topic: _flat_before(t.fields) for t in ch.topics},
            "permission_groups": {
                p.permission_group: _flat_before(p.fields) for p in ch.permission_groups
            },
            "topic_permissions": {
                p.permission_group: {fc.field: fc.before for fc in p.topic_permissions}
                for p in ch.permission_groups
            },
        }
        if ch.action == "destroy":
            entry["members_before"] = _change_view(ch)["members_before"]
        entry = {k: v for k, v in entry.items() if v or k == "members_before"}
        if entry:
            out[ch.group_id] = entry
    return out


def _custom_fields(prefix: str, custom: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}{k}": v for k, v in sorted(custom.items())}


class _GroupView:
    """One group's ``changes`` item of a view, built operation by operation."""

    def __init__(
        self, gid: str, gtype: GroupType, before: dict[str, Any], members_managed: bool = True
    ) -> None:
        self.gid, self.type, self.before = gid, gtype, before
        self.members_managed = members_managed  # else a created group's owner is no news
        self.action = "update"
        self.fields: dict[str, Any] = {}
        self.members: dict[str, dict[str, Any]] = {}
        self.marks: dict[str, dict[str, list[str]]] = {"marks_set": {}, "marks_delete": {}}
        self.admins: dict[str, list[str]] = {"admins_add": [], "admins_remove": []}
        self.muted: dict[str, int] = {}
        self.banned: dict[str, int] = {}
        self.topics: dict[str, dict[str, Any]] = {}
        self.pgs: dict[str, dict[str, Any]] = {}

    def _member(self, account: str, action: str) -> dict[str, Any]:
        entry = self.members.setdefault(account, {"action": action, "values": {}})
        if action != "modify":
            entry["action"] = action
        return entry

    def _member_values(self, account: str, values: dict[str, Any]) -> None:
        self._member(account, "modify")["values"].update(values)

    def add(self, req: Any) -> None:
        """Take in one request (``reconciler.tim.calls``) of this group."""
        if isinstance(req, CreateGroup):
            self.action = "create"
            values = {n: getattr(req, n) for n in GROUP_FIELDS if getattr(req, n, None) is not None}
            values |= _custom_fields("custom.", req.custom)
            if req.support_topic:
                values["support_topic"] = True
            self.fields.update(values)
            if req.owner and self.members_managed:
                self._member(req.owner, "add")
            for j in req.members:
                self._member(j.account, "add")["values"].update(
                    ({"role": "Admin"} if j.admin else {}) | _custom_fields("custom.", j.custom)
                )
        elif isinstance(req, DestroyGroup):
            self.action = "destroy"
        elif isinstance(req, ModifyGroup):
            self.fields.update(
                {n: getattr(req, n) for n in GROUP_FIELDS if getattr(req, n, None) is not None}
            )
            self.fields.update(_custom_fields("custom.", req.custom))
        elif isinstance(req, ChangeOwner):
            self.fields["owner"] = req.owner
            if self.members.get(req.owner, {}).get("action") != "add":
                self._member_values(req.owner, {"role": "Owner"})
        elif isinstance(req, ImportMembers):
            for j in req.members:
                self._member(j.account, "add")["values"].update(
                    {"role": "Admin"} if j.admin else {}
                )
        elif isinstance(req, ModifyMember):
            values = {n: getattr(req, n) for n in MEMBER_ATTRIBUTES if getattr(req, n) is not None}
            self._member_values(req.account, values | _custom_fields("custom.", req.custom))
        elif isinstance(req, MuteMembers):
            for account in req.accounts:
                if self.type is GroupType.AVChatRoom:
                    self.muted[account] = req.muted_until
                else:
                    self._member_values(account, {"muted_until": req.muted_until})
        elif isinstance(req, RemoveMembers):
            for account in req.accounts:
                self._member(account, "remove")
        elif isinstance(req, ChangeAdmins):
            self.admins["admins_remove" if req.remove else "admins_add"].extend(req.accounts)
        elif isinstance(req, BanMembers | UnbanMembers):
            until = req.banned_until if isinstance(req, BanMembers) else 0
            self.banned.update(dict.fromkeys(req.accounts, until))
        elif isinstance(req, ChangeMarks):
            marks = self.marks["marks_delete" if req.delete else "marks_set"]
            for account, numbers in req.marks.items():
                for mark in numbers:
                    marks.setdefault(str(mark), []).append(account)
        else:
            self._add_community(req)

    def _add_community(self, req: Any) -> None:
        if isinstance(req, CreateTopic | ModifyTopic):
            topic = self.topics.setdefault(req.topic, {"action": "modify", "values": {}})
            if isinstance(req, CreateTopic):
                topic["action"] = "create"
            values = {n: getattr(req, n, None) for n in TOPIC_FIELDS}
            topic["values"].update({k: v for k, v in values.items() if v is not None})
        elif isinstance(req, DestroyTopics):
            for t in req.topics:
                self.topics[t] = {"action": "destroy", "values": {}}
        elif isinstance(req, DestroyPermissionGroups):
            for p in req.permission_groups:
                self._pg(p)["action"] = "destroy"
        else:
            pg = self._pg(req.permission_group)
            if isinstance(req, CreatePermissionGroup):
                pg["action"] = "create"
            if isinstance(req, CreatePermissionGroup | ModifyPermissionGroup):
                values = {n: getattr(req, n) for n in PERMISSION_GROUP_FIELDS}
                pg["values"].update({k: v for k, v in values.items() if v is not None})
            elif isinstance(req, RemovePermissionMembers):
                pg["members_remove"].extend(req.accounts)
            elif isinstance(req, AddPermissionMembers):
                pg["members_add"].extend(req.accounts)
            elif isinstance(req, AddTopicPermissions):
                pg["topic_permissions"].update(req.topics)

    def _pg(self, pid: str) -> dict[str, Any]:
        return self.pgs.setdefault(
            pid,
            {
                "action": "modify",
                "values": {},
                "members_add": [],
                "members_remove": [],
                "topic_permissions": {},
            },
        )

    def view(self, pending: dict[str, list[str]]) -> dict[str, Any]:
        before = self.before
        fields_before = before.get("fields", {})
        members_before = before.get("members", {})

        def changes(values: dict[str, Any], was: dict[str, Any]) -> list[dict[str, Any]]:
            fields = [FieldChange(k, was.get(k), v) for k, v in values.items()]
            return [fc.__dict__ for fc in sorted(fields, key=field_order)]

        members = []
        by_order = sorted(
            self.members.items(), key=lambda kv: (MEMBER_ACTION_ORDER[kv[1]["action"]], kv[0])
        )
        for account, entry in by_order:
            item: dict[str, Any] = {"account": account, "action": entry["action"], "fields": []}
            if entry["action"] == "add":
                attributes = {
                    k: v for k, v in entry["values"].items() if not k.startswith("custom.")
                }
                custom = {
                    k[len("custom.") :]: v
                    for k, v in entry["values"].items()
                    if k.startswith("custom.") and v is not None
                }
                item["attributes"] = attributes | ({"custom": custom} if custom else {})
            elif entry["action"] == "modify":
                item["fields"] = changes(entry["values"], members_before.get(account, {}))
            members.append(item)
        topics_before = before.get("topics", {})
        pgs_before = before.get("permission_groups", {})
        tp_before = before.get("topic_permissions", {})
        doc: dict[str, Any] = {
            "group": self.gid,
            "type": DISPLAY_TYPE[self.type],
            "action": self.action,
            "fields": changes(self.fields, fields_before),
            "members": members,
            **{k: dict(sorted(v.items())) for k, v in self.marks.items()},
            "marks_pending": pending,
            **self.admins,
            "muted": [
                {"field": a, "before": before.get("muted", {}).get(a, 0), "after": until}
                for a, until in sorted(self.muted.items())
            ],
            "banned": [
                {"field": a, "before": before.get("banned", {}).get(a, 0), "after": until}
                for a, until in sorted(self.banned.items())
            ],
            "topics": [
                {
                    "topic": t,
                    "action": tc["action"],
                    "fields": changes(tc["values"], topics_before.get(t, {})),
                }
                for t, tc in sorted(self.topics.items())
            ],
            "permission_groups": [
                {
                    "permission_group": p,
                    "action": pc["action"],
                    "fields": changes(pc["values"], pgs_before.get(p, {})),
                    "members_add": pc["members_add"],
                    "members_remove": pc["members_remove"],
                    "topic_permissions": changes(pc["topic_permissions"], tp_before.get(p, {})),
                }
                for p, pc in sorted(self.pgs.items())
            ],
        }
        doc["empty"] = empty = self.action == "update" and not any(
            doc[k]
            for k in (
                "fields",
                "members",
                "marks_set",
                "marks_delete",
                "admins_add",
                "admins_remove",
                "muted",
                "banned",
                "topics",
                "permission_groups",
            )
        )
        if empty:
            doc["action"] = "none"  # only marks waiting for members to come online
        if self.action == "destroy":
            doc["members_before"] = before.get("members_before", 0)
        return doc


def _view_counts(changes: list[dict[str, Any]], operations: list[Operation]) -> dict[str, int]:
    changed = [c for c in changes if not c["empty"]]

    def members(action: str) -> int:
        return sum(m["action"] == action for c in changed for m in c["members"])

    return {
        "groups_create": sum(c["action"] == "create" for c in changed),
        "groups_update": sum(c["action"] == "update" for c in changed),
        "groups_destroy": sum(c["action"] == "destroy" for c in changed),
        "members_add": members("add"),
        "members_modify": members("modify"),
        "members_remove": members("remove")
        + sum(c["members_before"] for c in changed if c["action"] == "destroy"),
        "marks_pending": sum(len(a) for c in changes for a in c["marks_pending"].values()),
        "api_calls": len(operations),
    }


def operations_view(
    operations: list[Operation],
    *,
    types: dict[str, GroupType],
    unmanaged: set[str] = frozenset(),  # type: ignore[assignment]
    before: dict[str, dict[str, Any]],
    pending: dict[str, dict[str, list[str]]],
    notes: list[str],
    limits: Limits,
    app: int,
    endpoint: str,
) -> dict[str, Any]:
    """A saved plan's view, in ``plan_view``'s form, made from the operations that run (what
    they set, add, remove and destroy) and ``before`` (what each change replaces): what a
    reviewer sees is what executes. ``unmanaged``: the groups whose members are not declared."""
    groups: dict[str, _GroupView] = {}
    for op in operations:
        if op.group:
            view = groups.get(op.group)
            if view is None:
                view = groups[op.group] = _GroupView(
                    op.group, types[op.group], before.get(op.group, {}), op.group not in unmanaged
                )
            view.add(op.request)
    for gid in pending:  # marks are an AVChatRoom's: a group with only pending ones is one
        groups.setdefault(gid, _GroupView(gid, GroupType.AVChatRoom, before.get(gid, {})))
    changes = [groups[gid].view(pending.get(gid, {})) for gid in sorted(groups)]
    calls = calls_by_api(operations, limits)
    return {
        "format_version": JSON_FORMAT_VERSION,
        "tool": "tim-reconciler",
        "tool_version": __version__,
        "app": app,
        "endpoint": endpoint,
        "has_changes": bool(operations),
        "destructive": destructive(operations),
        "counts": _view_counts(changes, operations),
        "calls_by_api": calls,
        "min_seconds": round(limits.min_seconds(calls), 3),
        "errors": [],
        "notes": notes,
        "refusals": [],
        "changes": changes,
        "operations": [
            {"group": op.group, "step": op.step, "api": op.api, "items": op.items}
            for op in operations
        ],
    }
