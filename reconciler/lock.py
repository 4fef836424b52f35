"""One writer per app: a lock that every CI runner of the app can see, with no new infrastructure.

The lock is a Work group with a fixed custom ID (``LOCK_GROUP_ID``). Creating a group with a
given ID succeeds for exactly one caller, so creating it is taking the lock; destroying it is
releasing it. Its introduction holds who took it (user, host, process), when, and when the lease
expires; a holder renews the lease while it works. A lock whose lease has expired, or whose
holder was a process on this host that no longer runs, is taken over: destroyed and created
again. The config may not declare this group, export leaves
it out, and plan never takes it.

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
from collections.abc import Callable
from dataclasses import dataclass, replace

from reconciler.errors import LockError
from reconciler.state import LOCK_GROUP_ID, GroupType, utc_text
from reconciler.tim.calls import CreateGroup, ModifyGroup
from reconciler.tim.client import TimClient
from reconciler.tim.errors import GROUP_GONE_CODES, ID_TAKEN_CODES, TimApiError, TimError

log = logging.getLogger(__name__)

LOCK_GROUP_NAME = "tim-reconciler lock"
LEASE_S = 90  # how long a lease lasts without renewal
RENEW_EVERY_S = 30
POLL_S = 2.0  # how often a waiting apply looks again
WAIT_S = 300.0  # how long a writer waits for the lock by default


@dataclass(frozen=True)
class Lease:
    holder: str  # user@host and what it runs, for people
    host: str
    pid: int
    token: str  # tells this lease from any other of the same holder
    since: int
    expires: int

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
            )
        except (ValueError, KeyError, TypeError):
            return None

    def dead(self, now: float) -> bool:
        """The lease ran out, or its holder was a process on this host that is gone."""
        if self.expires <= now:
            return True
        if self.host != socket.gethostname() or self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # alive, another user's
            return False
        return False

    def describe(self, now: float) -> str:
        state = "expired" if self.expires <= now else f"lease until {utc_text(self.expires)}"
        return f"{self.holder} pid {self.pid}, since {utc_text(self.since)} ({state})"


def _holder(purpose: str) -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()} ({purpose})"[:100]


async def current_lease(client: TimClient) -> Lease | None:
    """The lease the lock group holds now (None when the lock is free)."""
    found = await client.get_group_info([LOCK_GROUP_ID])
    info = found[0] if found and isinstance(found[0], dict) else {}
    if info.get("ErrorCode", 0) in GROUP_GONE_CODES or not info:
        return None
    lease = Lease.parse(str(info.get("Introduction") or ""))
    # A lock group without a readable lease was left by something else: treat it as expired.
    return lease or Lease("an unreadable lease", "", 0, "", 0, 0)


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
    ) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._lease_s = lease_s
        self._clock = clock
        self._on_wait = on_wait
        self._holder = _holder(purpose)
        self._lease: Lease | None = None
        self._renewer: asyncio.Task | None = None

    def _new_lease(self) -> Lease:
        now = int(self._clock())
        token = secrets.token_hex(8)
        return Lease(
            self._holder, socket.gethostname(), os.getpid(), token, now, now + self._lease_s
        )

    async def _create(self, lease: Lease) -> Lease:
        """Create the lock group holding ``lease`` (TimApiError 10021/10025 when it exists)."""
        request = CreateGroup(
            LOCK_GROUP_ID, GroupType.Private, LOCK_GROUP_NAME, introduction=lease.text()
        )
        await self._client.create_group(request.body())
        return lease

    async def acquire(self) -> None:
        deadline = time.monotonic() + self._timeout_s
        told: str | None = None
        while True:
            attempt = self._new_lease()
            try:
                self._lease = await self._create(attempt)
                break
            except TimApiError as err:
                if err.code not in ID_TAKEN_CODES:
                    raise
            held = await current_lease(self._client)
            if held is None:
                continue  # released meanwhile: try again at once
            if held.token == attempt.token:
                # A retried create whose first attempt did reach the server: the lock is ours.
                self._lease = held
                break
            if held.dead(self._clock()):
                log.warning("taking over the app lock from %s", held.describe(self._clock()))
                try:
                    await self._client.destroy_group(LOCK_GROUP_ID, missing_ok=True)
                except TimApiError:
                    pass  # someone else's takeover got there first; look again
                continue
            if told != held.token and self._on_wait is not None:
                self._on_wait(held)
                told = held.token
            if time.monotonic() >= deadline:
                raise LockError(
                    f"the app is locked by {held.describe(self._clock())}; gave up after "
                    f"waiting {self._timeout_s:g} s. Nothing was applied. If that run is dead, "
                    "wait for its lease to expire or break the lock with: reconciler lock --break"
                )
            await asyncio.sleep(POLL_S)
        self._renewer = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            lease = self._lease
            if lease is None:
                return
            renewed = replace(lease, expires=int(self._clock()) + self._lease_s)
            try:
                await self._client.modify_group_base_info(
                    ModifyGroup(LOCK_GROUP_ID, introduction=renewed.text()).body()
                )
                self._lease = renewed
            except TimApiError as err:
                log.warning("could not renew the app lock: %s", err)

    async def release(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            held = await current_lease(self._client)
            if held is not None and held.token == lease.token:
                await self._client.destroy_group(LOCK_GROUP_ID, missing_ok=True)
            else:
                log.warning("the app lock was taken over while this run held it")
        except TimError as err:  # the work is done; the lease runs out by itself
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


async def break_lock(client: TimClient) -> Lease | None:
    """Destroy the lock group whoever holds it; return the lease that was there."""
    held = await current_lease(client)
    if held is not None:
        await client.destroy_group(LOCK_GROUP_ID, missing_ok=True)
    return held
