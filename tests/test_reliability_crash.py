"""Crashes: `python -m reconciler apply` killed with SIGKILL at random points while it talks to
`reconciler emulator serve` (with latency); each re-run converges and loses nothing the config
keeps. The kill point is chosen by the number of requests the server has seen, so every trial
lands in the middle of the apply (no timing assumptions)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    SDKAPPID,
    Server,
    cli_env,
    cli_in_process,
    dump_yaml,
    start_server,
    stop_process,
)

from reconciler.emulator import EmulatorStore

TRIALS = 20
LONG_TRIALS = 100


def scenario(i: int, prefix: str) -> tuple[list[dict], list[dict], dict[str, set[str]]]:
    """(live groups to seed, desired groups, members that must survive per group)."""
    p = f"{prefix}{i}"
    if i % 2 == 0:  # creation-heavy: imports past create_group's 100, attributes, accounts
        desired = [
            {
                "id": f"{p}-pub",
                "type": "Public",
                "name": "Pub",
                "owner": f"{p}-o",
                "max_members": 200,
                "members": [
                    {"account": f"{p}-m{j:03d}", "name_card": f"c{j}"}
                    if j % 20 == 0
                    else f"{p}-m{j:03d}"
                    for j in range(130)
                ],
            },
            {
                "id": f"@TGS#_{p}-c",
                "type": "Community",
                "name": "Comm",
                "owner": f"{p}-o",
                "members": [
                    {"account": f"{p}-k{j}", "role": "Admin", "custom": {"t": "x"}}
                    for j in range(5)
                ],
            },
            {
                "id": f"{p}-av",
                "type": "AVChatRoom",
                "name": "Live",
                "custom": {"a": "b"},
                "mute_all": True,
            },
            {
                "id": f"{p}-w",
                "type": "Work",
                "name": "Work",
                "owner": f"{p}-o",
                "members": [f"{p}-m000", f"{p}-m001"],
            },
        ]
        return [], desired, {}
    live = [
        {
            "GroupId": f"{p}-pub",
            "Type": "Public",
            "Name": "Old",
            "Owner_Account": f"{p}-o",
            "MaxMemberNum": 50,
            "MemberList": [{"Member_Account": f"{p}-m{j}"} for j in range(6)],
        },
        {
            "GroupId": f"{p}-add",
            "Type": "ChatRoom",
            "Name": "Add",
            "Owner_Account": f"{p}-o",
            "MemberList": [{"Member_Account": f"{p}-q{j}"} for j in range(6)],
        },
        {"GroupId": f"{p}-gone", "Type": "Private", "Name": "Gone", "Owner_Account": f"{p}-o"},
    ]
    desired = [
        {
            "id": f"{p}-pub",
            "type": "Public",
            "name": "New",
            "owner": f"{p}-m1",
            "max_members": 8,
            "custom": {"k": "v"},
            "members": [
                {"account": f"{p}-m{j}", "name_card": f"n{j}", "msg_flag": "Discard"}
                for j in range(1, 5)
            ]
            + [f"{p}-n{j}" for j in range(2)],
        },
        {
            "id": f"{p}-add",
            "type": "Meeting",
            "members_mode": "additive",
            "mute_all": True,
            "members": [{"account": f"{p}-q0", "role": "Admin"}, f"{p}-new"],
        },
        {"id": f"{p}-gone", "type": "Work", "state": "absent"},
    ]
    keep = {
        f"{p}-pub": {f"{p}-m{j}" for j in range(1, 5)},
        f"{p}-add": {f"{p}-q{j}" for j in range(6)},
    }
    return live, desired, keep


def write_config(cfg: Path, server: Server, groups: list[dict[str, Any]]) -> None:
    cfg.mkdir(parents=True, exist_ok=True)
    app = {"sdkappid": SDKAPPID, "endpoint": server.url, "create_missing_accounts": True}
    (cfg / "groups.yaml").write_text(dump_yaml({"app": app, "groups": groups}))


def members_of(server: Server, gid: str) -> set[str]:
    g = server.dump()["groups"].get(gid)
    return {m["Member_Account"] for m in g["MemberList"]} if g else set()


def kill_after_requests(server: Server, proc: subprocess.Popen, start: int, k: int) -> bool:
    """SIGKILL ``proc`` once the server has seen ``k`` more requests; False if it ended first."""
    while proc.poll() is None:
        if server.stats()["total"] - start >= k:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            return True
        time.sleep(0.002)
    return False


def run_trials(server: Server, tmp: Path, trials: int, seed: int, prefix: str) -> None:
    rng = random.Random(seed)
    killed = 0
    store = EmulatorStore(server.db)
    for i in range(trials):
        live, desired, keep = scenario(i, prefix)
        if live:
            store.seed(live)
        cfg = tmp / f"{prefix}{i}"
        write_config(cfg, server, desired)
        # Requests a full apply makes here: 3-4 to observe and 8-20 calls.
        k = rng.randint(2, 16)
        start = server.stats()["total"]
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "apply",
                str(cfg),
                "--auto-approve",
                "--allow-destroy",
            ],
            env=server.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            killed += kill_after_requests(server, proc, start, k)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        where = f"trial {i} (seed {seed}, killed after {k} requests)"
        run = cli_in_process("apply", cfg, "--auto-approve", "--allow-destroy")
        assert run.code == 0, (where, run)
        run = cli_in_process("plan", cfg, "--detailed-exitcode")
        assert run.code == 0, (where, run)
        for gid, kept in keep.items():
            assert kept <= members_of(server, gid), (where, gid)
        for g in desired:
            if g.get("state") == "absent":
                assert members_of(server, g["id"]) == set(), where
            elif "members" in g:
                listed = {m if isinstance(m, str) else m["account"] for m in g["members"]}
                assert listed <= members_of(server, g["id"]), where
    store.close()
    assert killed >= trials // 2, f"only {killed} of {trials} applies were cut off"


@pytest.fixture
def slow_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = start_server(tmp_path / "crash.sqlite3", latency_ms=10)
    monkeypatch.setenv("TIM_SECRET_KEY", server.key)
    try:
        yield server
    finally:
        stop_process(server.proc)


def test_sigkill_during_apply_then_rerun_converges(slow_server: Server, tmp_path: Path) -> None:
    seed = int(os.environ.get("RECONCILER_CRASH_SEED", "20240601"))
    run_trials(slow_server, tmp_path, TRIALS, seed, "k")


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("RECONCILER_LONG_TESTS"), reason="set RECONCILER_LONG_TESTS=1 to run"
)
def test_sigkill_many_trials(slow_server: Server, tmp_path: Path) -> None:
    run_trials(slow_server, tmp_path, LONG_TRIALS, random.randrange(1 << 30), "l")


def test_sigkill_at_a_random_time_real_subprocess(slow_server: Server, tmp_path: Path) -> None:
    """The issue's form: a random wall-clock point (not request-counted) also converges."""
    live, desired, _ = scenario(0, "w")
    cfg = tmp_path / "w"
    write_config(cfg, slow_server, desired)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(cfg), "--auto-approve"],
        env=cli_env(TIM_SECRET_KEY=slow_server.key),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(random.uniform(0.3, 1.2))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert cli_in_process("apply", cfg, "--auto-approve").code == 0
    assert cli_in_process("plan", cfg, "--detailed-exitcode").code == 0
