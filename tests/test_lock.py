"""One writer per app (reconciler.lock): concurrent applies, killed holders, expiry, `lock`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    BASE_APP,
    Server,
    Workspace,
    client_for,
    dump_yaml,
    make_emulator,
    run_cli,
    start_server,
    wait_until,
)

from reconciler.errors import LockError
from reconciler.lock import AppLock, Lease, current_lease
from reconciler.state import LOCK_GROUP_ID


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


def _seed_lease(db: Path, lease: Lease) -> None:
    from reconciler.emulator import EmulatorStore

    store = EmulatorStore(db)
    try:
        store.seed(
            [
                {
                    "GroupId": LOCK_GROUP_ID,
                    "Type": "Private",
                    "Name": "lock",
                    "Introduction": lease.text(),
                }
            ]
        )
    finally:
        store.close()


def _live_members(server: Server, gid: str) -> set[str]:
    group = server.dump()["groups"].get(gid)
    return {m["Member_Account"] for m in group["MemberList"]} if group else set()


@pytest.fixture
def slow_server(tmp_path: Path):
    server = start_server(tmp_path / "served.sqlite3", latency_ms=60)
    yield server
    server.proc.terminate()
    server.proc.wait(timeout=15)


def test_two_applies_at_once_never_interleave(slow_server: Server, tmp_path: Path) -> None:
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
    _seed_lease(
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
    broke = run_cli("lock", cfg, "--break", env=env)
    assert broke.code == 0 and "Broke the lock held by ci@runner-7" in broke.out
    assert run_cli("lock", cfg, env=env).out.strip() == "The app lock is free."
    assert run_cli("apply", cfg, "--auto-approve", env=env).code == 0


def test_an_expired_lease_from_another_runner_is_taken_over(
    slow_server: Server, tmp_path: Path
) -> None:
    long_ago = int(time.time()) - 3600
    _seed_lease(
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
    import reconciler.lock as lock_module

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
    import asyncio

    await asyncio.sleep(seconds)


def test_the_lock_group_cannot_be_declared_and_is_not_exported(ws: Workspace) -> None:
    ws.write([{"id": LOCK_GROUP_ID, "type": "Work", "name": "Mine"}])
    run = ws.cli("validate", ".")
    assert run.code == 1 and "groups.yaml:" in run.err and "app's lock" in run.err, run
    ws.write([{"id": "g", "type": "Work", "name": "G", "members": ["boss"]}])
    assert ws.apply().code == 0
    now = int(time.time())
    ws.db.parent.mkdir(exist_ok=True)
    _seed_lease(ws.db, Lease("x", "elsewhere", 1, "y", now, now + 600))
    out = ws.cli("export", ".", "--all")
    assert out.code == 0 and LOCK_GROUP_ID not in out.out and "id: g" in out.out, out
    assert json.dumps(LOCK_GROUP_ID) not in out.out
