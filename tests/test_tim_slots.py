"""In-flight slots handed out by priority (reconciler.tim.slots): the longest chain goes first."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.tim.slots import PRIORITY, PrioritySlots


async def _holder(slots: PrioritySlots, name: str, priority: int, log: list[str]) -> None:
    PRIORITY.set(priority)  # each task has its own context
    async with slots:
        log.append(name)
        await asyncio.sleep(0)


def test_waiters_are_admitted_by_priority_then_in_arrival_order() -> None:
    async def main() -> list[str]:
        slots = PrioritySlots(1)
        log: list[str] = []
        await slots.acquire()  # held: everyone below has to wait
        tasks = [
            asyncio.create_task(_holder(slots, name, priority, log))
            for name, priority in [("a", 0), ("b", 5), ("c", 0), ("d", 9), ("e", 5)]
        ]
        await asyncio.sleep(0)
        slots.release()
        await asyncio.gather(*tasks)
        return log

    assert asyncio.run(main()) == ["d", "b", "e", "a", "c"]


def test_never_more_holders_than_slots() -> None:
    async def main() -> int:
        slots = PrioritySlots(3)
        inside = peak = 0

        async def work(priority: int) -> None:
            nonlocal inside, peak
            PRIORITY.set(priority)
            async with slots:
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0.001)
                inside -= 1

        await asyncio.gather(*(work(i % 4) for i in range(40)))
        return peak

    assert asyncio.run(main()) == 3


def test_a_cancelled_waiter_gives_up_its_place_and_a_granted_slot_is_passed_on() -> None:
    async def main() -> list[str]:
        slots = PrioritySlots(1)
        log: list[str] = []
        await slots.acquire()
        gone = asyncio.create_task(_holder(slots, "gone", 9, log))
        late = asyncio.create_task(_holder(slots, "late", 1, log))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        slots.release()
        await late
        # Granted and cancelled in the same turn: the slot must reach the next waiter.
        await slots.acquire()
        granted = asyncio.create_task(_holder(slots, "granted", 5, log))
        after = asyncio.create_task(_holder(slots, "after", 0, log))
        await asyncio.sleep(0)
        slots.release()  # hands the slot to "granted"...
        granted.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await granted
        await asyncio.wait_for(after, 1)
        return log

    assert asyncio.run(main()) == ["late", "after"]
