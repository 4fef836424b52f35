"""The pipeline as a library: plan a config, save and load plans, apply operations, export.

The command line, the tests and the benchmarks all go through these functions. They raise
``reconciler.errors`` types and report progress through callbacks; nothing here prints.

    config ──select──▶ groups ──observe + plan──▶ Plan ──approve──▶ apply ──▶ ApplyResult
                                                   │
                                                   └──save_plan──▶ plan file ──read_plan──▶ approve

``Session.approve`` runs every check of a plan before its first write, in one order, for
``apply``, ``apply --plan`` and watch alike (the config revision's check comes first, when the
session takes the lock); the caller only asks (a confirm callback) and shows the result.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from reconciler import connect, planfile, render, revision
from reconciler.apply import ApplyResult, Progress, execute
from reconciler.config import json_schema
from reconciler.config.models import AppConfig
from reconciler.config.version import refusal
from reconciler.connect import embedded_emulator, local_db_path, make_client
from reconciler.errors import PlanFileError, PlanRefused, UsageError
from reconciler.heap import collector_paused
from reconciler.lock import WAIT_S as LOCK_WAIT_S
from reconciler.lock import AppLock, Lease, break_lock, counted_reads, current_lease, holder_name
from reconciler.observe import observe
from reconciler.plan import Operation, Plan, Planner
from reconciler.planfile import SavedPlan, Selection, check_writable
from reconciler.revision import Revision
from reconciler.state import Group, MembersMode, matching
from reconciler.tim.client import CallStats, TimClient
from reconciler.tim.endpoints import resolve_endpoint
from reconciler.tim.redact import redact_url

if TYPE_CHECKING:
    from reconciler import fmt
    from reconciler.config import Config
    from reconciler.export import Layout

# What only some commands need (the YAML and template stack, export, fmt) is imported where it
# is used: `apply --plan` reads no config and starts without it.

log = logging.getLogger(__name__)

__all__ = [
    "LOCK_WAIT_S",
    "Approval",
    "Approved",
    "Held",
    "PlanOptions",
    "Selection",
    "apply",
    "apply_operations",
    "break_app_lock",
    "check_writable",
    "describe_endpoint",
    "embedded_emulator",
    "export",
    "config_revision",
    "config_roots",
    "json_schema",
    "plan_json_schema",
    "load_config",
    "lock_holder",
    "read_plan",
    "plan_config",
    "redact_url",
    "Session",
    "plan",
    "plan_groups",
    "format_files",
    "plan_view",
    "rendered",
    "saved_view",
    "save_plan",
    "saved_revision",
    "select",
]


def load_config(
    path: str | Path,
    variables: dict[str, str] | None = None,
    values_files: Sequence[str | Path] | None = None,
) -> Config:
    """The config at ``path``, templates rendered and validated (``reconciler.config``)."""
    from reconciler.config import load_config as load

    return load(path, variables, values_files)


def config_roots(paths: list[str]) -> list[str]:
    """The config directories that changed ``paths`` belong to (``reconciler.config``)."""
    from reconciler.config import config_roots as roots

    return roots(paths)


def plan_json_schema() -> dict:
    """The JSON Schema of a plan file (``reconciler.planfile``)."""
    return planfile.json_schema()


def config_revision(config: Config) -> Revision:
    """The revision of a loaded config (``reconciler.revision``)."""
    return revision.of_files(config.base_dir, list(config.files), config.digest)


def saved_revision(saved: SavedPlan) -> Revision:
    """The revision of the config a saved plan was made from (recorded in the plan)."""
    return Revision(*saved.revision)


def describe_endpoint(config: Config) -> str:
    """Where the config's app is, as a person reads it (a URL, or the emulator's file)."""
    return connect.describe_endpoint(config.app, config.base_dir)


@dataclass(frozen=True)
class PlanOptions:
    """The policy a plan is made under (the config's `app` and `policy` sections)."""

    admin: str
    max_removal_fraction: float = 0.25
    min_group_size_for_guard: int = 10
    create_missing_accounts: bool = False

    @classmethod
    def of(cls, config: Config) -> PlanOptions:
        return cls(
            admin=config.app.admin,
            max_removal_fraction=config.policy.max_removal_fraction,
            min_group_size_for_guard=config.policy.min_group_size_for_guard,
            create_missing_accounts=config.app.create_missing_accounts,
        )


def select(groups: list[Group], selection: Selection) -> list[Group]:
    """The declared groups a selection covers. Each name is an ID or a shell-style pattern
    (``stg-*``, ``class-?a``, ``[ab]-*``; an ID that exists is taken literally even if it holds
    such characters). UsageError, with a did-you-mean, for a name that matches nothing, and for a
    selection that leaves no group at all."""
    known = [g.id for g in groups]
    problems: list[str] = []

    def covered(flag: str, names: list[str]) -> set[str]:
        found: set[str] = set()
        for name, hits in matching(known, names).items():
            if not hits:
                hint = _hint(name, known)
                problems.append(f"{flag} {name!r} matches no group in the config{hint}")
            found |= hits
        return found

    only = covered("--group", selection.only)
    exclude = covered("--exclude-group", selection.exclude)
    if problems:
        raise UsageError("\n".join(problems))
    chosen = [g for g in groups if (not selection.only or g.id in only) and g.id not in exclude]
    if groups and not chosen:
        flags = [f"--group {n!r}" for n in selection.only]
        flags += [f"--exclude-group {n!r}" for n in selection.exclude]
        raise UsageError(
            f"{' '.join(flags)} leaves none of the config's {len(groups)} group(s): nothing "
            "would be planned, and 'No changes' would hide any drift; select at least one group"
        )
    return chosen


def _hint(name: str, known: list[str]) -> str:
    from reconciler.config.issues import did_you_mean

    folded = name.casefold()
    same = next((k for k in known if k.casefold() == folded), None)
    return f"; did you mean '{same}'?" if same else did_you_mean(name, known)


async def plan_groups(
    client: TimClient, groups: list[Group], options: PlanOptions, *, now: int | None = None
) -> Plan:
    """Observe ``groups`` and plan them; each group is diffed as soon as it is read."""
    planner = Planner(
        groups,
        admin=options.admin,
        max_removal_fraction=options.max_removal_fraction,
        min_group_size_for_guard=options.min_group_size_for_guard,
        create_missing_accounts=options.create_missing_accounts,
        now=now,
        limits=client.limits,
    )
    # Observing a million members makes millions of objects that live until the plan is made:
    # the cyclic collector would walk them again and again for nothing.
    with collector_paused():
        observation = await observe(client, groups, planner.add)
        plan = planner.finish(observation.missing_accounts)
        gc.freeze()  # the plan lives until the end: later collections need not walk it
    return plan


async def plan(
    config: Config, selection: Selection | None = None, *, parallelism: int | None = None
) -> Plan:
    """The plan for the selected groups of ``config`` against its app."""
    groups = select(config.groups, selection or Selection())
    async with make_client(config.app, config.base_dir, max_in_flight=parallelism) as client:
        return await plan_groups(client, groups, PlanOptions.of(config))


def app_record(config: Config) -> dict:
    """The app section as a plan file keeps it: a local emulator's file made absolute."""
    doc = config.app.model_dump()
    if config.app.endpoint == "local":
        doc["local_db"] = str(local_db_path(config.app, config.base_dir).resolve())
    return doc


def save_plan(
    path: str | Path,
    plan: Plan,
    config: Config,
    selection: Selection | None = None,
    *,
    forced: bool = False,
) -> None:
    """Write ``plan`` for ``apply --plan`` (check the path first with planfile.check_writable)."""
    selection = selection or Selection()
    doc = planfile.document(
        plan,
        app=app_record(config),
        endpoint=resolve_endpoint(config.app.endpoint),
        inputs=planfile.record_inputs(config.values_files, config.variables),
        desired=select(config.groups, selection),
        selection=selection,
        forced=forced,
        before=render.before_values(plan),
        revision=config_revision(config),
        view=plan_view(config, plan),
    )
    planfile.write(path, doc, connect.secret_key(config.app))


def plan_view(config: Config, plan: Plan) -> dict:
    """The plan as every renderer shows it, with the app and endpoint it is for."""
    return render.plan_view(
        plan,
        config.app.rate_limit,
        app=config.app.sdkappid,
        endpoint=describe_endpoint(config),
    )


def saved_view(saved: SavedPlan) -> dict:
    """What a saved plan shows (``reconciler show``, ``apply --plan``), made from its verified
    operations (``render.operations_view``), without calling the API."""
    return render.operations_view(
        saved.operations,
        types={g.id: g.type for g in saved.groups},
        unmanaged={g.id for g in saved.groups if g.members is None},
        before=saved.before,
        pending=saved.pending_marks,
        notes=saved.notes,
        limits=saved.app.limits_table(),
        app=saved.app.sdkappid,
        endpoint=connect.describe_endpoint(saved.app, saved.base_dir),
    )


def read_plan(path: str | Path) -> SavedPlan:
    """Read a saved plan, its MAC checked with the app's secret key. The config check is
    ``plan_config``'s; the stale check comes later, under the lock: ``Session.check_fresh``."""
    # A plan of a million memberships is half a million objects that live until the end and
    # hold no cycles: unpaused, the collector walks them while they are made (0.3 s instead of
    # 0.1 s) and again at every later full collection, down to the one at exit.
    with collector_paused():
        saved = planfile.read(path, connect.secret_key)
        gc.freeze()
    why = refusal(saved.app.required_version) if saved.app.required_version else None
    if why is not None:  # the config's app.required_version, carried in the plan's app section
        line = _line_of(path, '"required_version"')
        raise PlanFileError(f"{path}:{line}: {why}")
    return saved


def _line_of(path: str | Path, text: str) -> int:
    """The first line of file ``path`` holding ``text`` (1 when none does)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return next((n for n, line in enumerate(f, 1) if text in line), 1)


def plan_config(
    saved: SavedPlan,
    path: str | Path,
    variables: dict[str, str] | None = None,
    values_files: Sequence[str] | None = None,
) -> Config:
    """The config at ``path`` rendered as ``saved`` was (its recorded values files; the same
    --vars), checked to be for the plan's app and to declare each group the plan touches as
    it did (planfile.check_config); other groups may have changed."""
    variables = variables or {}
    values = planfile.values_for(saved, list(values_files or ()), variables)
    config = load_config(path, variables, values)
    made_for = (saved.app.sdkappid, saved.endpoint)
    given = (config.app.sdkappid, resolve_endpoint(config.app.endpoint))
    if made_for != given:
        raise PlanFileError(
            f"{saved.path} was made for app {made_for[0]} at {made_for[1]}, but the config is "
            f"for app {given[0]} at {given[1]}; nothing was applied."
        )
    planfile.check_config(saved, config.groups)
    return config


Confirm = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Approval:
    """What the person applying allowed. The defaults are watch's: it has no one to ask, never
    overrides a guard and never destroys."""

    force: bool = False  # --force: override the removal guards (never protect: true)
    allow_destroy: bool = False  # --allow-destroy
    # Awaited once, after every check passed and only when there is something to write; it
    # raises to stop (the CLI: no terminal, or an answer other than yes). None: approved
    # beforehand (--auto-approve, a reviewed saved plan, watch).
    confirm: Confirm | None = None


@dataclass(frozen=True)
class Held:
    """What a check kept from being written, and why."""

    group: str  # "" for the app as a whole
    check: Literal["invalid", "guard", "destroy"]
    reason: str


@dataclass
class Approved:
    operations: list[Operation]  # what may be written, in the plan's order
    held: list[Held] = field(default_factory=list)


def _held(plan: Plan, approval: Approval) -> list[Held]:
    """What each check holds, in the order they run: the plan's errors (a group's, or the
    app's), the guards ``force`` does not override, the destroys not allowed."""
    held = [Held(c.group_id, "invalid", e) for c in plan.changes for e in c.errors]
    held += [Held("", "invalid", e) for e in plan.app_errors]
    held += [Held(r.group, "guard", r.reason) for r in plan.blocking(approval.force)]
    if not approval.allow_destroy:
        held += [
            Held(op.group, "destroy", what) for op in plan.operations for what in op.destroyed()
        ]
    return held


def _refuse_destroys(destroys: list[str], allowed: bool) -> None:
    if destroys and not allowed:
        raise PlanRefused(
            f"Refused: the plan destroys {len(destroys)} group(s) or topic(s) "
            f"({', '.join(destroys[:10])}); "
            "pass --allow-destroy to allow it."
        )


async def apply_operations(
    client: TimClient, operations: list[Operation], progress: Progress | None = None
) -> ApplyResult:
    return await execute(client, operations, progress=progress)


class Session:
    """One client for the app and, for a writer, the app's lock (``reconciler.lock``), held
    from before anything is observed until the last write is done:

        async with engine.Session(app, base_dir) as session:
            plan = await session.plan(groups, options)
            result = await session.apply(plan.operations)
    """

    def __init__(
        self,
        app: AppConfig,
        base_dir: Path,
        *,
        parallelism: int | None = None,
        lock: bool = True,
        lock_timeout_s: float = LOCK_WAIT_S,
        on_lock_wait: Callable[[Lease], None] | None = None,
        emulator: object | None = None,
        revision: Revision | None = None,
        force_revision: bool = False,
        hedge_reads: bool = False,
    ) -> None:
        """``revision``: the config's (``reconciler.revision``); a writer refuses, unless
        ``force_revision``, to apply one older than the revision recorded for the app, and
        records its own when it ends without an error or a failed call. ``hedge_reads``: the
        client's (``TimClient``: every read hedged, as the watch's are)."""
        self._app, self._base_dir, self._parallelism = app, base_dir, parallelism
        self._revision, self._force_revision = revision, force_revision
        self._clean = True  # no failed call so far
        self._recorded: Revision | None = None  # the app's revision when the lock was taken
        self._emulator = emulator  # endpoint: local, an embedded emulator to share
        self._hedge_reads = hedge_reads
        self._want_lock = lock
        self._lock_timeout_s = lock_timeout_s
        self._on_lock_wait = on_lock_wait
        self._client: TimClient | None = None
        self._lock: AppLock | None = None
        # The revision check, under way from the taking of the lock: a stale check reads
        # beside it, and every write waits for it (``_revision_checked``).
        self._revision_check: asyncio.Future[None] | None = None

    @property
    def client(self) -> TimClient:
        assert self._client is not None, "use the session in an async with block"
        return self._client

    async def __aenter__(self) -> Session:
        self._client = make_client(
            self._app,
            self._base_dir,
            max_in_flight=self._parallelism,
            emulator=self._emulator,
            hedge_reads=self._hedge_reads,
        )
        if self._want_lock:
            self._lock = self.app_lock()
            try:
                await self._lock.acquire()
                self._revision_check = asyncio.ensure_future(self._check_revision())
            except BaseException:
                if self._lock.held:
                    await asyncio.shield(self._lock.release())
                await self._client.aclose()
                raise
        return self

    async def _check_revision(self) -> None:
        mine = self._revision
        if mine is None:
            return
        assert self._lock is not None
        last = await counted_reads(self._lock.calls, revision.recorded(self.client))
        if last is not None and last.newer_than(mine) and not self._force_revision:
            raise PlanRefused(
                f"Refused: this config is revision {mine.describe()}, older than revision "
                f"{last.describe()}; applying it would revert what that revision applied. "
                "Nothing was applied. Update the checkout to that revision or later, or pass "
                "--force to apply this one anyway."
            )
        self._recorded = last

    async def _revision_checked(self) -> None:
        """Return once the app's recorded revision was read and this one is not older (raise
        PlanRefused if it is)."""
        if self._revision_check is not None:
            await self._revision_check

    async def _beside_revision_check(self, reads: Awaitable[object]) -> None:
        """Await ``reads`` and the revision check side by side; the revision's refusal comes
        first, as when it was checked before anything was read."""
        task = asyncio.ensure_future(reads)
        try:
            await self._revision_checked()
        except BaseException:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        await task

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            check = self._revision_check
            if check is not None:
                check.cancel()  # (when still under way: nothing was written)
                await asyncio.gather(check, return_exceptions=True)
                if check.cancelled() or check.exception() is not None:
                    self._revision = None  # not checked: nothing to record
            mine = self._revision
            if (
                exc_info[0] is None
                and self._lock is not None
                and mine is not None
                and self._clean
                and not mine.same(self._recorded)
            ):
                record = Revision(mine.id, mine.time, holder_name())
                # The record group was read when the lock was taken: modified in one call.
                exists = self._recorded is not None
                self._lock.calls.update(await revision.record(self.client, record, exists))
        finally:
            await self._release()

    async def _release(self) -> None:
        try:
            if self._lock is not None:
                await asyncio.shield(self._lock.release())
                # Part of the run's calls, not of the plan's: said, so they can be told apart.
                log.info(
                    "the tool's own calls (app lock, revision record): %s",
                    ", ".join(f"{a} {n}" for a, n in sorted(self._lock.calls.items())),
                )
        finally:
            await self.client.aclose()

    def app_lock(self, purpose: str = "apply", **options: Any) -> AppLock:
        """The app's lock on this session's client (``options``: AppLock's, e.g. a watch's
        lease and how it waits)."""
        options.setdefault("timeout_s", self._lock_timeout_s)
        return AppLock(self.client, purpose=purpose, on_wait=self._on_lock_wait, **options)

    async def plan(self, groups: list[Group], options: PlanOptions) -> Plan:
        await self._revision_checked()  # an older revision is refused before it is planned
        return await plan_groups(self.client, groups, options)

    async def check_fresh(self, saved: SavedPlan) -> None:
        with collector_paused():
            await planfile.check_fresh(self.client, saved)
            gc.freeze()  # the plan lives until the end: the apply's collections need not walk it

    async def approve(
        self, plan: Plan | SavedPlan, approval: Approval, *, per_group: bool = False
    ) -> Approved:
        """The one order of checks before any write, for ``apply``, ``apply --plan`` and
        watch alike: the plan's errors, the removal guards, destroys, then (a saved plan) the
        stale check, then the confirmation. Whole (the CLI): the first check that holds
        anything refuses the plan (PlanInvalid, RecreateRequired, PlanRefused, StalePlanError)
        and nothing is written. ``per_group`` (watch): what a check holds is left out and the
        rest goes on, except after an error of the app's, which holds everything. A saved plan
        was checked for errors and guards when it was made, and is stale or fresh as a whole."""
        saved, checked = (
            (plan, Plan([], plan.operations)) if isinstance(plan, SavedPlan) else (None, plan)
        )
        held = _held(checked, approval)
        if held and not per_group:
            checked.raise_if_unsafe(approval.force)  # the plan's errors, then its guards
            _refuse_destroys(checked.destroys(), approval.allow_destroy)
        if saved is not None:  # read beside the revision check: both come before any write
            # The lease read the first writes wait for (if still recent then), sent first.
            lease = [self._lock.check()] if self._lock is not None else []
            await self._beside_revision_check(asyncio.gather(*lease, self.check_fresh(saved)))
        else:
            await self._revision_checked()
        stopped = {h.group for h in held if h.check != "destroy"}  # "": the app's error
        operations = [
            op
            for op in checked.operations
            if op.group not in stopped and (approval.allow_destroy or not op.destroys)
        ]
        if "" in stopped:
            operations = []
        if operations and approval.confirm is not None:
            await approval.confirm()
        return Approved(operations, held)

    async def apply(
        self, operations: list[Operation], progress: Progress | None = None
    ) -> ApplyResult:
        # Executing makes no reference cycles (none in the 10,581 calls of the scale
        # benchmark), while each collection stopped the loop for up to 120 ms, and with it
        # the calls at the rate limit.
        await self._revision_checked()
        with collector_paused():
            result = await apply_operations(self.client, operations, progress)
        self._clean = self._clean and result.ok
        return result


async def apply(
    app: AppConfig,
    base_dir: Path,
    operations: list[Operation],
    *,
    progress: Progress | None = None,
    parallelism: int | None = None,
    lock_timeout_s: float = LOCK_WAIT_S,
) -> tuple[ApplyResult, CallStats]:
    """Run ``operations`` against ``app`` under its lock; failures are in the result."""
    async with Session(
        app, base_dir, parallelism=parallelism, lock_timeout_s=lock_timeout_s
    ) as session:
        result = await session.apply(operations, progress)
        return result, session.client.stats


async def lock_holder(config: Config) -> Lease | None:
    """Who holds the app's lock (None when free)."""
    async with make_client(config.app, config.base_dir) as client:
        return await current_lease(client)


async def break_app_lock(
    config: Config, *, lock_id: str | None = None, force: bool = False
) -> Lease | None:
    """Remove the app's lock and return the lease it held (``reconciler.lock.break_lock``:
    a live lease only given its lock ID and ``force``)."""
    async with make_client(config.app, config.base_dir) as client:
        return await break_lock(client, lock_id=lock_id, force=force)


async def export(
    config: Config,
    names: list[str] | None,
    output: str | None,
    *,
    members_mode: MembersMode = "authoritative",
    layout: Layout = "per-type",
    strict: bool = False,
    force: bool = False,
    variables: dict[str, str] | None = None,
    values: list[str] | None = None,
) -> list[str]:
    """Write config YAML for the live groups ``names`` cover (IDs or patterns; all of the app's
    when None); see export.export_groups for the options and the files it refuses to replace."""
    app = config.app.model_dump(exclude_defaults=True) | {"sdkappid": config.app.sdkappid}
    local_db = (
        local_db_path(config.app, config.base_dir) if config.app.endpoint == "local" else None
    )
    from reconciler.export import export_groups

    # Reading makes millions of short-lived objects (the answers' dicts) and no cycles worth
    # collecting meanwhile: each collection would walk the answers in hand for nothing.
    with collector_paused():
        async with make_client(config.app, config.base_dir) as client:
            return await export_groups(
                client,
                app,
                names,
                output,
                members_mode=members_mode,
                layout=layout,
                strict=strict,
                local_db=local_db,
                force=force,
                variables=variables,
                values=values,
            )


def rendered(path: str | Path, variables: dict[str, str], values_files: Sequence[str]) -> dict:
    """Each config file's text with its templates expanded (``reconciler render``)."""
    from reconciler.config import render_sources

    return render_sources(path, variables, values_files)


def format_files(paths: list[str], *, check: bool) -> list[fmt.Outcome]:
    """Config files in the canonical layout, comments kept (``reconciler fmt``)."""
    from reconciler import fmt

    return fmt.format_paths(paths, check=check)
