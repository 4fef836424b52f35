"""Watch backs off like a controller, in process on a short scale (the delays are parameters):
a failure that is the app's (a wrong secret key) backs the whole loop off, and a group whose
writes fail backs off alone while the others go on."""

from __future__ import annotations

import asyncio
import logging
import time

from conftest import Workspace

from reconciler import engine
from reconciler.config import load_config
from reconciler.tim.callbacks import MEMBER_JOINED, GroupEvent
from reconciler.tim.errors import TimApiError
from reconciler.watch.controller import Controller
from reconciler.watch.metrics import Metrics

BASE_S, CAP_S = 0.05, 0.4  # stand for 5 s and 5 minutes


def _metric(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_wrong_key_backs_the_app_off(ws: Workspace, monkeypatch, caplog) -> None:
    ws.seed([], accounts=["alice", "bob"])
    ws.write([{"id": "club", "type": "Public", "name": "Club", "members": ["alice", "bob"]}])
    config = load_config(ws.dir)
    emulator = engine.embedded_emulator(config.app, config.base_dir)  # the right key
    monkeypatch.setenv("TIM_SECRET_KEY", "wrong-key")  # the watch's: every call is 70009
    caplog.set_level(logging.INFO, logger="reconciler.watch")
    async with engine.Session(config.app, config.base_dir, lock=False, emulator=emulator) as s:
        metrics = Metrics(stats=lambda: s.client.stats, depth=lambda: 0)
        controller = Controller(
            config, s, metrics, resync_s=1, coalesce_s=0.01, backoff_s=(BASE_S, CAP_S)
        )
        worker = asyncio.create_task(controller.run())
        try:
            await asyncio.sleep(1.0)  # "the first minute": the backoff reaches its cap
            before, backoffs = (
                s.client.stats.requests,
                _metric(metrics, "reconciler_watch_backoffs_total", scope="app"),
            )
            lines = len([r for r in caplog.records if "backing off" in r.getMessage()])
            window = 3.0
            deadline = time.monotonic() + window
            while time.monotonic() < deadline:  # callbacks keep coming meanwhile
                controller.on_event(GroupEvent(MEMBER_JOINED, "joined", "club", ["bob"]))
                await asyncio.sleep(0.01)
            rate = (s.client.stats.requests - before) / window
            started = _metric(metrics, "reconciler_watch_backoffs_total", scope="app") - backoffs
            logged = len([r for r in caplog.records if "backing off" in r.getMessage()]) - lines
        finally:
            controller.stop()
            await worker
    print(f"wrong key: {rate:.1f} calls/s after the first second at a {CAP_S} s cap")
    # At the cap, one attempt per 0.32-0.48 s, each one refused call (70009 is not retried).
    assert 0 < rate <= 1 / (CAP_S * 0.8) + 1, rate
    assert started == logged  # one log line per backoff, none per refused call or callback
    assert "wrong-key" not in caplog.text
    assert controller.ready()[0] == "standby"  # it never got the lock


async def test_a_failing_group_backs_off_alone(ws: Workspace) -> None:
    ws.seed(
        [
            {"GroupId": "good", "Type": "Public", "Name": "good"},
            {"GroupId": "bad", "Type": "Public", "Name": "old name"},
        ],
        accounts=["alice", "bob"],
    )
    ws.write(
        [
            {"id": "good", "type": "Public", "name": "good", "members": ["alice"]},
            {"id": "bad", "type": "Public", "name": "new name"},
        ]
    )
    config = load_config(ws.dir)
    emulator = engine.embedded_emulator(config.app, config.base_dir)
    async with engine.Session(config.app, config.base_dir, lock=False, emulator=emulator) as s:
        metrics = Metrics(stats=lambda: s.client.stats, depth=lambda: 0)
        controller = Controller(
            config, s, metrics, resync_s=3600, coalesce_s=0.01, backoff_s=(0.1, 0.8)
        )
        perform, attempts, broken = s.client.perform, [], [True]

        async def failing(request):
            if getattr(request, "group_id", None) == "bad" and broken[0]:
                attempts.append(time.monotonic())
                raise TimApiError(request.api, 10004, "refused for this test")
            return await perform(request)

        s.client.perform = failing
        worker = asyncio.create_task(controller.run())
        try:
            while controller.last_resync is None:
                await asyncio.sleep(0.02)
            started = time.monotonic()
            assert "alice" in ws.members("good")
            # The good group is reconciled at once while the bad one backs off.
            await asyncio.to_thread(ws.control, "leave", GroupId="good", Account="alice")
            controller.on_event(GroupEvent(MEMBER_JOINED, "joined", "good", ["alice"]))
            while "alice" not in ws.members("good"):
                assert time.monotonic() - started < 2
                await asyncio.sleep(0.02)
            await asyncio.sleep(3.0 - (time.monotonic() - started))
            gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
            status = controller.backoff.failing("bad")
            broken[0] = False  # the cause is fixed: the next attempt converges
            while ws.live("bad")["Name"] != "new name":
                assert time.monotonic() - started < 6
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.05)
            cleared = controller.backoff.failing("bad")
        finally:
            controller.stop()
            await worker
    print(f"bad group: {len(attempts)} attempts in 3 s, gaps {[round(g, 2) for g in gaps]}")
    assert 4 <= len(attempts) <= 8, attempts  # 0.1, 0.2, 0.4, 0.8, 0.8 ... +-20%
    assert all(b >= a * 0.9 for a, b in zip(gaps, gaps[1:], strict=False) if a < 0.6), (
        gaps
    )  # growing
    assert max(gaps) <= 0.8 * 1.2 + 0.1, gaps  # capped
    assert status is not None and "refused for this test" in status[1]
    assert cleared is None
    assert _metric(metrics, "reconciler_watch_backoffs_total", scope="group") == len(attempts)
