"""One writer per app (reconciler.lock): concurrent applies, killed holders, expiry, `lock`."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    BASE_APP,
    Server,
    Workspace,
    client_for,
    dump_yaml,
    make_emulator,
    plan_groups,
    run_cli,
    seed_lease,
    start_server,
    wait_until,
)

import reconciler.lock as lock_module
from reconciler import engine
from reconciler.errors import LockError, LockLost
from reconciler.lock import AppLock, Lease, break_lock, current_lease
from reconciler.state import LOCK_GROUP_ID, Group, GroupType
from reconciler.tim.calls import CreateGroup
from reconciler.tim.client import Patience


def _config(cfg: Path, server: Server, groups: list[dict[str, Any]]) -> Path:
    cfg.mkdir(parents=True, exist_ok=True)
    doc = {"app": {**BASE_APP, "endpoint": server.url}, "groups": groups}
    (cfg / "groups.yaml").write_text(dump_yaml(doc))
    return cfg


def _club(*members: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"club-{i}",
            "type": "Public",
            "name": "Club",
            "owner": "boss",
            "members": list(members),
        }
        for i in range(8)
    ]


def _live_members(server: Server, gid: str) -> set[str]:
    group = server.dump()["groups"].get(gid)
    return {m["Member_Account"] for m in group["MemberList"]} if group else set()


def _served(tmp_path: Path, latency_ms: int):
    server = start_server(tmp_path / "served.sqlite3", latency_ms=latency_ms)
    yield server
    server.proc.terminate()
    server.proc.wait(timeout=15)


@pytest.fixture
def slow_server(tmp_path: Path):
    yield from _served(tmp_path, 60)


@pytest.fixture
def slower_server(tmp_path: Path):
    # Slow enough that the first apply is still writing while the second starts on a busy machine.
    yield from _served(tmp_path, 250)


def test_two_applies_at_once_never_interleave(slower_server: Server, tmp_path: Path) -> None:
    slow_server = slower_server
    a = _config(tmp_path / "a", slow_server, _club("boss", *(f"a{i}" for i in range(30))))
    b = _config(tmp_path / "b", slow_server, _club("boss", *(f"b{i}" for i in range(30))))
    env = slow_server.env()
    command = [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--force"]
    first = subprocess.Popen(  # one call at a time, so it is still writing when b starts
        [*command, "--parallelism", "1", str(a)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert wait_until(lambda: LOCK_GROUP_ID in slow_server.dump()["groups"], timeout=30)
    second = subprocess.Popen(
        [*command, str(b)], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out_a, err_a = first.communicate(timeout=120)
    out_b, err_b = second.communicate(timeout=120)
    assert first.returncode == 0, err_a
    assert second.returncode == 0, err_b
    assert "Waiting for the app lock, held by" in err_b, err_b
    # The second waited, then planned against what the first had made: the live state is b's.
    for i in range(8):
        assert _live_members(slow_server, f"club-{i}") == {"boss", *(f"b{i}" for i in range(30))}
    assert LOCK_GROUP_ID not in slow_server.dump()["groups"]  # released
    assert run_cli("plan", b, "--detailed-exitcode", env=env).code == 0


def test_a_locked_app_makes_apply_give_up_naming_the_holder(
    slow_server: Server, tmp_path: Path
) -> None:
    now = int(time.time())
    seed_lease(
        slow_server.db, Lease("ci@runner-7 (apply)", "runner-7", 4242, "t" * 16, now, now + 600)
    )
    cfg = _config(tmp_path / "a", slow_server, _club("boss", "a1"))
    env = slow_server.env()
    before = slow_server.dump()
    run = run_cli("apply", cfg, "--auto-approve", "--lock-timeout", "1", env=env)
    assert run.code == 1, run
    assert (
        "locked by ci@runner-7 (apply) pid 4242" in run.err and "reconciler lock --break" in run.err
    )
    after = slow_server.dump()
    assert {g for g in after["groups"]} == {g for g in before["groups"]}  # nothing applied
    # plan never takes the lock, and `lock` shows the holder.
    assert run_cli("plan", cfg, env=env).code == 0
    shown = run_cli("lock", cfg, env=env)
    assert shown.code == 0 and "The app is locked by ci@runner-7 (apply) pid 4242" in shown.out
    broke = run_cli("lock", cfg, "--break", "--id", "t" * 16, "--force", env=env)
    assert broke.code == 0 and "Broke the lock held by ci@runner-7" in broke.out
    assert run_cli("lock", cfg, env=env).out.strip() == "The app lock is free."
    assert run_cli("apply", cfg, "--auto-approve", env=env).code == 0


def test_an_expired_lease_from_another_runner_is_taken_over(
    slow_server: Server, tmp_path: Path
) -> None:
    long_ago = int(time.time()) - 3600
    seed_lease(
        slow_server.db, Lease("ci@gone (apply)", "gone", 1, "x" * 16, long_ago, long_ago + 90)
    )
    cfg = _config(tmp_path / "a", slow_server, _club("boss", "a1"))
    run = run_cli("apply", cfg, "--auto-approve", "--lock-timeout", "5", env=slow_server.env())
    assert run.code == 0, run
    assert _live_members(slow_server, "club-0") == {"boss", "a1"}
    assert LOCK_GROUP_ID not in slow_server.dump()["groups"]


def test_an_apply_killed_while_holding_the_lock_is_taken_over(
    slow_server: Server, tmp_path: Path
) -> None:
    cfg = _config(tmp_path / "a", slow_server, _club("boss", *(f"a{i}" for i in range(60))))
    env = slow_server.env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(cfg), "--auto-approve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert wait_until(lambda: LOCK_GROUP_ID in slow_server.dump()["groups"], timeout=30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    lease = Lease.parse(slow_server.dump()["groups"][LOCK_GROUP_ID]["Introduction"])
    assert lease is not None and lease.pid == proc.pid and lease.host == socket.gethostname()
    # Its process is gone from this host: the next apply takes the lock at once, and converges.
    started = time.monotonic()
    run = run_cli("apply", cfg, "--auto-approve", "--lock-timeout", "5", env=env)
    assert run.code == 0, run
    assert time.monotonic() - started < 60
    assert run_cli("plan", cfg, "--detailed-exitcode", env=env).code == 0


async def test_a_lease_is_renewed_while_held_and_a_rival_waits(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(lock_module, "RENEW_EVERY_S", 0.05)
    monkeypatch.setattr(lock_module, "POLL_S", 0.05)
    app = make_emulator(tmp_path / "emu.sqlite3")
    async with client_for(app) as client:
        holder = AppLock(client, lease_s=2)
        await holder.acquire()
        first = await current_lease(client)
        await _sleep(0.3)
        renewed = await current_lease(client)
        assert renewed.token == first.token and renewed.expires >= first.expires
        rival = AppLock(client, timeout_s=0.3)
        rival._holder = "someone else"
        with pytest.raises(LockError, match="locked by"):
            # Same process, so not taken over as a dead local holder: it waits and gives up.
            await rival.acquire()
        await holder.release()
        assert await current_lease(client) is None


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def test_the_lock_group_cannot_be_declared_and_is_not_exported(ws: Workspace) -> None:
    ws.write([{"id": LOCK_GROUP_ID, "type": "Work", "name": "Mine"}])
    run = ws.cli("validate", ".")
    assert run.code == 1 and "groups.yaml:" in run.err and "app's lock" in run.err, run
    ws.write([{"id": "g", "type": "Work", "name": "G", "members": ["boss"]}])
    assert ws.apply().code == 0
    now = int(time.time())
    ws.db.parent.mkdir(exist_ok=True)
    seed_lease(ws.db, Lease("x", "elsewhere", 1, "y", now, now + 600))
    out = ws.cli("export", ".", "--all")
    assert out.code == 0 and LOCK_GROUP_ID not in out.out and "id: g" in out.out, out
    assert json.dumps(LOCK_GROUP_ID) not in out.out


# --- the fenced lock: a lock ID, a refused --break, and a holder that stops -------------------


def _live_lease(token: str = "f" * 16) -> Lease:
    now = int(time.time())
    return Lease("ci@runner-7 (apply)", "runner-7", 4242, token, now, now + 600)


def test_lock_shows_its_id_and_a_live_lease_is_broken_only_with_it_and_force(
    ws: Workspace,
) -> None:
    ws.write([{"id": "g", "type": "Work", "name": "G", "members": ["boss"]}])
    ws.db.parent.mkdir(exist_ok=True)
    seed_lease(ws.db, _live_lease())
    shown = ws.cli("lock", ".")
    assert shown.code == 0 and f"Lock ID: {'f' * 16}" in shown.out, shown
    before = ws.dump()
    for flags in (
        ["--break"],
        ["--break", "--id", "f" * 16],  # the ID, but not --force
        ["--break", "--force"],  # --force, but not the ID
    ):
        run = ws.cli("lock", ".", *flags)
        assert run.code == 1, (flags, run)
        assert "Refused" in run.err and "ci@runner-7 (apply) pid 4242" in run.err, run
        assert f"reconciler lock --break --id {'f' * 16} --force" in run.err, run
        assert ws.dump() == before  # still held, nothing changed
    wrong = ws.cli("lock", ".", "--break", "--id", "0" * 16, "--force")
    assert wrong.code == 1 and f"lock ID {'f' * 16}, not {'0' * 16}" in wrong.err, wrong
    assert ws.dump() == before
    alone = ws.cli("lock", ".", "--id", "f" * 16)
    assert alone.code == 1 and "go with --break" in alone.err, alone
    broke = ws.cli("lock", ".", "--break", "--id", "f" * 16, "--force")
    assert broke.code == 0 and "Broke the lock held by ci@runner-7" in broke.out, broke
    assert LOCK_GROUP_ID not in ws.dump()["groups"]
    assert ws.cli("lock", ".").out.strip() == "The app lock is free."


def test_an_expired_lease_is_broken_by_break_alone_but_not_with_a_wrong_id(
    ws: Workspace,
) -> None:
    ws.write([{"id": "g", "type": "Work", "name": "G", "members": ["boss"]}])
    ws.db.parent.mkdir(exist_ok=True)
    long_ago = int(time.time()) - 3600
    seed_lease(ws.db, Lease("ci@gone (apply)", "gone", 1, "e" * 16, long_ago, long_ago + 90))
    wrong = ws.cli("lock", ".", "--break", "--id", "0" * 16)
    assert wrong.code == 1 and LOCK_GROUP_ID in ws.dump()["groups"], wrong
    broke = ws.cli("lock", ".", "--break")
    assert broke.code == 0 and "Broke the lock held by ci@gone" in broke.out, broke
    assert LOCK_GROUP_ID not in ws.dump()["groups"]


def _groups(prefix: str) -> list:
    return [
        Group.model_validate({"id": f"{prefix}{i}", "type": "Public", "name": prefix})
        for i in range(10)
    ]


async def test_a_holder_taken_over_between_batches_stops_before_the_next(tmp_path: Path) -> None:
    app = make_emulator(tmp_path / "emu.sqlite3")
    async with client_for(app) as client, client_for(app) as other:
        holder = AppLock(client)
        await holder.acquire()
        first = await plan_groups(client, _groups("a"))
        reads = client.stats.calls["get_group_info"]
        started = time.monotonic()
        done = await engine.apply_operations(client, first.operations)
        assert done.ok and all(f"a{i}" in app.state.store.dump()["groups"] for i in range(10))
        # Cheap: one read of the lease before the first write, then at most one per FENCE_S.
        reads = client.stats.calls["get_group_info"] - reads
        assert 1 <= reads <= 1 + (time.monotonic() - started) / lock_module.FENCE_S + 1
        # Between batches, another run breaks the lock with its ID and --force, and takes it.
        token = (await current_lease(other)).token
        assert (await break_lock(other, lock_id=token, force=True)).token == token
        rival = AppLock(other)
        rival._holder = "ci@rival (apply)"
        await rival.acquire()
        second = await plan_groups(client, _groups("b"))
        assert second.operations
        await asyncio.sleep(lock_module.FENCE_S)  # the next batch comes after the interval
        with pytest.raises(LockLost, match=r"taken over by ci@rival \(apply\) pid") as stopped:
            await engine.apply_operations(client, second.operations)
        assert f"lock ID {rival._lease.token}" in str(stopped.value)
        live = app.state.store.dump()["groups"]
        assert not any(f"b{i}" in live for i in range(10))  # no write of the later batch
        await holder.release()  # leaves the rival's lock alone
        assert (await current_lease(other)).token == rival._lease.token
        await rival.release()


def test_an_apply_at_its_prompt_whose_lock_is_broken_applies_nothing(
    server: Server, tmp_path: Path
) -> None:
    cfg = _config(tmp_path / "a", server, _club("boss", "a1"))
    env = server.env(TERM="dumb")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(cfg)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    seen, deadline = b"", time.monotonic() + 60

    poller = select.poll()  # not select.select: the suite's descriptors may pass 1024
    poller.register(leader, select.POLLIN)

    def read_until(done) -> None:
        nonlocal seen
        while not done() and time.monotonic() < deadline:
            if poller.poll(200):
                try:
                    chunk = os.read(leader, 4096)
                except OSError:
                    return
                if not chunk:
                    return
                seen += chunk

    try:
        read_until(lambda: b"Enter a value" in seen)
        assert b"Enter a value" in seen, seen
        shown = run_cli("lock", cfg, env=server.env())
        lock_id = re.search(r"Lock ID: (\w+)", shown.out).group(1)
        assert run_cli("lock", cfg, "--break", env=server.env()).code == 1  # live: refused
        broke = run_cli("lock", cfg, "--break", "--id", lock_id, "--force", env=server.env())
        assert broke.code == 0, broke
        os.write(leader, b"yes\n")
        read_until(lambda: proc.poll() is not None)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    text = seen.decode(errors="replace")
    assert code == 1, text
    assert f"the app lock (lock ID {lock_id}) was broken" in text and "Stopped before" in text
    assert "Apply complete" not in text
    assert not any(g.startswith("club-") for g in server.dump()["groups"])


async def test_the_renewer_never_renews_a_lease_taken_over(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(lock_module, "RENEW_EVERY_S", 0.05)
    app = make_emulator(tmp_path / "emu.sqlite3")
    async with client_for(app) as client, client_for(app) as other:
        holder = AppLock(client, lease_s=2)
        await holder.acquire()
        await break_lock(other, lock_id=holder._lease.token, force=True)
        rival = AppLock(other)
        await rival.acquire()
        taken = await current_lease(client)
        await _sleep(0.3)  # several renewals of the holder would have come and gone
        assert (await current_lease(client)).token == taken.token  # still the rival's
        assert isinstance(holder.lost, LockLost)
        with pytest.raises(LockLost):
            await holder.check()
        await holder.release()
        await rival.release()


async def test_writes_queued_behind_the_rate_limiter_are_not_sent_after_a_takeover(
    tmp_path: Path,
) -> None:
    """The fence sits where a write leaves (after the limiter), not where it is queued: at
    20 calls/s, 60 creates queued at once stop within about FENCE_S of the lock's break."""
    app = make_emulator(tmp_path / "emu.sqlite3")
    groups = [
        Group.model_validate({"id": f"q{i}", "type": "Public", "name": "q"}) for i in range(60)
    ]

    def made() -> int:
        return sum(g.startswith("q") for g in app.state.store.dump()["groups"])

    async with client_for(app, rate_limit=20) as client, client_for(app) as other:
        holder = AppLock(client)
        await holder.acquire()
        plan = await plan_groups(client, groups)
        running = asyncio.ensure_future(engine.apply_operations(client, plan.operations))
        await asyncio.sleep(0.5)
        await break_lock(other, lock_id=holder._lease.token, force=True)
        with pytest.raises(LockLost, match=r"was broken \(it is free now\)"):
            await running
        stopped_at = made()
        assert 0 < stopped_at < 60
        await asyncio.sleep(0.3)
        assert made() == stopped_at  # nothing left afterwards
        await holder.release()


async def test_the_lock_writes_through_the_plans_requests(tmp_path: Path, monkeypatch) -> None:
    """Taking, renewing and releasing the lock are the same requests a plan sends (create,
    modify and destroy a group), through ``TimClient.perform``."""
    monkeypatch.setattr(lock_module, "RENEW_EVERY_S", 0.05)
    app = make_emulator(tmp_path / "emu.sqlite3")
    sent: list[str] = []
    async with client_for(app) as client:
        perform = client.perform

        async def recorded(request):
            sent.append(request.api)
            return await perform(request)

        monkeypatch.setattr(client, "perform", recorded)
        async with AppLock(client, lease_s=2):
            await _sleep(0.2)
        assert await current_lease(client) is None
    assert sent[0] == "create_group" and sent[-1] == "destroy_group"
    assert "modify_group_base_info" in sent


async def test_a_restart_with_the_same_pid_takes_over_its_dead_lease_at_once(
    tmp_path: Path,
) -> None:
    # A container's process is PID 1 after every restart, on the same host name: the lease
    # the previous process left is told apart by its process token, not by the PID.
    app = make_emulator(tmp_path / "emu.sqlite3")
    async with client_for(app) as client:
        now = int(time.time())
        left = Lease(
            "watch@pod", socket.gethostname(), os.getpid(), "a" * 16, now, now + 3600, "b" * 16
        )
        await client.perform(
            CreateGroup(LOCK_GROUP_ID, GroupType.Private, "lock", introduction=left.text())
        )
        assert left.dead(now)
        ours = AppLock(client, timeout_s=0.5)
        started = time.monotonic()
        await ours.acquire()
        assert time.monotonic() - started < 0.5
        held = await current_lease(client)
        assert held.token != left.token and held.process == lock_module.PROCESS_TOKEN
        assert not held.dead(now)  # our own live lease
        await ours.release()


class _LeaseReadsStall(httpx.AsyncBaseTransport):
    """The embedded emulator, except that while ``stalled`` is set, each read of the lock group
    (hedged ones included) gets no answer until ``released`` is set, as a request the server
    lost or a hung connection; then it is answered as the emulator answers it then."""

    def __init__(self, app) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self.stalled = False
        self.released = asyncio.Event()
        self.answered = 0  # lease reads answered

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        lease_read = request.url.path.endswith("/get_group_info") and (
            LOCK_GROUP_ID.encode() in request.content
        )
        if lease_read and self.stalled:
            await self.released.wait()
        response = await self._inner.handle_async_request(request)
        self.answered += lease_read
        return response


# Reads of the lease that stay out for as long as the stall lasts (instead of giving up after
# CONTROL's 2 s and being retried), so what the writes do meanwhile is all the test sees.
STALLS_LAST = Patience(timeout_s=120.0, hedge_after_s=0.2)


async def test_a_stalled_read_of_the_lease_holds_no_write_while_the_lease_is_good(
    tmp_path: Path, monkeypatch
) -> None:
    """Writes wait at most FENCE_WAIT_S for a read of the lease that is out, while the lease it
    last found ours runs for more than LEASE_MARGIN_S (no one can take it over before it
    expires); the read's answer, once it comes, still stops the writes after it."""
    monkeypatch.setattr(lock_module, "CONTROL", STALLS_LAST)
    app = make_emulator(tmp_path / "emu.sqlite3")
    stalls = _LeaseReadsStall(app)

    def made(prefix: str) -> int:
        return sum(f"{prefix}{i}" in app.state.store.dump()["groups"] for i in range(10))

    async with client_for(app, transport=stalls) as client, client_for(app) as other:
        holder = AppLock(client)  # a 90 s lease
        await holder.acquire()
        first = await plan_groups(client, _groups("a"))
        assert (await engine.apply_operations(client, first.operations)).ok
        stalls.stalled, answered = True, stalls.answered
        second = await plan_groups(client, _groups("b"))
        await asyncio.sleep(lock_module.FENCE_S)  # the last read is too old to fence alone
        # The bound is only against a hang: without the lease's validity, every write waited
        # for the stalled read (here for as long as it lasts, at least the client's timeout).
        done = await asyncio.wait_for(engine.apply_operations(client, second.operations), 60)
        assert done.ok and made("b") == 10
        assert stalls.answered == answered  # no answer of the lease fenced these writes
        assert holder.unconfirmed_writes >= 1 and client.stats.hedges >= 1
        # The lock is broken meanwhile: once the read answers, the holder knows, and stops.
        await break_lock(other, lock_id=holder._lease.token, force=True)
        stalls.released.set()
        while holder.lost is None:
            await asyncio.wait_for(holder._look(), 60)
        third = await plan_groups(client, _groups("c"))
        with pytest.raises(LockLost, match=r"was broken \(it is free now\)"):
            await engine.apply_operations(client, third.operations)
        assert made("c") == 0
        await holder.release()


async def test_a_lease_not_known_good_holds_the_writes_until_it_is_read(
    tmp_path: Path, monkeypatch
) -> None:
    """Fencing as before where the lease gives no time to go on: with less than LEASE_MARGIN_S
    to run (a short lease), a write waits for the read of the lease, however long it takes."""
    monkeypatch.setattr(lock_module, "CONTROL", STALLS_LAST)
    app = make_emulator(tmp_path / "emu.sqlite3")
    stalls = _LeaseReadsStall(app)
    async with client_for(app, transport=stalls) as client:
        holder = AppLock(client, lease_s=int(lock_module.LEASE_MARGIN_S))
        await holder.acquire()
        plan = await plan_groups(client, _groups("a"))
        stalls.stalled = True
        writing = asyncio.ensure_future(engine.apply_operations(client, plan.operations))
        await asyncio.sleep(lock_module.FENCE_WAIT_S * 4)
        assert not writing.done()
        assert not any(g.startswith("a") for g in app.state.store.dump()["groups"])
        stalls.released.set()
        assert (await asyncio.wait_for(writing, 60)).ok
        await holder.release()


async def test_a_hedged_read_of_the_lease_is_counted_as_the_tools_own_calls(
    tmp_path: Path, monkeypatch
) -> None:
    """The tool's own calls (counted apart from a plan's) hold every request its reads send:
    a read of the lease sent again after a stall counts twice, as the server counts it."""
    monkeypatch.setattr(lock_module, "CONTROL", STALLS_LAST)
    app = make_emulator(tmp_path / "emu.sqlite3")
    stalls = _LeaseReadsStall(app)
    async with client_for(app, transport=stalls) as client:
        holder = AppLock(client)
        await holder.acquire()
        reads, requests = holder.calls["group_reads"], client.stats.requests
        stalls.stalled = True
        look = asyncio.ensure_future(holder._look())
        bound = time.monotonic() + 60  # a hang guard only
        while client.stats.hedges == 0 and time.monotonic() < bound:
            await asyncio.sleep(0.05)
        stalls.released.set()
        await asyncio.wait_for(look, 60)
        assert client.stats.requests - requests == 2
        assert holder.calls["group_reads"] - reads == 2
        await holder.release()
