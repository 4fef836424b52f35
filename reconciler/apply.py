"""Execute a plan's operations: each group's steps in order, groups concurrently.

The client holds the rate limiters and retries transient failures; here an operation that
finally fails stops the later steps of its group, and every other group goes on. When the
app lock's fence (``TimClient.fence``) refuses a call, this run no longer holds the lock: no
further call is started, and ``execute`` raises that error once the calls out have ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from reconciler import __version__
from reconciler.errors import LockError
from reconciler.plan import STEP_INDEX, Operation
from reconciler.tim.calls import ChangeMarks
from reconciler.tim.client import TimClient, retry_counter
from reconciler.tim.errors import MALFORMED, TimError, describe

log = logging.getLogger(__name__)

# The version of ApplyResult.document's format.
RESULT_FORMAT_VERSION = 1
START_BATCH = 50  # groups whose steps are started before the loop gets a turn


@dataclass
class Failure:
    group: str
    api: str
    message: str


@dataclass
class OperationResult:
    """What became of one operation: ``ok``, ``partial`` (some accounts refused), ``failed``
    or ``skipped`` (an earlier step of its group failed)."""

    group: str
    step: str
    api: str
    items: int
    outcome: str
    error_code: int | None = None
    error_message: str | None = None
    retries: int = 0


@dataclass(repr=False)  # a short repr: asyncio.run formats its result's repr (Python 3.11)
class ApplyResult:
    calls_done: int = 0
    failures: list[Failure] = field(default_factory=list)
    item_failures: list[Failure] = field(default_factory=list)
    skipped: int = 0  # operations not run because an earlier step of their group failed
    pending_marks: list[str] = field(default_factory=list)
    operations: list[OperationResult] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"<ApplyResult: {self.calls_done} call(s), {len(self.failures)} failed, "
            f"{len(self.item_failures)} item failure(s), {self.skipped} skipped>"
        )

    @property
    def ok(self) -> bool:
        return not self.failures and not self.item_failures

    def by_group(self) -> dict[str, list[OperationResult]]:
        """Each group's operation results, in the order groups were first touched."""
        groups: dict[str, list[OperationResult]] = {}
        for done in self.operations:
            groups.setdefault(done.group, []).append(done)
        return groups

    def group_lines(self) -> list[str]:
        """One line per group: done, done with refused accounts, failed (and where), skipped."""
        lines = []
        for group, results in self.by_group().items():
            name = f"group {group}" if group else "accounts (app-wide)"
            calls = sum(r.outcome != "skipped" for r in results)
            skipped = len(results) - calls
            failed = next((r for r in results if r.outcome == "failed"), None)
            partial = [r for r in results if r.outcome == "partial"]
            if failed is not None:
                line = f"{name}: FAILED at {failed.api}: {failed.error_message}"
                if skipped:
                    line += f"; {skipped} later call(s) skipped"
            elif not calls:
                line = f"{name}: skipped, {skipped} call(s) (an app-wide step failed)"
            elif partial:
                line = f"{name}: done with refusals, {calls} call(s): " + "; ".join(
                    r.error_message or "" for r in partial
                )
            else:
                line = f"{name}: done, {calls} call(s)"
            lines.append(line)
        return lines

    def document(self, *, app: int, endpoint: str, seconds: float, retries: int) -> dict:
        """The result as one versioned JSON-ready document (``apply --format json``)."""
        return {
            "format_version": RESULT_FORMAT_VERSION,
            "tool": "tim-reconciler",
            "tool_version": __version__,
            "app": app,
            "endpoint": endpoint,
            "ok": self.ok,
            "calls_done": self.calls_done,
            "retries": retries,
            "failed": len(self.failures) + len(self.item_failures),
            "skipped": self.skipped,
            "seconds": round(seconds, 3),
            "operations": [asdict(done) for done in self.operations],
            "item_failures": [asdict(f) for f in self.item_failures],
            "pending_marks": self.pending_marks,
        }


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
    concurrently. Failures are collected in the result; nothing here raises for them, only
    for a lost app lock (``LockError``)."""
    result = ApplyResult()
    stopped: list[LockError] = []

    async def one(op: Operation) -> bool:
        retries = [0]
        retry_counter.set(retries)  # this task's own: gather runs each operation in a task
        refused_before = len(result.item_failures)
        done = OperationResult(op.group, op.step, op.api, op.items, "ok")
        try:
            await _run(client, op, result)
        except LockError as err:  # refused by the fence before it was sent
            stopped.append(err)
            done.outcome = "skipped"
        except TimError as err:
            message = _message(err)
            result.failures.append(Failure(op.group, op.api, message))
            done.outcome, done.error_message = "failed", message
            done.error_code = getattr(err, "code", None)
        except MALFORMED as err:
            # The call went through but its answer is not what the API documents.
            what = f"missing field {err}" if isinstance(err, KeyError) else str(err)
            message = f"{op.api}: the answer is not a valid answer ({type(err).__name__}: {what})"
            result.failures.append(Failure(op.group, op.api, message))
            done.outcome, done.error_message = "failed", message
        else:
            if len(result.item_failures) > refused_before:
                done.outcome = "partial"
                done.error_message = "; ".join(
                    f.message for f in result.item_failures[refused_before:]
                )
        done.retries = retries[0]
        result.operations.append(done)
        result.calls_done += 1
        if progress:
            progress(op, done.outcome != "failed")
        return done.outcome != "failed"

    def skip(ops: list[Operation]) -> None:
        result.skipped += len(ops)
        result.operations += [
            OperationResult(op.group, op.step, op.api, op.items, "skipped") for op in ops
        ]

    async def group_chain(ops: list[Operation]) -> None:
        steps: dict[int, list[Operation]] = {}
        for op in ops:
            steps.setdefault(STEP_INDEX[op.step], []).append(op)
        order = sorted(steps)
        for n, index in enumerate(order):
            if stopped:
                skip([op for later in order[n:] for op in steps[later]])
                return
            outcomes = await asyncio.gather(*(one(op) for op in steps[index]))
            if not all(outcomes):
                skip([op for later in order[n + 1 :] for op in steps[later]])
                return

    app_wide = [op for op in operations if not op.group]
    if app_wide:
        await group_chain(app_wide)
        if stopped:
            raise stopped[0]
        if result.failures:
            skip([op for op in operations if op.group])
            return result
    by_group: dict[str, list[Operation]] = {}
    for op in operations:
        if op.group:
            by_group.setdefault(op.group, []).append(op)
    # Started a few hundred groups at a time, the loop between them free to send: starting
    # thousands at once kept it busy for a quarter of a second with two calls per API out.
    chains = []
    for n, ops in enumerate(by_group.values(), start=1):
        chains.append(asyncio.ensure_future(group_chain(ops)))
        if n % START_BATCH == 0:
            await asyncio.sleep(0)
    await asyncio.gather(*chains)
    if stopped:
        raise stopped[0]
    return result
