"""Execute a plan's operations: each group's steps in order, groups concurrently.

The client holds the rate limiters and retries transient failures; here an operation that
finally fails stops the later steps of its group, and every other group goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.plan import STEP_INDEX, Operation, service_of
from reconciler.state import TYPE_ALIASES, normalize_type
from reconciler.tim.client import TimClient
from reconciler.tim.errors import TimError, describe

log = logging.getLogger(__name__)

# create_group answers for an ID that is already taken; the group may be ours from a run that
# was cut off after the call reached the server.
ID_TAKEN_CODES = frozenset({10021, 10025})
GONE_CODES = frozenset({10010, 10015})
# What reading a malformed answer raises (a missing key, a field of the wrong type).
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


@dataclass
class Failure:
    group: str
    api: str
    message: str


@dataclass(repr=False)  # a short repr: asyncio.run formats its result's repr (Python 3.11)
class ApplyResult:
    calls_done: int = 0
    failures: list[Failure] = field(default_factory=list)
    item_failures: list[Failure] = field(default_factory=list)
    skipped: int = 0  # operations not run because an earlier step of their group failed
    pending_marks: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"<ApplyResult: {self.calls_done} call(s), {len(self.failures)} failed, "
            f"{len(self.item_failures)} item failure(s), {self.skipped} skipped>"
        )

    @property
    def ok(self) -> bool:
        return not self.failures and not self.item_failures


Progress = Callable[[Operation, bool], None]


async def _create_group(client: TimClient, op: Operation) -> None:
    try:
        await client.call(service_of(op.api), op.api, op.body)
    except TimError as err:
        if getattr(err, "code", None) not in ID_TAKEN_CODES:
            raise
        # Look before failing: a retried or interrupted create may already have made it.
        found = await client.get_group_info([op.body["GroupId"]])
        info = found[0] if found and isinstance(found[0], dict) else {}
        if (
            info.get("ErrorCode", 0) == 0
            and info.get("Type") in TYPE_ALIASES
            and normalize_type(info["Type"]) == normalize_type(op.body["Type"])
        ):
            log.info("group %s already exists with the declared type; taking it", op.group)
            return
        raise


async def _run(client: TimClient, op: Operation, result: ApplyResult, now: Callable) -> None:
    body = dict(op.body)
    if op.api == "create_group":
        await _create_group(client, op)
        return
    prepare = None
    if op.api == "modify_group_member_info" and op.muted_until is not None:
        until = op.muted_until

        def prepare(body: dict) -> dict:
            # MuteTime is relative: computed when the request leaves (after any wait for the
            # rate limiter, which at scale is many seconds), and again for each retry.
            return {**body, "MuteTime": max(0, until - int(now())) if until else 0}

    try:
        answer = await client.call(service_of(op.api), op.api, body, prepare=prepare)
    except TimError as err:
        if op.api == "destroy_group" and getattr(err, "code", None) in GONE_CODES:
            return  # already gone: the goal is met
        raise
    if op.api in ("import_group_member", "add_group_member"):
        for item in answer.get("MemberList", []):
            if item.get("Result") == 0:
                result.item_failures.append(
                    Failure(
                        op.group,
                        op.api,
                        f"member {item.get('Member_Account')} was refused by the API (Result 0)",
                    )
                )
    elif op.api == "modify_user_info":
        done = {m.get("Member_Account") for m in answer.get("MemberList", [])}
        for entry in body["MemberList"]:
            if entry["Member_Account"] not in done:
                result.pending_marks.append(
                    f"{op.group}: {entry['Member_Account']} went offline; marks "
                    f"{entry['Marks']} not {'set' if body['CommandType'] == 1 else 'deleted'}"
                )
    elif op.api == "multiaccount_import":
        for account in answer.get("FailAccounts", []):
            result.item_failures.append(Failure("", op.api, f"account {account} was not imported"))


def _message(err: Exception) -> str:
    code = getattr(err, "code", None)
    if code is not None and str(code) not in str(err):
        return f"{err} ({code}: {describe(code)})"
    return str(err)


async def execute(
    client: TimClient,
    operations: list[Operation],
    *,
    progress: Progress | None = None,
    now: Callable[[], float] = time.time,
) -> ApplyResult:
    result = ApplyResult()

    async def one(op: Operation) -> bool:
        try:
            await _run(client, op, result, now)
        except TimError as err:
            result.failures.append(Failure(op.group, op.api, _message(err)))
            ok = False
        except MALFORMED as err:
            # The call went through but its answer is not what the API documents.
            what = f"missing field {err}" if isinstance(err, KeyError) else str(err)
            message = f"{op.api}: the answer is not a valid answer ({type(err).__name__}: {what})"
            result.failures.append(Failure(op.group, op.api, message))
            ok = False
        else:
            ok = True
        result.calls_done += 1
        if progress:
            progress(op, ok)
        return ok

    async def group_chain(ops: list[Operation]) -> None:
        steps: dict[int, list[Operation]] = {}
        for op in ops:
            steps.setdefault(STEP_INDEX[op.step], []).append(op)
        remaining = len(ops)
        for index in sorted(steps):
            batch = steps[index]
            outcomes = await asyncio.gather(*(one(op) for op in batch))
            remaining -= len(batch)
            if not all(outcomes):
                result.skipped += remaining
                return

    app_wide = [op for op in operations if not op.group]
    if app_wide:
        await group_chain(app_wide)
        if result.failures:
            result.skipped += len(operations) - len(app_wide)
            return result
    by_group: dict[str, list[Operation]] = {}
    for op in operations:
        if op.group:
            by_group.setdefault(op.group, []).append(op)
    await asyncio.gather(*(group_chain(ops) for ops in by_group.values()))
    return result
