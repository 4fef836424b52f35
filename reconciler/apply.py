"""Execute a plan's operations: each group's steps in order, groups concurrently.

The client holds the rate limiters and retries transient failures; here an operation that
finally fails stops the later steps of its group, and every other group goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.plan import STEP_INDEX, Operation
from reconciler.tim.calls import ChangeMarks
from reconciler.tim.client import TimClient
from reconciler.tim.errors import MALFORMED, TimError, describe

log = logging.getLogger(__name__)


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


async def _run(client: TimClient, op: Operation, result: ApplyResult) -> None:
    outcome = await client.perform(op.request)
    if outcome.existed:
        log.info("group %s already exists with the declared type; taking it", op.group)
    for account in outcome.refused:
        what = f"member {account} was refused by the API (Result 0)"
        if not op.group:
            what = f"account {account} was not imported"
        result.item_failures.append(Failure(op.group, op.api, what))
    request = op.request
    if isinstance(request, ChangeMarks):
        verb = "deleted" if request.delete else "set"
        for account in outcome.offline:
            result.pending_marks.append(
                f"{op.group}: {account} went offline; marks {request.marks[account]} not {verb}"
            )


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
) -> ApplyResult:
    """Run ``operations``: app-wide ones first, then every group's steps in order, groups
    concurrently. Failures are collected in the result; nothing here raises for them."""
    result = ApplyResult()

    async def one(op: Operation) -> bool:
        try:
            await _run(client, op, result)
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
