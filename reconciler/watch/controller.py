"""The controller: callbacks in, per-group reconciles out, a full resync now and then.

Callbacks only enqueue (so they are answered at once); one worker does the work in batches:

    callback ─▶ on_event ─▶ dirty[group] (coalesced for ``coalesce_s``) ─┐
                         └▶ marks[group][account] (``marks_window_s``) ──┼─▶ batch: take the app
    every ``resync_s`` ─────────────────────────────────────────────────┘    lock, observe + plan
                                                                              + apply each due
                                                                              group, release

Leadership: the worker works only while it holds the app lock, which it keeps as its lease
across batches (renewed every third of ``lease_s``, read every ``LEASE_POLL_S``). Until then
the replica is a standby: it waits for the lock, is not ready and writes nothing (a callback
that reaches it is answered and counted, not queued: the resync it leads with reads afresh);
when the leader dies its lease lapses (or, on the same host, its process is seen gone) and a
standby takes over: it is ready at once, so that callbacks come to it while it resyncs (queued,
done after), and once the first callback reaches it after that resync began reading, it
reconciles every group again, which reads what changed while callbacks still went to no ready
replica (the vendor sends each callback once). A writer that asks for the lock (a CI
``apply``) is handed it between batches, and the leader asks for it back at once
(``reconciler.lock``).

A batch runs every due group at once, through apply's own checks in apply's order
(``engine.Session.approve``: errors, removal guards and ``protect``, destroys), group by group
and with nothing forced; while its calls are in flight, groups and marks batches that fall due
join it (so a slow call holds up only its own group), and with none in flight it waits up to
``MARKS_HOLD_S`` for marks falling due; each group is free to be taken again once its own call
is done, and a group's marks once fewer than ``MARKS_IN_FLIGHT`` of its marks batches are in
flight (the members who come online while one call is slow get theirs from the next). A
refused group is left until the config changes; nothing is destroyed here (``state: absent``
groups are not planned, absent topics and permission groups are held and logged). An event for
a group being reconciled makes it due again afterwards. A failed call is retried by the client;
a group that still fails is tried again after its backoff (``reconciler.watch.backoff``), and a
failure that is the app's (credentials, endpoint, lock) holds every batch until the app's
backoff ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from reconciler import engine, revision
from reconciler.config import Config
from reconciler.errors import LockError, LockLost, ReconcilerError
from reconciler.lock import AppLock, holder_name
from reconciler.plan import Operation, Plan
from reconciler.state import TOOL_GROUP_IDS, Group, GroupType, utc_text
from reconciler.tim.callbacks import GroupEvent
from reconciler.tim.calls import ChangeMarks
from reconciler.tim.client import TimClient
from reconciler.tim.errors import MALFORMED, TimError
from reconciler.tim.limits import BATCH, MARK_500_HOLD_S, MARK_ALWAYS_ONLINE, chunks
from reconciler.watch.backoff import APP, BASE_S, CAP_S, Backoff, app_wide, describe
from reconciler.watch.metrics import Metrics
from reconciler.watch.notify import Note

log = logging.getLogger("reconciler.watch")

# Watch's approval: no one to ask, no guard forced, nothing destroyed (``engine.Approval``).
WATCH = engine.Approval()
COALESCE_S = 0.5  # events of one group this close together make one reconcile
MARKS_WINDOW_S = 0.5  # members of one group coming online this close share a modify_user_info
MARKS_HOLD_S = 2.0  # how long a batch holding the lock takes in marks that fall due meanwhile
MARKS_POLL_S = 0.05  # how often it looks for them
# Marks batches of one group in flight at once. Setting marks is idempotent and each batch
# names its own members, so a call the client waits out its timeout on (a stalled request)
# need hold up only its own members, not every member of the room who comes online in the
# next 10 s: a room sends about two calls a second, and several may stall in that time. Fewer
# than the client's calls in flight per API (16), so that one room cannot take them all.
MARKS_IN_FLIGHT = 4
# How long the marks path's writes are remembered, so that a reconcile that read the room
# before one of them does not set the same marks again; far above a reconcile's duration.
MARKS_REMEMBERED_S = 60.0
LEASE_S = 30  # a leader's lease; a standby takes over within it once the leader is gone
LEASE_POLL_S = 1.0  # how often the leader reads its lease for a writer asking for the lock
READY_FACTOR = 3.0  # ready while the last good resync is at most this many --resync old
LIVE_S = 60.0  # alive while the worker turned, or an API call went out, within this
RESYNC_OK = frozenset({"applied", "converged", "dry_run", "refused", "partial"})
# Mark 500 lasts three days: set it again well before it lapses.
MARK_500_REFRESH_S = MARK_500_HOLD_S * 5 // 6


@dataclass
class Dirty:
    first: float  # monotonic time of the first event not yet reconciled
    due: float
    triggers: set[str] = field(default_factory=set)


def declared_marks(group: Group) -> dict[str, list[int]]:
    """account -> the marks the config gives it."""
    per_account: dict[str, list[int]] = {}
    for mark, accounts in sorted((group.marks or {}).items()):
        for account in accounts:
            per_account.setdefault(account, []).append(mark)
    return per_account


class Controller:
    def __init__(
        self,
        config: Config,
        session: engine.Session,
        metrics: Metrics,
        *,
        resync_s: float = 600.0,
        dry_run: bool = False,
        coalesce_s: float = COALESCE_S,
        marks_window_s: float = MARKS_WINDOW_S,
        ready_factor: float = READY_FACTOR,
        backoff_s: tuple[float, float] = (BASE_S, CAP_S),
        lease_s: int = LEASE_S,
        notify: Callable[[Note], None] | None = None,
        clock=time.monotonic,
    ) -> None:
        self.session = session
        self.metrics = metrics
        self.resync_s = resync_s
        self.dry_run = dry_run
        self.coalesce_s = coalesce_s
        self.marks_window_s = marks_window_s
        self.ready_factor = ready_factor
        self.lease_s = lease_s
        self.lock: AppLock | None = None  # the lease, while this replica leads
        self.yielded = False  # it handed the lock to a writer that asked, and wants it back
        self.backoff = Backoff(*backoff_s)  # per group, and the app's (key APP)
        self.recorded: revision.Revision | None = None  # the app's, as last read under the lock
        self._recorded_under: AppLock | None = None  # the lock held since that read
        self.superseded = False  # a newer revision than ours was applied: no writes
        self._clock = clock
        self._notify = notify or (lambda note: None)  # never waits (reconciler.watch.notify)
        self.dirty: dict[str, Dirty] = {}
        self.marks: dict[str, dict[str, float]] = {}  # group -> account -> first event
        self.marks_due: dict[str, float] = {}
        self.mark500: dict[tuple[str, str], float] = {}  # (group, account) -> wall time to renew
        # group -> account -> when the marks path last set its marks (oldest first; kept for
        # MARKS_REMEMBERED_S): a reconcile that read the room before then need not set them.
        self.marks_set_at: dict[str, dict[str, float]] = {}
        self.running: set[str] = set()  # groups being reconciled
        self.marking: Counter[str] = Counter()  # marks batches in flight, per group
        self.last: dict[str, tuple[float, str]] = {}  # group -> wall time, outcome of its last
        self.refused: dict[str, str] = {}  # group -> digest of the config it was refused under
        self.destroys_held: dict[str, str] = {}  # what -> digest of the config when logged
        self.last_resync: float | None = None  # wall time of the last resync, good or not
        self.last_resync_ok: float | None = None  # monotonic time of the last good one
        self.last_resync_outcome: str | None = None
        self.resync_ended: float | None = None  # monotonic time the last resync ended, any outcome
        self.leading_since: float | None = None  # monotonic time this replica took the lease
        # Taking over: whether no callback has reached this replica since, and when its first
        # resync began reading (the callbacks of the members who came online after that read
        # and before callbacks reached it went to no ready replica).
        self._unreached = False
        self._lead_read: float | None = None
        self._standby_noted = -60.0  # when a callback at a standby was last logged
        self.reload_refused_at: float | None = None  # wall time of a refused reload, if the last
        self.refused_revision: revision.Revision | None = None  # and the files' revision then
        self._turned = clock()  # when the worker last went round its loop
        self._requests_seen = (0, clock())  # API requests sent, and when that count was read
        self._next_resync = clock()  # a resync at start: catch up with what happened meanwhile
        self._wake = asyncio.Event()
        self._stopping = False
        self._acquiring: AppLock | None = None  # the lock being taken, while it is
        self._use(config)

    # -- config ---------------------------------------------------------------------------
    def _use(self, config: Config) -> None:
        self.config = config
        self.revision = engine.config_revision(config)
        self.metrics.config_info.clear()
        self.metrics.config_info.labels(self.revision.id).set(1)
        self.options = engine.PlanOptions.of(config)
        self.desired = {g.id: g for g in config.groups}
        self.marks_of = {
            g.id: declared_marks(g)
            for g in config.groups
            if g.type is GroupType.AVChatRoom and g.marks and g.state == "present"
        }

    def reload(self, config: Config) -> None:
        """Use a new, valid config from now on; ReconcilerError when it cannot be used here."""
        if config.app != self.config.app:
            raise ReconcilerError(
                "the app section changed; the new config is not used. Restart watch to apply "
                "a change of app, endpoint or credentials."
            )
        changed = config.digest != self.config.digest
        self._use(config)
        self.reload_refused_at = self.refused_revision = None
        self.metrics.config_refused.set(0)
        if changed:
            self.refused.clear()  # a refused group is tried again under the new config
            self.destroys_held.clear()
            self._next_resync = self._clock()
            self._wake.set()

    def reload_refused(self, files: revision.Revision | None) -> None:
        """The config files hold an invalid config (of revision ``files``, when known): the
        last good one runs on."""
        self.reload_refused_at, self.refused_revision = time.time(), files
        self.metrics.config_refused.set(1)

    @property
    def client(self) -> TimClient:
        return self.session.client

    def depth(self) -> int:
        return len(self.dirty) + sum(len(m) for m in self.marks.values())

    # -- events ---------------------------------------------------------------------------
    def on_callback(self, event: GroupEvent | None) -> str:
        """A signed callback reached this replica (``event``: None for a command watch does not
        act on); return the outcome to count it under. A standby answers it and writes
        nothing: taking over, it resyncs, reading every group afresh."""
        standby = self.role == "standby"
        if self._unreached and not standby:  # callbacks reach this new leader now
            self._unreached = False
            if self._lead_read is not None:  # its resync may have read some groups too early
                # Each group reconciled again as if a callback had named it: in the batches
                # that run anyway, not a resync, which would hold every other reconcile and
                # mark for as long as its slowest call.
                log.info("callbacks reach this leader: reconciling every group again to catch up")
                now = self._clock()
                for gid, want in self.desired.items():
                    if want.state == "present" and self.refused.get(gid) != self.config.digest:
                        self._queue(gid, "catch_up", now)
        if event is None:
            return "ignored"
        if standby and event.group_id not in TOOL_GROUP_IDS:
            now = self._clock()
            if now - self._standby_noted >= 60:  # one line a minute, not one per callback
                self._standby_noted = now
                log.warning(
                    "a callback reached this replica while it stands by: it writes nothing (a "
                    "callback Service should send callbacks to the ready replica only)"
                )
            return "standby"
        return self.on_event(event)

    def on_event(self, event: GroupEvent, received: float | None = None) -> str:
        """Queue the work an event calls for; return the outcome to count it under."""
        now = self._clock() if received is None else received
        gid = event.group_id
        if gid in TOOL_GROUP_IDS:
            return "lock"  # the app lock's or the revision record's (this watch's, or an apply's)
        want = self.desired.get(gid)
        if want is None:
            return "undeclared"
        if want.state == "absent":
            return "absent"
        if event.kind == "offline":
            for account in event.accounts:  # marks vanish with the member; nothing to renew
                self.mark500.pop((gid, account), None)
            return "ignored"
        if event.kind == "online":
            per_account = self.marks_of.get(gid, {})
            wanted = [a for a in event.accounts if a in per_account]
            if not wanted:
                return "ignored"
            pending = self.marks.setdefault(gid, {})
            for account in wanted:
                pending.setdefault(account, now)
            self.marks_due.setdefault(gid, now + self.marks_window_s)
            self._wake.set()
            return "queued"
        if self.refused.get(gid) == self.config.digest:
            return "refused_earlier"
        self._queue(gid, event.command, now)
        return "queued"

    def _queue(self, gid: str, trigger: str, now: float) -> None:
        """Reconcile ``gid`` after the coalescing window, or its backoff."""
        work = self.dirty.get(gid)
        if work is None:
            due = max(now + self.coalesce_s, self.backoff.until(gid) or 0.0)
            work = self.dirty[gid] = Dirty(now, due)
        work.triggers.add(trigger)
        self._wake.set()

    # -- the worker ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Finish the batch in flight and return; a wait for the lock ends at once."""
        self._stopping = True
        self._wake.set()
        if self._acquiring is not None:
            self._acquiring.give_up()

    def _renewals_due(self) -> None:
        wall = time.time()
        for (gid, account), when in list(self.mark500.items()):
            if when <= wall and gid in self.marks_of:
                del self.mark500[(gid, account)]
                self.marks.setdefault(gid, {}).setdefault(account, self._clock())
                self.marks_due.setdefault(gid, self._clock())

    def _next_due(self) -> float:
        times = [self._next_resync]
        times += [w.due for g, w in self.dirty.items() if self._free(g)]
        times += [t for g, t in self.marks_due.items() if self._free(g, marks=True)]
        if self.mark500:
            wall_next = min(self.mark500.values())
            times.append(self._clock() + max(0.0, wall_next - time.time()))
        return max(min(times), self.backoff.until(APP) or 0.0)  # nothing while the app backs off

    @property
    def role(self) -> str:
        if self.dry_run:
            return "dry_run"  # takes no lock, writes nothing
        return "leader" if self.lock is not None or self.yielded else "standby"

    async def run(self) -> None:
        """Work until ``stop``; the batch in flight is finished first, the lock released."""
        try:
            await self._work()
        finally:
            if self.lock is not None:
                await asyncio.shield(self.lock.release())

    async def _lead(self) -> bool:
        """True while this replica holds its lease; else wait for it (a standby, or a leader
        that yielded) and return whether it got it."""
        lock = self.lock
        if lock is not None and lock.lost is None and lock.asked is None:
            return True
        if lock is not None:
            self.lock = None
            if lock.lost is not None:
                log.error("no longer the leader: %s", lock.lost)
                self.leading_since = None
            elif lock.asked is not None:  # handed over to the writer that asked; asked again
                log.info("yielding the app lock to %s, who asked for it", lock.asked.holder)
                self.yielded = True
            await asyncio.shield(lock.release())
        # A standby waits for another watch's lease as long as it lives; a wait behind any
        # other writer (a CI apply) is bounded by --lock-timeout, then fails like the app.
        wait = self.session.app_lock(
            "watch", lease_s=self.lease_s, ask=self.yielded, watch_s=LEASE_POLL_S, stand_by="watch"
        )
        self._acquiring = wait
        try:
            await wait.acquire()
        except ReconcilerError as err:  # stopped; or the app's failure: the API, its
            self.yielded = False  # credentials, or a writer holding the lock past --lock-timeout
            self.leading_since = None
            if not self._stopping:
                self._failed(APP, err)
            return False
        finally:
            self._acquiring = None
        self._ok(APP)  # the app answers: its credentials and endpoint work
        self.lock = wait
        if not self.yielded:
            log.info("leading: holding the app lock (lease %d s); resyncing", self.lease_s)
            # Ready from now on (``ready``): callbacks come here while it catches up with what
            # happened meanwhile.
            self.leading_since = self._next_resync = self._clock()
            self._unreached, self._lead_read = True, None
        self.yielded = False
        return True

    async def _work(self) -> None:
        while not self._stopping:
            self._turned = self._clock()
            if not self.dry_run and self.lock is None:  # a standby: no work, only the lease
                if (self.backoff.until(APP) or 0.0) > self._clock():
                    await self._sleep(self.backoff.until(APP) or 0.0)
                    continue
            if not self.dry_run and not await self._lead():
                continue
            self._renewals_due()
            if self._next_due() > self._clock():
                await self._sleep(self._next_due())
                continue
            await self.batch()

    async def _sleep(self, until: float) -> None:
        """Until then, an event, or at most 1 s (the worker's turn, that liveness sees)."""
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=min(until - self._clock(), 1.0))
        except TimeoutError:
            pass

    async def batch(self) -> None:
        """One batch: a resync when due, else every group and marks batch that is due."""
        now = self._clock()
        if now >= self._next_resync:
            await self._locked(self._resync)
            return
        first = self._take_due(now)
        if not any(first):
            return
        taken = [first]  # everything this batch took, put back if it was not done
        began = False

        def started(groups: dict[str, Dirty], marks: dict[str, dict[str, float]]) -> set:
            tasks = {asyncio.ensure_future(self._reconcile_of(g, w)) for g, w in groups.items()}
            tasks |= {asyncio.ensure_future(self._set_marks_of(g, e)) for g, e in marks.items()}
            return tasks

        async def work() -> None:
            nonlocal began
            began, tasks = True, started(*first)
            # While the lock is held, work that falls due joins this batch rather than wait
            # for it to end: members come online all the time, each batch's lock costs calls
            # and a round trip, and a call that is slow to answer (one the client waits out
            # its timeout on) then holds up only its own group. With nothing in flight, marks
            # falling due within MARKS_HOLD_S are waited for. The batch ends when the lock is
            # asked for or lost, a resync is due, or the app backs off.
            hold_until = self._clock() + MARKS_HOLD_S
            while True:
                now = self._turned = self._clock()
                lock = self.lock
                holding = not self._stopping and now < self._next_resync
                holding = holding and lock is not None and lock.asked is None and lock.lost is None
                holding = holding and (self.backoff.until(APP) or 0.0) <= now
                holding = holding and (bool(tasks) or now < hold_until)
                if holding and any(more := self._take_due(now)):
                    taken.append(more)
                    tasks |= started(*more)
                if tasks:
                    _, tasks = await asyncio.wait(
                        tasks, timeout=MARKS_POLL_S, return_when=asyncio.FIRST_COMPLETED
                    )
                elif holding and self._marks_due_by(hold_until):
                    await asyncio.sleep(MARKS_POLL_S)
                else:
                    break

        try:
            if not await self._locked(work):  # not done: queued again (the app backs off)
                for groups, marks in taken:
                    self._put_back(groups, marks)
        finally:
            for groups, _ in taken:
                self.running.difference_update(groups)
            if not began:  # (work that began lets its groups go itself)
                for gid in first[1]:
                    self._marked(gid)

    def _free(self, gid: str, *, marks: bool = False) -> bool:
        """Whether ``gid`` may be taken now: to reconcile, when nothing of it is in flight; for
        marks, when it is not being reconciled and fewer than MARKS_IN_FLIGHT marks batches
        of it are in flight."""
        if gid in self.running:
            return False
        return self.marking[gid] < MARKS_IN_FLIGHT if marks else not self.marking[gid]

    def _take_due(self, now: float) -> tuple[dict[str, Dirty], dict[str, dict[str, float]]]:
        """The groups and the marks batches due by ``now`` of groups free to be taken, taken
        off the queue and marked running (or marking)."""
        groups = {g: w for g, w in self.dirty.items() if w.due <= now and self._free(g)}
        due = [g for g, t in self.marks_due.items() if t <= now and self._free(g, marks=True)]
        for gid in groups:
            del self.dirty[gid]
        marks = {}
        for gid in due:
            del self.marks_due[gid]
            marks[gid] = self.marks.pop(gid, {})
            self.marking[gid] += 1
        self.running.update(groups)
        return groups, marks

    def _marks_due_by(self, when: float) -> bool:
        return any(t <= when for g, t in self.marks_due.items() if self._free(g, marks=True))

    def _marked(self, gid: str) -> None:
        """A marks batch of ``gid`` is no longer in flight."""
        self.marking[gid] -= 1
        if self.marking[gid] <= 0:
            del self.marking[gid]

    async def _set_marks_of(self, gid: str, entries: dict[str, float]) -> None:
        """Set marks; the group may be taken again as soon as this is done, batch or not."""
        try:
            await self._set_marks(gid, entries)
        finally:
            self._marked(gid)

    async def _reconcile_of(self, gid: str, work: Dirty) -> None:
        """Reconcile; the group may be taken again as soon as this is done, batch or not."""
        try:
            await self._reconcile_group(gid, work)
        finally:
            self.running.discard(gid)

    async def _locked(self, work) -> bool:
        """Run ``work`` while leading (no lock in a dry run); False if it was not done."""
        if self.dry_run:
            await work()
            return True
        lock = self.lock
        if lock is None:  # not leading (the app backs off): nothing is written
            return False
        try:
            if await self._may_write(lock):
                await work()  # its writes stop once the lease is lost (TimClient.fence)
            if lock.lost is not None:
                raise lock.lost
        except LockLost:
            self.metrics.reconciles.labels("batch", "lock_lost").inc()
            return False  # the worker's next turn finds the lease lost: a standby again
        except ReconcilerError as err:  # reading the lease or the revision: the app's failure
            self._failed(APP, err)
            return False
        return True

    async def _may_write(self, lock: AppLock) -> bool:
        """False while a newer config revision than ours is recorded for the app: writing
        would revert what it applied. Work that comes meanwhile is dropped; running the newer
        revision (a reload) resyncs at once. The record is read once per taking of the lock:
        only a holder of the lock writes it, so while this watch holds it, it changes only by
        this watch's own writes (``_resync``)."""
        if self._recorded_under is not lock:
            self.recorded = await revision.recorded(self.client)
            self._recorded_under = lock
        newer = self.recorded is not None and self.recorded.newer_than(self.revision)
        if newer and self.recorded is not None and not self.superseded:
            log.warning(
                "not writing: revision %s was applied to the app, newer than the revision this "
                "watch runs (%s); writes resume once watch runs that revision or a later one",
                self.recorded.describe(),
                self.revision.describe(),
            )
        elif self.superseded and not newer:
            log.info("writing again: this watch runs revision %s", self.revision.describe())
        self.superseded = newer
        self.metrics.superseded.set(int(newer))
        if newer:
            self._next_resync = max(self._next_resync, self._clock() + self.resync_s)
        return not newer

    def _failed(self, key: str, err: ReconcilerError | str) -> float:
        """Back ``key`` (a group, or APP) off after a failure; a metric and a log line when this
        starts a backoff, none while one runs. Returns when the backoff ends."""
        text = err if isinstance(err, str) else describe(err)
        delay = self.backoff.fail(key, self._clock(), text)
        scope = "app" if key == APP else "group"
        if delay is not None:
            self.metrics.backoffs.labels(scope).inc()
            failures = (self.backoff.failing(key) or (1, text))[0]  # just recorded: not None
            log.warning(
                "%s failed: %s; backing off %.1f s (%d failure(s) in a row)",
                "the app" if key == APP else f"group {key}",
                text,
                delay,
                failures,
            )
            if failures == 1:
                who = "the app" if key == APP else f"group {key}"
                self._notify(Note("failing", f"{who} is failing: {text}", _groups(key)))
        return self.backoff.until(key) or self._clock()

    def _ok(self, key: str) -> None:
        """``key`` (a group, or APP) succeeded: its backoff ends, with a note if it failed."""
        failing = self.backoff.failing(key)
        if failing is not None:
            who = "the app" if key == APP else f"group {key}"
            text = f"{who} recovered after {failing[0]} failure(s)"
            self._notify(Note("recovered", text, _groups(key)))
        self.backoff.ok(key)

    def _requeue(self, gid: str, due: float, first: float | None = None) -> None:
        work = self.dirty.setdefault(gid, Dirty(first or self._clock(), due))
        work.due = max(work.due, due)
        work.triggers.add("backoff")

    # -- reconciling ------------------------------------------------------------------------------
    async def _resync(self) -> None:
        """A full plan and apply of every declared group, under the same guards."""
        started = self._clock()
        self._next_resync = started + self.resync_s
        if self._unreached and self._lead_read is None:
            self._lead_read = started
        # What is queued now is covered by this resync (it observes after this point).
        covered = self.dirty
        self.dirty = {}
        marks, self.marks, self.marks_due = self.marks, {}, {}
        groups = [g for g in self.config.groups if g.state == "present"]
        try:
            plan = await engine.plan_groups(self.client, groups, self.options)
            outcome, calls = await self._carry_out(plan, "resync", started)
            self._hold_mark500(plan)
            ours = outcome in ("applied", "converged") and not self.dry_run
            if ours and not self.revision.same(self.recorded):
                by = revision.Revision(self.revision.id, self.revision.time, holder_name("watch"))
                await revision.record(self.client, by)
                self.recorded = by
            for g in groups:  # a backoff that ended before this resync, not failed again
                if (self.backoff.until(g.id) or started) < started:
                    self._ok(g.id)
        except LockLost:
            outcome, calls = "lock_lost", 0
        except ReconcilerError as err:
            outcome, calls = "failed", 0
            self.metrics.reconciles.labels("resync", "failed").inc()
            self._failed(APP, err)
            self._next_resync = self._clock()  # again as soon as the app's backoff ends
        self.last_resync, self.last_resync_outcome = time.time(), outcome
        finished = self.resync_ended = self._clock()
        if outcome in RESYNC_OK:
            self.last_resync_ok = finished
            self._ok(APP)  # the app answered every call a resync needs
        else:  # what it took is queued again, as it was
            self._put_back(covered, marks)
        if outcome in ("applied", "converged"):
            for w in covered.values():
                self.metrics.latency.observe(finished - w.first)
            for entries in marks.values():
                for first in entries.values():
                    self.metrics.latency.observe(finished - first)
        self._log("resync", f"{len(groups)} groups", outcome, calls, started)

    def _put_back(self, dirty: dict[str, Dirty], marks: dict[str, dict[str, float]]) -> None:
        """Queue again work taken off the queue and not done, due after ``coalesce_s``."""
        due = self._clock() + self.coalesce_s
        for gid, w in dirty.items():
            again = self.dirty.setdefault(gid, Dirty(w.first, due))
            again.first = min(again.first, w.first)
            again.triggers |= w.triggers
        for gid, entries in marks.items():
            for account, first in entries.items():
                self.marks.setdefault(gid, {}).setdefault(account, first)
            self.marks_due.setdefault(gid, due)

    def _hold_mark500(self, plan: Plan) -> None:
        """Renewal times for the mark 500 holders a resync saw, kept in memory only: a member
        this plan gave mark 500 is due one hold from now; one that already held it, with no
        renewal known (a restarted watch cannot know when it was set), is renewed at once."""
        wall, now = time.time(), self._clock()
        for change in plan.changes:
            gid = change.group_id
            declared = set((change.desired.marks or {}).get(MARK_ALWAYS_ONLINE, ()))
            if not declared or change.errors or gid not in self.marks_of:
                continue
            for account in change.marks_set.get(MARK_ALWAYS_ONLINE, ()):
                self.mark500[(gid, account)] = wall + MARK_500_REFRESH_S
            have = change.observed.marks if change.observed is not None else None
            for account in declared.intersection((have or {}).get(MARK_ALWAYS_ONLINE, ())):
                if (gid, account) not in self.mark500:
                    self.marks.setdefault(gid, {}).setdefault(account, now)
                    self.marks_due.setdefault(gid, now)

    async def _reconcile_group(self, gid: str, work: Dirty) -> None:
        started = self._clock()
        trigger = ",".join(sorted(work.triggers))
        want = self.desired.get(gid)
        if want is None or want.state != "present":
            return  # the config changed meanwhile
        try:
            plan = await engine.plan_groups(self.client, [want], self.options)
            outcome, calls = await self._carry_out(plan, "callback", started)
        except LockLost:
            outcome, calls = "lock_lost", 0
        except ReconcilerError as err:
            outcome, calls = "failed", 0
            self.metrics.reconciles.labels("callback", "failed").inc()
            if app_wide(err):
                self._failed(APP, err)
                self._requeue(gid, self._clock(), work.first)
            else:
                self._requeue(gid, self._failed(gid, err), work.first)
        if outcome in ("applied", "converged", "dry_run"):
            self._ok(gid)
            self.metrics.latency.observe(self._clock() - work.first)
        self._log(trigger, gid, outcome, calls, started)

    async def _carry_out(self, plan: Plan, trigger: str, read_since: float) -> tuple[str, int]:
        """Apply the part of ``plan`` that passes apply's checks (``Session.approve``, group
        by group), read from ``read_since`` on; return the outcome and the calls made."""
        label = "resync" if trigger == "resync" else "callback"
        approved = await self.session.approve(plan, WATCH, per_group=True)
        held = approved.held
        for h in held:
            if h.check == "invalid":
                log.error("not applied: %s", h.reason)
        if any(h.check == "invalid" and not h.group for h in held):  # the app's: nothing is safe
            self.metrics.reconciles.labels(label, "invalid").inc()
            return "invalid", 0
        stopped = {h.group for h in held if h.check != "destroy"}
        digest = self.config.digest
        for h in held:  # each said once per config
            if h.check == "guard" and self.refused.get(h.group) != digest:
                self.refused[h.group] = digest
                self.metrics.refusals.labels("guard").inc()
                log.warning(
                    "refused: group %s: %s; left as it is until the config changes "
                    "(watch never forces a guard)",
                    h.group,
                    h.reason,
                )
            elif h.check == "destroy" and self.destroys_held.get(h.reason) != digest:
                self.destroys_held[h.reason] = digest
                log.warning(
                    "not destroying %s: that needs apply --allow-destroy, and watch never "
                    "destroys; the rest of the group is reconciled",
                    h.reason,
                )
        operations = self._without_marks_in_hand(approved.operations, read_since)
        drifted = {op.group for op in operations if op.group}
        refused_now = {h.group for h in held if h.check == "guard"}
        for change in plan.changes:  # no longer refused (the live state moved): forget it
            if change.group_id not in refused_now:
                self.refused.pop(change.group_id, None)
        if stopped and not operations:
            outcome = "refused" if any(self.refused.get(g) for g in stopped) else "invalid"
            self.metrics.reconciles.labels(label, outcome).inc()
            return outcome, 0
        if not operations:
            self.metrics.reconciles.labels(label, "converged").inc()
            return "converged", 0
        self.metrics.drift_found.inc(len(drifted))
        if self.dry_run:
            log.info(
                "dry run: would make %d call(s) for %s: %s",
                len(operations),
                ", ".join(sorted(drifted)) or "the app",
                ", ".join(f"{api} x{n}" for api, n in _by_api(operations).items()),
            )
            self.metrics.reconciles.labels(label, "dry_run").inc()
            return "dry_run", 0
        result = await engine.apply_operations(self.client, operations)
        errors: dict[str, list[str]] = {}
        for f in [*result.failures, *result.item_failures]:
            errors.setdefault(f.group, []).append(f.message)
        failed = set(errors)
        for gid, messages in sorted(errors.items()):  # tried again when its backoff ends
            self._requeue(gid, self._failed(gid, "; ".join(messages)))
        for gid in drifted - failed:
            self._ok(gid)
        self.metrics.drift_fixed.inc(len(drifted - failed))
        if drifted - failed:
            self._notify(_reverted(sorted(drifted - failed), trigger))
        outcome = "failed" if not result.ok else "partial" if stopped else "applied"
        self.metrics.reconciles.labels(label, outcome).inc()
        return outcome, result.calls_done

    def _without_marks_in_hand(
        self, operations: list[Operation], read_since: float
    ) -> list[Operation]:
        """``operations`` without the marks the marks path has queued, or has set since the
        plan began reading: it sets (or set) the same declared marks itself, and setting them
        here too would spend the rate limit twice and hold the room's marks meanwhile."""
        kept = []
        for op in operations:
            request = op.request
            if isinstance(request, ChangeMarks) and not request.delete:
                queued = self.marks.get(op.group, {})
                set_at = self.marks_set_at.get(op.group, {})
                marks = {
                    a: m
                    for a, m in request.marks.items()
                    if a not in queued and set_at.get(a, -1.0) < read_since
                }
                if not marks:
                    continue
                if len(marks) < len(request.marks):
                    op = Operation(op.group, op.step, ChangeMarks(request.group_id, marks))
            kept.append(op)
        return kept

    def _remember_marks_set(self, gid: str, accounts: list[str], when: float) -> None:
        set_at = self.marks_set_at.setdefault(gid, {})
        for account in accounts:
            set_at.pop(account, None)  # moved to the end: the dict stays oldest first
            set_at[account] = when
        while set_at and next(iter(set_at.values())) < when - MARKS_REMEMBERED_S:
            del set_at[next(iter(set_at))]

    async def _set_marks(self, gid: str, entries: dict[str, float]) -> None:
        """Set the declared marks of the members of ``gid`` that came online."""
        started = self._clock()
        per_account = self.marks_of.get(gid, {})
        wanted = {a: per_account[a] for a in sorted(entries) if a in per_account}
        if not wanted:
            return
        operations = [
            Operation(gid, "set_marks", ChangeMarks(gid, dict(batch)))
            for batch in chunks(sorted(wanted.items()), BATCH[ChangeMarks.api])
        ]
        if self.dry_run:
            log.info("dry run: would set marks of %d member(s) of %s", len(wanted), gid)
            self.metrics.reconciles.labels("marks", "dry_run").inc()
            self._log("online", gid, "dry_run", 0, started)
            return
        done: list[str] = []
        failed = 0

        async def send(op: Operation) -> None:
            nonlocal failed
            try:
                outcome = await self.client.perform(op.request)
            except (TimError, LockError, *MALFORMED) as err:
                # All of them went offline again, or the call failed after the client's
                # retries: the next resync sets what is still missing.
                failed += 1
                log.warning("marks of %s not set: %s", gid, err)
                return
            done.extend(a for a in cast(ChangeMarks, op.request).marks if a not in outcome.offline)

        await asyncio.gather(*(send(op) for op in operations))
        finished = self._clock()
        self._remember_marks_set(gid, done, finished)
        for account in done:
            self.metrics.latency.observe(finished - entries[account])
            if MARK_ALWAYS_ONLINE in wanted[account]:
                self.mark500[(gid, account)] = time.time() + MARK_500_REFRESH_S
        self.metrics.marks_set.inc(len(done))
        outcome = "failed" if failed else "applied"
        self.metrics.reconciles.labels("marks", outcome).inc()
        self._log("online", gid, outcome, len(operations), started, members=len(done))

    def _log(
        self, trigger: str, group: str, outcome: str, calls: int, started: float, **extra: object
    ) -> None:
        latency_ms = round((self._clock() - started) * 1000, 1)
        for gid in self.desired if trigger == "resync" else [group]:
            self.last[gid] = (time.time(), outcome)
        fields = {
            "group": group,
            "trigger": trigger,
            "calls": calls,
            "outcome": outcome,
            "latency_ms": latency_ms,
            **extra,
        }
        text = " ".join(f"{k}={v}" for k, v in fields.items())
        log.info("reconcile %s", text, extra={"fields": {"event": "reconcile", **fields}})

    # -- health -----------------------------------------------------------------------------------
    def alive(self) -> tuple[bool, dict]:
        """The worker went round its loop, or an API call went out, within ``LIVE_S``."""
        now = self._clock()
        requests = self.client.stats.requests
        if requests != self._requests_seen[0]:
            self._requests_seen = (requests, now)
        quiet = now - max(self._turned, self._requests_seen[1])
        return quiet < LIVE_S, {"idle_s": round(quiet, 1)}

    def ready(self) -> tuple[str | None, dict[str, bool]]:
        """Ready to take callbacks: the leader, with a good resync recent, or the resync it
        took the lease with still under way (the callbacks that come meanwhile are queued and
        done after it; a replica not ready then would lose them: the vendor sends each once).
        Returns why not ("standby", or the first check that fails; None when ready) and the
        checks."""
        ok, now = self.last_resync_ok, self._clock()
        window = self.ready_factor * self.resync_s
        led, ended = self.leading_since, self.resync_ended
        catching_up = led is not None and (ended is None or ended < led)
        # An invalid config in the files (a bad commit) is not among them: the last good config
        # runs on, and a replica that stopped taking callbacks for it would serve none.
        checks = {
            "resync_recent": catching_up or (ok is not None and now - ok <= window),
        }
        if self.role == "standby":
            return "standby", checks
        return next((name for name, good in checks.items() if not good), None), checks

    def _group_status(self, gid: str) -> dict:
        failing = self.backoff.failing(gid)
        busy = gid in self.running or gid in self.marking  # work of it is in flight
        if (self.backoff.until(gid) or 0.0) > self._clock():
            state = "backing off"
        elif failing is not None:
            state = "failing"
        elif gid in self.dirty or busy or gid in self.refused:
            # known to differ: an event said so and its reconcile is queued or still under
            # way (in sync once its writes are done), or a guard refused it
            state = "drifted"
        else:
            state = "in sync"
        when, outcome = self.last.get(gid, (None, None))
        return {
            "state": state,
            "last_reconcile": _when(when),
            "outcome": outcome,
            "pending_marks": len(self.marks.get(gid, {})),
            "last_error": failing[1] if failing else None,
        }

    def status(self) -> dict:
        """What /status serves: no config text, no paths, no secrets."""
        return {
            "role": self.role,
            "config_digest": self.config.digest,
            "revision": self.revision.describe(),
            "revision_id": self.revision.id,
            "recorded_revision": self.recorded.describe() if self.recorded else None,
            "superseded": self.superseded,
            "groups": len(self.desired),
            "dry_run": self.dry_run,
            "last_resync": utc_text(int(self.last_resync)) if self.last_resync else None,
            "last_resync_outcome": self.last_resync_outcome,
            "queue_depth": self.depth(),
            "running": len(self.running | self.marking.keys()),
            "refused_groups": sorted(self.refused),
            "per_group": {gid: self._group_status(gid) for gid in sorted(self.desired)},
            "reload_refused_at": (
                utc_text(int(self.reload_refused_at)) if self.reload_refused_at else None
            ),
            "refused_revision": self.refused_revision.describe() if self.refused_revision else None,
        }


def _groups(key: str) -> tuple[str, ...]:
    return () if key == APP else (key,)


def _reverted(groups: list[str], trigger: str) -> Note:
    shown = ", ".join(groups[:10]) + (f" and {len(groups) - 10} more" if len(groups) > 10 else "")
    return Note("drift_reverted", f"drift reverted in {shown} ({trigger})", tuple(groups))


def _when(wall: float | None) -> str | None:
    return utc_text(int(wall)) if wall else None


def _by_api(operations: list[Operation]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in operations:
        counts[op.api] = counts.get(op.api, 0) + 1
    return dict(sorted(counts.items()))
