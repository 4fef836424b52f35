"""One writer per app: a lock that every CI runner of the app can see, with no new infrastructure.

The lock is a Work group with a fixed custom ID (``LOCK_GROUP_ID``). Creating a group with a
given ID succeeds for exactly one caller, so creating it is taking the lock; destroying it is
releasing it. Its introduction holds who took it (user, host, process), when, and when the lease
expires; a holder renews the lease while it works. A lock whose lease has expired, or whose
holder was a process on this host that no longer runs, is taken over: destroyed and created
again. The config may not declare this group, export leaves
it out, and plan never takes it.

The lease is fenced: while held, the lock is its client's fence (``TimClient.fence``), which
every write passes just before it is sent; ``AppLock.check`` reads the lease again at most once
per ``FENCE_S`` and raises ``LockLost`` once its token (the lock ID) is gone, so a lock broken
with ``reconciler lock --break --id ID --force`` stops its holder before its next write batch.
The renewer goes through the same read, and never renews a lease that is no longer its own.
The read is a control read (``client.CONTROL``: a short timeout, hedged), and one that is slow
to answer does not hold up every write: while the lease it last found ours has more than
``LEASE_MARGIN_S`` to run, no other writer can take the lock over, so writes wait for the read
at most ``FENCE_WAIT_S`` and then go on; its answer, when it comes, fences the writes after it
(a lock broken with ``--force`` meanwhile stops its holder once that answer is in).

A writer that waits for a live lease asks for the lock: it writes the lease it would hold into
the lock group's notification (when no one else asks). A holder that releases the lock with a
request there hands it over (the request becomes the lease, so no third writer can take the lock
between them); a long-running holder (watch, ``watch_s``) reads the request within ``watch_s``
and yields between its batches. A request is only a lease not yet held: if its writer stops
waiting, it expires like one.

Takeover is safe against a second taker as long as each runner's calls reach the server in the
order it sends them: a taker reads the expired lease, destroys, then creates; a rival's destroy
lands before the first taker's create can, and only one create succeeds.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from reconciler.errors import LockError, LockLost, ObserveError
from reconciler.state import LOCK_GROUP_ID, GroupType, utc_text
from reconciler.tim.calls import CreateGroup, DestroyGroup, ModifyGroup
from reconciler.tim.client import CONTROL, TimClient, request_counter
from reconciler.tim.errors import ID_TAKEN_CODES, TimApiError, TimError
from reconciler.tim.wire.groups import get_group

log = logging.getLogger(__name__)

LOCK_GROUP_NAME = "tim-reconciler lock"
LEASE_S = 90  # how long a lease lasts without renewal
RENEW_EVERY_S = 30
POLL_S = 2.0  # how often a waiting apply looks again
ASKED_POLL_S = 0.5  # and once it has asked for the lock (a handover is taken up within this)
WAIT_S = 300.0  # how long a writer waits for the lock by default
FENCE_S = 1.0  # a write is sent only if a read of the lease begun at most this long ago was ours
# ... or, while that read is slow to answer (a stalled request, hedged meanwhile), once it has
# been out this long, when the lease last read ours runs for at least LEASE_MARGIN_S more: no
# other writer takes a lease over before it expires (this margin covers the clocks' skew).
FENCE_WAIT_S = 0.5
LEASE_MARGIN_S = 5.0
# This process, apart from any earlier one with the same PID on this host (a container's
# process is PID 1 after every restart): a lease with our host and PID but another process
# token was left by a process that is gone.
PROCESS_TOKEN = secrets.token_hex(8)


@dataclass(frozen=True)
class Lease:
    holder: str  # user@host and what it runs, for people
    host: str
    pid: int
    token: str  # the lock ID: tells this lease from any other, kept by renewals
    since: int
    expires: int
    process: str = ""  # the holder's PROCESS_TOKEN ("" in leases written before it existed)

    def text(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> Lease | None:
        try:
            data = json.loads(text)
            return cls(
                str(data["holder"]),
                str(data["host"]),
                int(data["pid"]),
                str(data["token"]),
                int(data["since"]),
                int(data["expires"]),
                str(data.get("process", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def dead(self, now: float) -> bool:
        """The lease ran out, or its holder was a process on this host that is gone."""
        if self.expires <= now:
            return True
        if self.host != socket.gethostname():
            return False
        if self.pid == os.getpid():  # this PID is ours now: the lease is ours or a dead one's
            return bool(self.process) and self.process != PROCESS_TOKEN
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # alive, another user's
            return False
        return False

    @property
    def purpose(self) -> str:
        """What the holder runs ("apply", "watch", ...), as ``holder_name`` wrote it."""
        return self.holder.rpartition(" (")[2].removesuffix(")")

    def describe(self, now: float) -> str:
        state = "expired" if self.expires <= now else f"lease until {utc_text(self.expires)}"
        return f"{self.holder} pid {self.pid}, since {utc_text(self.since)} ({state})"


def holder_name(purpose: str = "apply") -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"{f'{user}@{socket.gethostname()}'[:80]} ({purpose})"  # the purpose kept whole


async def lock_state(client: TimClient) -> tuple[Lease | None, Lease | None]:
    """The lease the lock group holds now (None when the lock is free), and the request of a
    writer waiting for it (None when none asks)."""
    group = await get_group(client, LOCK_GROUP_ID, CONTROL)
    if group is None:
        return None, None
    lease = Lease.parse(group.introduction or "")
    # A lock group without a readable lease was left by something else: treat it as expired.
    return lease or Lease("an unreadable lease", "", 0, "", 0, 0), Lease.parse(
        group.notification or ""
    )


async def current_lease(client: TimClient) -> Lease | None:
    """The lease the lock group holds now (None when the lock is free)."""
    return (await lock_state(client))[0]


T = TypeVar("T")


async def counted_reads(calls: Counter[str], read: Awaitable[T]) -> T:
    """Await a read of the tool's own groups (the lease, the revision record) and count its
    requests in ``calls["group_reads"]``: a hedged read's second request included, which is
    as much the tool's own call as the first."""
    sent = [0]
    counting = request_counter.set(sent)
    try:
        return await read
    finally:
        request_counter.reset(counting)
        calls["group_reads"] += sent[0]


class AppLock:
    """``async with AppLock(client, ...)`` holds the app's lock for the block."""

    def __init__(
        self,
        client: TimClient,
        *,
        purpose: str = "apply",
        timeout_s: float = WAIT_S,
        lease_s: int = LEASE_S,
        clock: Callable[[], float] = time.time,
        on_wait: Callable[[Lease], None] | None = None,
        ask: bool = True,
        watch_s: float | None = None,
        stand_by: str | None = None,
    ) -> None:
        """``ask``: while waiting, ask the holder for the lock; ``watch_s``: while holding, read
        the lease (and any request, ``asked``) this often, not only at renewals; ``stand_by``: a
        purpose (a watch's standby: "watch") whose holders may keep the lock for as long as they
        live: ``timeout_s`` bounds only the time the lock spends with any other writer."""
        self._client = client
        self._timeout_s = timeout_s
        self._lease_s = lease_s
        self._clock = clock
        self._on_wait = on_wait
        self._ask = ask
        self._watch_s = watch_s
        self._stand_by = stand_by
        self.asked: Lease | None = None  # a waiting writer's request, as last read while held
        self._holder = holder_name(purpose)
        self._lease: Lease | None = None
        self._renewer: asyncio.Task | None = None
        self._confirmed = 0.0  # time.monotonic() when the last read that found it ours began
        self._good_until = 0.0  # and until when that read's lease bars any takeover
        self._reading: asyncio.Future | None = None  # the read of the lease out now
        self._reading_since = 0.0  # and when it began
        self.unconfirmed_writes = 0  # let go on a lease still good while a read of it was slow
        self._lost: LockLost | None = None
        # The tool's own calls while it holds the lock (the lock's, the revision record's), by
        # API: logged at release, so they can be told apart from the plan's.
        self.calls: Counter[str] = Counter()
        self._give_up = asyncio.Event()

    def give_up(self) -> None:
        """End a wait for the lock at once (``acquire`` raises LockError); a create or read
        already sent completes first."""
        self._give_up.set()

    def _new_lease(self, token: str) -> Lease:
        now = int(self._clock())
        return Lease(
            self._holder,
            socket.gethostname(),
            os.getpid(),
            token,
            now,
            now + self._lease_s,
            PROCESS_TOKEN,
        )

    async def _create(self, lease: Lease) -> bool:
        """Create the lock group holding ``lease``; False when a lock group was there already
        (ours, from a retried create, or another writer's: the lease read next tells)."""
        request = CreateGroup(
            LOCK_GROUP_ID, GroupType.Private, LOCK_GROUP_NAME, introduction=lease.text()
        )
        self.calls[CreateGroup.api] += 1
        try:
            return not (await self._client.perform(request)).existed
        except TimApiError as err:
            if err.code not in ID_TAKEN_CODES:  # the ID holds a group of another type
                raise
            return False

    async def _state(self) -> tuple[Lease | None, Lease | None]:
        return await counted_reads(self.calls, lock_state(self._client))

    async def _current(self) -> Lease | None:
        return (await self._state())[0]

    async def _modify(
        self, *, introduction: str | None = None, notification: str | None = None
    ) -> None:
        self.calls[ModifyGroup.api] += 1
        request = ModifyGroup(LOCK_GROUP_ID, introduction=introduction, notification=notification)
        await self._client.perform(request)

    def _open(self, request: Lease | None, ours: str) -> bool:
        """Whether ``request`` is another writer's, still waiting."""
        return request is not None and request.token != ours and request.expires > self._clock()

    async def _destroy(self) -> None:
        self.calls[DestroyGroup.api] += 1
        await self._client.perform(DestroyGroup(LOCK_GROUP_ID))

    async def acquire(self) -> None:
        deadline = time.monotonic() + self._timeout_s
        told: str | None = None
        token = secrets.token_hex(8)
        asked: str | None = None  # the holder's lock ID when this wait asked for the lock
        while True:
            attempt = self._new_lease(token)
            if await self._create(attempt):
                self._lease = attempt
                break
            held, request = await self._state()
            if held is None:
                continue  # released meanwhile: try again at once
            if held.token == attempt.token:
                # A retried create whose first attempt did reach the server, or a holder
                # handed the lock over to this wait's request: the lock is ours.
                self._lease = held
                break
            if held.dead(self._clock()):
                log.warning("taking over the app lock from %s", held.describe(self._clock()))
                try:
                    await self._destroy()
                except TimApiError:
                    pass  # someone else's takeover got there first; look again
                continue
            if self._stand_by is not None and held.purpose == self._stand_by:
                deadline = time.monotonic() + self._timeout_s  # standing by: not yet waiting
            if told != held.token and self._on_wait is not None:
                self._on_wait(held)
                told = held.token
            if self._ask and asked != held.token and not self._open(request, token):
                await self._modify(notification=attempt.text())
                asked = held.token
            if self._give_up.is_set() or time.monotonic() >= deadline:
                if asked is not None:
                    await self._withdraw(token)
            if self._give_up.is_set():
                raise LockError("stopped waiting for the app lock; nothing was written")
            if time.monotonic() >= deadline:
                raise LockError(
                    f"the app is locked by {held.describe(self._clock())}; gave up after "
                    f"waiting {self._timeout_s:g} s. Nothing was applied. If that run is dead, "
                    "wait for its lease to expire or break the lock with: reconciler lock "
                    f"--break --id {held.token} --force"
                )
            try:
                await asyncio.wait_for(self._give_up.wait(), ASKED_POLL_S if asked else POLL_S)
            except TimeoutError:
                pass
        # The first write batch reads the lease (and waits for it: nothing is known good yet).
        self._confirmed, self._good_until, self._lost = 0.0, 0.0, None
        if self._client.fence is None:
            self._client.fence = self.check
        self._renewer = asyncio.create_task(self._renew())

    async def _withdraw(self, token: str) -> None:
        """A wait that asked for the lock ends: give back a lock handed over meanwhile, or take
        the request back (best effort: an abandoned request expires like a lease)."""
        try:
            held, request = await self._state()
            if held is not None and held.token == token:
                await self._destroy()
            elif request is not None and request.token == token:
                await self._modify(notification="")
        except (TimError, ObserveError) as err:
            log.warning("could not withdraw the request for the app lock: %s", err)

    @property
    def held(self) -> bool:
        return self._lease is not None

    @property
    def lost(self) -> LockLost | None:
        """Why the lease is no longer this run's, once a read has found so."""
        return self._lost

    async def check(self) -> None:
        """Return when a read of the lease begun at most ``FENCE_S`` ago found it this run's;
        raise ``LockLost`` (and keep raising it) once it is not. Every write awaits this just
        before it is sent (``TimClient.fence``), so a write batch is the writes sent within
        ``FENCE_S`` of one read, and a takeover visible before that read began stops all of
        them. The lease is read at most once per ``FENCE_S`` (and before the first write after
        acquiring); callers that come while a read is out share it. A read still unanswered
        ``FENCE_WAIT_S`` after it began holds no write while the lease it last found ours runs
        for ``LEASE_MARGIN_S`` more (``_good_until``): until then no other writer can take it
        over; the writes after its answer are fenced by it."""
        while True:
            if self._lost is not None:
                raise self._lost
            if self._lease is None:
                raise LockError("this run does not hold the app lock; nothing more is written")
            now = time.monotonic()
            if now - self._confirmed < FENCE_S:
                return
            reading = self._look_out()
            if now >= self._good_until:  # nothing known: wait for the read, however long
                await asyncio.shield(reading)
                continue
            wait = self._reading_since + FENCE_WAIT_S - now
            try:
                if wait <= 0:
                    raise TimeoutError
                await asyncio.wait_for(asyncio.shield(reading), wait)
            except TimeoutError:
                self.unconfirmed_writes += 1
                return

    def _look_out(self) -> asyncio.Future:
        """The read of the lease that is out now, begun if none is: one at a time, shared by
        every caller that comes meanwhile."""
        if self._reading is None:
            self._reading_since = time.monotonic()
            self._reading = asyncio.ensure_future(self._read())
            # Read its outcome even when every caller went on without it (a slow read).
            self._reading.add_done_callback(lambda done: done.cancelled() or done.exception())
        return self._reading

    async def _look(self) -> None:
        """Read the lease (or wait for the read that is out)."""
        await asyncio.shield(self._look_out())

    async def _read(self) -> None:
        started, wall = time.monotonic(), self._clock()
        try:
            held, request = await self._state()
        except (TimError, ObserveError) as err:
            raise LockError(
                f"could not read the app lock's lease ({err}); stopped before the next write"
            ) from err
        finally:
            self._reading = None
        lease = self._lease
        if lease is None:
            return
        if held is not None and held.token == lease.token:
            self._confirmed = max(self._confirmed, started)
            self._good_until = max(self._good_until, started + held.expires - wall - LEASE_MARGIN_S)
            self.asked = request if self._open(request, lease.token) else None
        elif self._lost is None:
            now = self._clock()
            who = (
                f"taken over by {held.describe(now)}, lock ID {held.token}"
                if held is not None
                else "broken (it is free now)"
            )
            self._lost = LockLost(
                f"the app lock (lock ID {lease.token}) was {who} while this run held it. "
                "Stopped before the next write batch; what was written is kept. Run plan to "
                "see what is left, and apply again when the app is yours to write."
            )

    async def _renew(self) -> None:
        every = min(RENEW_EVERY_S, self._lease_s / 3)
        renewed_at = time.monotonic()
        while True:
            await asyncio.sleep(min(every, self._watch_s or every))
            try:
                await self._look()  # never renew a lease that is no longer ours
            except LockError as err:
                log.warning("%s", err)
                continue
            lease = self._lease
            if lease is None or self._lost is not None:
                return
            if time.monotonic() < renewed_at + every - 0.05:  # not due yet: only looked
                continue
            renewed_at = time.monotonic()
            renewed = replace(lease, expires=int(self._clock()) + self._lease_s)
            try:
                await self._modify(introduction=renewed.text())
                self._lease = renewed
            except (TimApiError, LockError) as err:
                log.warning("could not renew the app lock: %s", err)

    async def release(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None
        if self._client.fence == self.check:
            self._client.fence = None
        lease, self._lease = self._lease, None
        if lease is None or self._lost is not None:  # a lost lease was reported when found
            return
        try:
            held, request = await self._state()
            if held is not None and held.token == lease.token and self._open(request, lease.token):
                assert request is not None
                await self._modify(introduction=request.text(), notification="")
                log.info("handed the app lock over to %s, who asked for it", request.holder)
            elif held is not None and held.token == lease.token:
                await self._destroy()
            else:
                log.warning("the app lock was taken over while this run held it")
        except (TimError, ObserveError) as err:  # the work is done; the lease runs out by itself
            log.warning(
                "could not release the app lock (%s); it expires at %s",
                err,
                utc_text(lease.expires),
            )

    async def __aenter__(self) -> AppLock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.shield(self.release())


async def break_lock(
    client: TimClient, *, lock_id: str | None = None, force: bool = False
) -> Lease | None:
    """Destroy the lock group and return the lease that was there (None when the lock is
    free). A live lease is broken only given its lock ID and ``force``; a wrong ID is refused."""
    held = await current_lease(client)
    if held is None:
        return None
    now = time.time()
    if lock_id is not None and lock_id != held.token:
        raise LockError(
            f"Refused: the app lock held by {held.describe(now)} has lock ID {held.token}, "
            f"not {lock_id}; nothing was changed. Run reconciler lock to see who holds it now."
        )
    if not held.dead(now) and (lock_id is None or not force):
        raise LockError(
            f"Refused: the app lock is held by {held.describe(now)}, a live lease: that run "
            "may still be writing, and nothing was changed. If it is dead, wait for the lease "
            f"to expire, or break it with: reconciler lock --break --id {held.token} --force "
            "(its holder stops before its next write)."
        )
    await client.perform(DestroyGroup(LOCK_GROUP_ID))
    return held
