"""One writer per app: a lock that every CI runner of the app can see, with no new infrastructure.

The lock is a Work group with a fixed custom ID (``LOCK_GROUP_ID``). Creating a group with a
given ID succeeds for exactly one caller, so creating it is taking the lock; destroying it is
releasing it. Its introduction holds who took it, when, and when the lease expires; a holder
renews the lease while it works, and a lock whose lease has expired (its holder was killed) is
taken over: destroyed and created again. The config may not declare this group, export leaves
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
from dataclasses import dataclass

from reconciler.errors import LockError
from reconciler.state import GroupType, utc_text
from reconciler.tim.calls import CreateGroup, ModifyGroup
from reconciler.tim.client import TimClient
from reconciler.tim.errors import GROUP_GONE_CODES, ID_TAKEN_CODES, TimApiError

log = logging.getLogger(__name__)

LOCK_GROUP_ID = "tim-reconciler-lock"
LOCK_GROUP_NAME = "tim-reconciler lock"
LEASE_S = 300  # how long a lease lasts without renewal
RENEW_EVERY_S = 60
POLL_S = 2.0  # how often a waiting apply looks again


@dataclass(frozen=True)
class Lease:
    holder: str  # user@host, process ID and what it runs
    token: str  # tells this lease from any other of the same holder
    since: int
    expires: int

    def text(self) -> str:
        return json.dumps(
            {
                "holder": self.holder,
                "token": self.token,
                "since": self.since,
                "expires": self.expires,
            },
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, text: str) -> Lease | None:
        try:
            data = json.loads(text)
            return cls(
                str(data["holder"]), str(data["token"]), int(data["since"]), int(data["expires"])
            )
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self, now: float) -> str:
        state = "expired" if self.expires <= now else f"expires {utc_text(self.expires)}"
        return f"{self.holder}, since {utc_text(self.since)} ({state})"


def _me(purpose: str) -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()} {purpose}"[:120]


async def current(client: TimClient) -> Lease | None:
    """The lease the lock group holds now (None when the lock is free)."""
    found = await client.get_group_info([LOCK_GROUP_ID])
    info = found[0] if found and isinstance(found[0], dict) else {}
    if info.get("ErrorCode", 0) in GROUP_GONE_CODES or not info:
        return None
    lease = Lease.parse(str(info.get("Introduction") or ""))
    # A lock group without a readable lease was left by something else: treat it as expired.
    return lease or Lease("an unreadable lease", "", 0, 0)


class AppLock:
    """``async with AppLock(client, ...)`` holds the app's lock for the block."""

    def __init__(
        self,
        client: TimClient,
        *,
        purpose: str = "apply",
        timeout_s: float = 300.0,
        lease_s: int = LEASE_S,
        clock: Callable[[], float] = time.time,
        on_wait: Callable[[Lease], None] | None = None,
    ) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._lease_s = lease_s
        self._clock = clock
        self._on_wait = on_wait
        self._holder = _me(purpose)
        self._lease: Lease | None = None
        self._renewer: asyncio.Task | None = None

    def _new_lease(self) -> Lease:
        now = int(self._clock())
        return Lease(self._holder, secrets.token_hex(8), now, now + self._lease_s)

    async def _try_create(self) -> bool:
        lease = self._new_lease()
        request = CreateGroup(
            LOCK_GROUP_ID, GroupType.Private, LOCK_GROUP_NAME, introduction=lease.text()
        )
        try:
            await self._client.create_group(request.body())
        except TimApiError as err:
            if err.code in ID_TAKEN_CODES:
                return False
            raise
        self._lease = lease
        return True

    async def acquire(self) -> None:
        deadline = time.monotonic() + self._timeout_s
        told: str | None = None
        while True:
            if await self._try_create():
                break
            held = await current(self._client)
            if held is None:
                continue  # released meanwhile: try again at once
            if held.expires <= self._clock():
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
            renewed = Lease(
                lease.holder, lease.token, lease.since, int(self._clock()) + self._lease_s
            )
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
        held = await current(self._client)
        if held is not None and held.token == lease.token:
            await self._client.destroy_group(LOCK_GROUP_ID, missing_ok=True)
        else:
            log.warning("the app lock was taken over while this run held it")

    async def __aenter__(self) -> AppLock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.shield(self.release())


async def break_lock(client: TimClient) -> Lease | None:
    """Destroy the lock group whoever holds it; return the lease that was there."""
    held = await current(client)
    if held is not None:
        await client.destroy_group(LOCK_GROUP_ID, missing_ok=True)
    return held
