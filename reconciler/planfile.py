"""The saved plan: what `plan --out` writes and `apply --plan` executes, and its stale check.

A plan file is versioned, secret-free JSON. It records what the plan was made with (tool version,
app, endpoint, selection, refusals overridden with --force), the operations, and a fingerprint of
each touched group's observed state; before the first write, ``check_fresh`` observes those
groups again and refuses the plan if any fingerprint changed.

It is authenticated: its first line carries an HMAC-SHA256 of every byte after it, under a key
derived from the app's secret key (``mac_key``), so only a holder of the key that apply needs
anyway can make a plan that apply accepts, and any byte changed (a duplicated key included) is
refused. ``read`` checks the MAC before it parses anything, then reads the document strictly:
exactly the fields and types ``document`` writes, operations only for the touched groups, each
in the step the planner puts it in. The ``view`` it carries is for other tools; nothing here
reads it back (``render.operations_view`` shows what runs).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from reconciler import __version__
from reconciler.config import AppConfig
from reconciler.errors import CredentialsError, PlanFileError, StalePlanError, UsageError
from reconciler.observe import Reread, observe_accounts
from reconciler.plan import API_STEPS, Operation, Plan
from reconciler.staleness import Scope, fingerprint
from reconciler.state import Group, GroupType, ObservedGroup
from reconciler.tim.calls import (
    REQUEST_TYPES,
    ChangeAdmins,
    ChangeMarks,
    CreateGroup,
    DestroyGroup,
    ImportAccounts,
    Request,
    request_to_json,
)
from reconciler.tim.client import TimClient, request_counter

# 4: operations are typed requests ({"api", "request"}); selection, forced refusals and the
# scope of each fingerprint recorded. 5: a fingerprint covers the members the plan touches.
# 6: authenticated (the MAC line), read strictly; notes, and what each change replaces.
# 7: the values files and --vars it was rendered with; a digest per touched group's declared
# config instead of one of the whole config.
PLAN_FORMAT_VERSION = 7
# The formats this version executes exactly as the version that wrote them would.
EXECUTES_IDENTICALLY = frozenset({7})
TOOL = "tim-reconciler"
MAC_SCHEME = "hmac-sha256"
log = logging.getLogger(__name__)
# The first line: the MAC, and what names the key (the app, and where its secret key is read).
_HEAD = re.compile(
    rb'\{"mac":"hmac-sha256:(?P<mac>[0-9a-f]{64})","sdkappid":(?P<app>[0-9]{1,10}),'
    rb'"secret_key_env":"(?P<env>[A-Za-z_][A-Za-z0-9_]{0,127})","local":(?P<local>true|false),\n'
)


def mac_key(secret_key: str, sdkappid: int) -> bytes:
    """HKDF-SHA256 (RFC 5869, one block) of the app's secret key, bound to this purpose and the
    app: a plan file's MAC key. The secret key itself never signs anything but UserSigs."""
    prk = hmac.new(b"tim-reconciler plan file", secret_key.encode(), hashlib.sha256).digest()
    info = f"plan-file-mac v1 sdkappid={sdkappid}".encode()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


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
    endpoint: str
    inputs: InputsRecord  # the values files and --vars the config was rendered with
    group_digests: dict[str, str]  # touched group -> declared_digest of its declared config
    tool_version: str
    selection: Selection
    forced: list[str]  # the refusals --force overrode when the plan was made
    groups: list[Group]  # the touched groups, as observe needs them for the stale check
    fingerprints: dict[str, str]
    scopes: dict[str, Scope]  # what each fingerprint covers
    operations: list[Operation]
    notes: list[str] = field(default_factory=list)  # what the plan could not verify
    pending_marks: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    before: dict[str, dict[str, Any]] = field(default_factory=dict)  # render.before_values
    revision: tuple[str, int] = ("", 0)  # the config's revision (id, time) when it was made

    def __repr__(self) -> str:
        return f"<SavedPlan {self.path}: {len(self.operations)} operation(s)>"

    @property
    def version_note(self) -> str | None:
        if self.tool_version == __version__:
            return None
        return (
            f"this plan was made by {TOOL} {self.tool_version}; its format "
            f"{PLAN_FORMAT_VERSION} is one {TOOL} {__version__} executes identically"
        )


def unverified_document(data: bytes) -> dict[str, Any]:
    """The document after a plan file's MAC line, NOT verified: for tools that edit a plan and
    sign it again with ``write`` (benchmarks, tests). ``read`` is the only way to apply one."""
    _, _, rest = data.partition(b"\n")
    return orjson.loads(b"{\n" + rest)


def is_plan_file(path: Path) -> bool:
    """Whether ``path`` holds a plan file (of any format): what ``plan --out`` may replace."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    # Older formats begin {"format_version": N, "tool": "tim-reconciler", ...}.
    older = head.startswith(b'{\n  "format_version": ') and b'"tool": "tim-reconciler"' in head
    return bool(_HEAD.match(head)) or older


def check_writable(
    path: str | Path,
    *,
    inputs: Sequence[Path] = (),
    force: bool = False,
) -> None:
    """Refuse an output path before anything is observed, not after: a missing or read-only
    directory, a directory, one of the run's own inputs (config, template, values file), or
    an existing file that is not a plan file (unless ``force``)."""
    target = Path(path)
    parent = target.resolve().parent
    if not parent.is_dir():
        raise PlanFileError(f"{path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise PlanFileError(f"{path}: the directory {parent} is not writable")
    if target.is_dir():
        raise PlanFileError(f"{path} is a directory; give a file name for the plan")
    resolved = target.resolve()
    if any(resolved == Path(p).resolve() for p in inputs):
        raise PlanFileError(
            f"{path} is an input of this run (a config, template or values file); "
            "give another file name for the plan"
        )
    if target.exists() and not force and not is_plan_file(target):
        raise PlanFileError(
            f"{path} exists and is not a plan file; give another file name, or pass --force "
            "to replace it"
        )


def _stale_check_entry(group: Group) -> dict[str, Any]:
    """What apply needs to read a touched group again: the group without defaults and with its
    member list elided to ``{}`` (the stale check reads the members its scope names, never the
    declared list; a million listed members made the plan file 60 MB)."""
    entry = group.model_dump(mode="json", exclude_defaults=True, exclude={"members"})
    if group.members is not None:
        entry["members"] = {}
    return entry


def declared_digest(group: Group) -> str:
    """A digest of a group as the config declares it (normalized, keys sorted): what the
    config check of ``apply PATH --plan`` compares, group by group."""
    # Members as tuples of their fields' values, read from their rows (not a model_dump of
    # each: a million took 2.5 s); orjson writes the enums and nested custom data itself.
    members = None
    if group.members is not None:
        declared = group.declared_members()
        members = [declared.values_of(account) for account in sorted(declared)]
    head = group.model_dump(mode="json", exclude={"members"})
    data = orjson.dumps([head, members], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_inputs(values_files: list[Path], variables: dict[str, str]) -> dict[str, Any]:
    """What a config was rendered with: each values file as given and the digest of its
    bytes, each --var's name and the digest of its value (values never enter the file)."""
    return {
        "values": [{"file": str(f), "sha256": _sha256(Path(f).read_bytes())} for f in values_files],
        "vars": [{"name": k, "sha256": _sha256(v.encode())} for k, v in variables.items()],
    }


def document(
    plan: Plan,
    *,
    app: dict[str, Any],
    endpoint: str,
    inputs: dict[str, Any],
    desired: list[Group],
    selection: Selection,
    forced: bool,
    before: dict[str, dict[str, Any]],
    revision: Any,
    view: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The plan file's content (``app`` is the app section, local_db made absolute; ``inputs``
    what ``record_inputs`` says; ``before`` what each change replaces,
    ``render.before_values``; ``view`` for other tools)."""
    touched = set(plan.fingerprints)
    records = [g for g in desired if g.id in touched]
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "tool": TOOL,
        "tool_version": __version__,
        "app": app,
        "endpoint": endpoint,
        "inputs": inputs,
        "group_digests": {g.id: declared_digest(g) for g in records},
        "selection": {"only": selection.only, "exclude": selection.exclude},
        "forced": [f"group {r.group}: {r.reason}" for r in plan.refusals if forced],
        "notes": plan.notes,
        "counts": plan.counts(),
        "calls_by_api": plan.calls_by_api(),
        "fingerprints": plan.fingerprints,
        # Shallow: asdict() would deep-copy every scope's members (seconds at scale).
        "scopes": {gid: vars(scope) for gid, scope in plan.scopes.items()},
        "groups": [_stale_check_entry(g) for g in records],
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
        "before": before,
        "revision": {"id": revision.id, "time": revision.time},
        "view": view,
    }


def write(path: str | Path, doc: dict[str, Any], secret_key: str) -> None:
    """Write ``doc`` signed (see the module docstring), atomically: a reader never sees half
    a plan, and a failed write leaves what was there."""
    body = orjson.dumps(doc, option=orjson.OPT_INDENT_2)  # starts with b"{\n"
    app = doc["app"]
    tag = hmac.new(mac_key(secret_key, app["sdkappid"]), body, hashlib.sha256).hexdigest()
    head = orjson.dumps(
        {
            "mac": f"{MAC_SCHEME}:{tag}",
            "sdkappid": app["sdkappid"],
            "secret_key_env": app["secret_key_env"],
            "local": doc["endpoint"] == "local",
        }
    )
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".plan-", dir=target.resolve().parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head[:-1] + b",\n" + body[2:] + b"\n")
        umask = os.umask(0)  # mkstemp makes it 0600; a plan file is as readable as any other
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _operation_model(cls: type[Request]) -> type[BaseModel]:
    # The Literals are built at run time from the request's API (create_model's dynamic
    # fields, which a type checker cannot follow).
    return create_model(
        f"{cls.__name__}Operation",
        __base__=_Exact,
        group=(str, ...),
        step=(Literal[API_STEPS[cls.api]], ...),  # type: ignore[arg-type]  # dynamic Literal
        api=(Literal[cls.api], ...),  # type: ignore[arg-type]  # dynamic Literal
        request=(cls, ...),
    )


if TYPE_CHECKING:

    class OperationRecord(_Exact):
        """What each operation model above holds (their union is built at run time)."""

        group: str
        step: str
        api: str
        request: Request

else:
    OperationRecord = Annotated[
        Union[tuple(_operation_model(cls) for cls in REQUEST_TYPES.values())],  # noqa: UP007
        Field(discriminator="api"),
    ]


class RevisionRecord(_Exact):
    id: str  # a git commit, or "sha256:<config digest>" (reconciler.revision)
    time: int


class SelectionRecord(_Exact):
    only: list[str]
    exclude: list[str]


class ValuesFileRecord(_Exact):
    file: str
    sha256: str


class VarRecord(_Exact):
    name: str
    sha256: str


class InputsRecord(_Exact):
    values: list[ValuesFileRecord]
    vars: list[VarRecord]


class PlanDocument(_Exact):
    """Everything after a plan file's MAC line, as ``document`` writes it."""

    format_version: Literal[7]
    tool: Literal["tim-reconciler"]
    tool_version: str
    app: AppConfig
    endpoint: str
    inputs: InputsRecord
    group_digests: dict[str, str]
    selection: SelectionRecord
    forced: list[str]
    notes: list[str]
    counts: dict[str, int]
    calls_by_api: dict[str, int]
    fingerprints: dict[str, str]
    scopes: dict[str, Scope]
    groups: list[Group]
    operations: list[OperationRecord]
    pending_marks: dict[str, dict[str, list[str]]]
    before: dict[str, dict[str, Any]]
    revision: RevisionRecord
    view: dict[str, Any] | None


SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "plan.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a plan file: the MAC line's fields, then the document
    ``read`` accepts (generated from ``PlanDocument``; schemas/plan.schema.json)."""
    schema = PlanDocument.model_json_schema(mode="validation")
    head = {
        "mac": {"type": "string", "pattern": "^hmac-sha256:[0-9a-f]{64}$"},
        "sdkappid": {"type": "integer"},
        "secret_key_env": {"type": "string"},
        "local": {"type": "boolean"},
    }
    schema["properties"] = head | schema["properties"]
    schema["required"] = [*head, *schema["required"]]
    schema["title"] = "tim-reconciler plan file"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def read(path: str | Path, secret_key_for: Any) -> SavedPlan:
    """A plan file written by ``write``, its MAC checked with the key ``secret_key_for(app)``
    returns for the app it names; PlanFileError when it is not one this version executes
    exactly as made. Every check happens here, before the first call."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PlanFileError(f"{path}: cannot be read ({err.strerror or err})") from None
    head = _HEAD.match(data)
    if head is None:
        raise PlanFileError(f"{path}: {_not_signed(data)}")
    body = b"{\n" + data[head.end() : -1]  # what write signed: no final newline
    sdkappid, env = int(head["app"]), head["env"].decode()
    key_app = AppConfig.model_construct(
        sdkappid=sdkappid, secret_key_env=env, endpoint="local" if head["local"] == b"true" else "-"
    )
    try:
        key = mac_key(secret_key_for(key_app), sdkappid)
    except CredentialsError as err:
        raise PlanFileError(f"{path}: its MAC cannot be checked: {err}") from None
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, head["mac"].decode()):
        raise PlanFileError(
            f"{path}: refused: the file was changed after plan made it, or it was made for "
            f"another app or with another secret key than app {sdkappid}'s (read from "
            f"{env}); nothing was applied. Make the plan again."
        )
    try:
        doc = PlanDocument.model_validate_json(body)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PlanFileError(
            f"{path}: not a plan file this version reads: {where}: {first['msg']}"
        ) from None
    if (doc.app.sdkappid, doc.app.secret_key_env) != (sdkappid, env) or (
        doc.endpoint == "local"
    ) != (head["local"] == b"true"):
        raise PlanFileError(f"{path}: its first line names another app than its content")
    operations = [Operation(op.group, op.step, op.request) for op in doc.operations]
    _check_operations(path, doc, operations)
    return SavedPlan(
        path=path,
        app=doc.app,
        base_dir=path.resolve().parent,
        endpoint=doc.endpoint,
        inputs=doc.inputs,
        group_digests=doc.group_digests,
        tool_version=doc.tool_version,
        selection=Selection(doc.selection.only, doc.selection.exclude),
        forced=doc.forced,
        groups=doc.groups,
        fingerprints=doc.fingerprints,
        scopes=doc.scopes,
        operations=operations,
        notes=doc.notes,
        pending_marks=doc.pending_marks,
        before=doc.before,
        revision=(doc.revision.id, doc.revision.time),
    )


def _not_signed(data: bytes) -> str:
    """Why a file without a valid MAC line is not read, as precisely as can be told."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return "not a plan file (not JSON)"
    if not isinstance(doc, dict) or doc.get("tool") != TOOL:
        return "not a tim-reconciler plan file"
    version = doc.get("format_version")
    if version != PLAN_FORMAT_VERSION:
        return (
            f"format_version {version!r} is not {PLAN_FORMAT_VERSION}, the one this version "
            f"({__version__}) reads; run plan again"
        )
    return (
        "refused: its MAC line is missing or was changed; nothing was applied. Make the plan again"
    )


def _check_operations(path: Path, doc: PlanDocument, operations: list[Operation]) -> None:
    """The operations are the planner's: each for a touched group, its request for that
    group, in its API's step; creates and destroys as the group's record says."""
    touched = set(doc.fingerprints)
    records = {g.id: g for g in doc.groups}
    problems = []
    if (
        set(doc.scopes) != touched
        or set(records) != touched
        or len(records) != len(doc.groups)
        or set(doc.group_digests) != touched
    ):
        problems.append(
            "its fingerprints, scopes, group digests and groups do not name the same groups"
        )
    if operations and not touched and any(op.group for op in operations):
        problems.append("it has operations but no fingerprints to check them against")
    for n, op in enumerate(operations):
        req = op.request
        where = f"operation {n} ({op.api} of group {op.group!r})"
        if isinstance(req, ImportAccounts) != (op.group == ""):
            problems.append(f"{where}: only the account import is app-wide")
        elif op.group and op.group not in touched:
            problems.append(f"{where}: the group is not one the plan touches")
        elif req.group_id != op.group:
            problems.append(f"{where}: its request is for group {req.group_id!r}")
        elif isinstance(req, ChangeAdmins) and req.remove != (op.step == "revoke_admins"):
            problems.append(f"{where}: step {op.step} does not match the request")
        elif isinstance(req, ChangeMarks) and req.delete != (op.step == "delete_marks"):
            problems.append(f"{where}: step {op.step} does not match the request")
        elif isinstance(req, DestroyGroup) and records[op.group].state != "absent":
            problems.append(f"{where}: the group is not declared state: absent")
        elif isinstance(req, CreateGroup) and (
            records[op.group].state == "absent" or GroupType(req.type) != records[op.group].type
        ):
            problems.append(f"{where}: the group is not declared as created")
        if len(problems) >= 5:
            break
    if problems:
        raise PlanFileError(
            f"{path}: not a plan the planner made: " + "; ".join(problems[:5]) + ". Nothing was "
            "applied; make the plan again."
        )


def values_for(saved: SavedPlan, values: list[str], variables: dict[str, str]) -> list[str]:
    """The values files to render the config with for ``saved``: the ones it records (given
    ones must be those). UsageError when --values or the --vars differ from the plan's; a
    StalePlanError when a recorded values file is gone."""
    recorded = [v.file for v in saved.inputs.values]
    if values and [Path(v).resolve() for v in values] != [Path(v).resolve() for v in recorded]:
        made = " ".join(f"--values {v}" for v in recorded) or "no values files"
        raise UsageError(
            f"--values {' '.join(values)}: {saved.path} was made with {made}; give the same "
            "files in the same order, or none (apply then takes them from the plan)"
        )
    wanted = {v.name: v.sha256 for v in saved.inputs.vars}
    problems = [
        f"--var {name}=... is missing: the plan was made with it; pass the same value"
        for name in wanted
        if name not in variables
    ]
    for name, value in variables.items():
        if name not in wanted:
            problems.append(f"--var {name}: the plan was made without it")
        elif _sha256(value.encode()) != wanted[name]:
            problems.append(f"--var {name} has another value than the plan was made with")
    if problems:
        raise UsageError(f"{saved.path}: " + "; ".join(problems) + ". Nothing was applied.")
    for file in recorded:
        if not Path(file).is_file():
            raise StalePlanError(
                list(saved.group_digests),
                f"{saved.path} was made with the values file {file}, which no longer exists. "
                "Nothing was applied; run plan again and review the new plan.",
            )
    return recorded


def check_config(saved: SavedPlan, groups: list[Group]) -> None:
    """Refuse ``saved`` (StalePlanError) when a group it touches is declared otherwise in
    ``groups`` than when it was made, naming each; other groups may have changed freely."""
    declared = {g.id: g for g in groups}
    changed = [
        gid
        for gid, digest in saved.group_digests.items()
        if gid not in declared or declared_digest(declared[gid]) != digest
    ]
    if not changed:
        return
    why = [
        f"group {gid} {'is no longer declared' if gid not in declared else 'changed'}"
        for gid in changed[:20]
    ]
    edited = [v.file for v in saved.inputs.values if _sha256(Path(v.file).read_bytes()) != v.sha256]
    also = f" (changed values file(s): {', '.join(edited)})" if edited else ""
    error = StalePlanError(
        changed,
        f"{saved.path} was made from another version of the config: {'; '.join(why)}"
        f"{' ...' if len(changed) > 20 else ''} since the plan{also}. Nothing was applied; "
        "run plan again and review the new plan.",
    )
    error.location = str(saved.path)
    raise error


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
    started, calls = time.monotonic(), [0]
    counting = request_counter.set(calls)  # its own: the lock's reads go on beside it
    try:
        await observe_accounts(client, wanted, needs, settle)
    finally:
        request_counter.reset(counting)
    stale = sorted(gid for gid, digest in saved.fingerprints.items() if now.get(gid) != digest)
    log.info(
        "stale check: %d group(s) read again in %d call(s), %.2f s; %d changed",
        len(wanted),
        calls[0],
        time.monotonic() - started,
        len(stale),
    )
    if stale:
        raise StalePlanError(stale)
