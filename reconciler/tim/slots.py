"""In-flight slots per API, handed out by priority: the longest chain of dependent calls first.

A Community's member list comes one page after another (each needs the previous page's
``Next``), so reading the biggest one takes its page count times the latency at best. When all
pages wait in one first-come queue, every page of that chain also waits behind the pages of
every other group, and the chain, not the rate limit, sets the time of the whole read. A caller
that knows how many dependent calls are still to come after this one sets ``PRIORITY`` to that
number; waiting calls with more to come are let in first, in arrival order among equals.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from contextvars import ContextVar

# Dependent calls still to come after the one about to be made (0 for an independent call).
PRIORITY: ContextVar[int] = ContextVar("call_priority", default=0)
# Above any count of pages: a call that every write waits on (``client.Patience``).
URGENT = 1 << 62


class PrioritySlots:
    """At most ``size`` holders at once; waiters are admitted highest ``PRIORITY`` first."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (-PRIORITY.get(), next(self._order), granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release()  # the slot arrived as the waiter was cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiting:
            _, _, granted = heapq.heappop(self._waiting)
            if not granted.done():  # (a cancelled waiter's entry is skipped)
                granted.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()
