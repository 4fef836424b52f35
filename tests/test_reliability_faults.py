"""Faults: apply against an emulator that fails 20% of requests (HTTP 502, dropped connections,
stalls, internal errors). apply either converges or reports exactly the operations that failed;
a re-run without faults converges; nothing the config keeps is ever lost."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    SDKAPPID,
    Workspace,
    client_for,
    dump_yaml,
    make_emulator,
    plan_groups,
    run_cli,
    start_server,
    stop_process,
)

import reconciler.connect
import reconciler.emulator.app
from reconciler.config import load_config
from reconciler.engine import apply_operations
from reconciler.state import LOCK_GROUP_ID
from reconciler.tim.client import TimClient

FUTURE = int(time.time()) + 7 * 86400


def live_state() -> list[dict[str, Any]]:
    """Existing groups, some of whose members the config keeps and some it removes."""
    return [
        {
            "GroupId": "pub-old",
            "Type": "Public",
            "Name": "Old",
            "Owner_Account": "boss",
            "MemberList": [{"Member_Account": f"p{i}"} for i in range(6)],
        },
        {
            "GroupId": "add-old",
            "Type": "ChatRoom",
            "Name": "Additive",
            "Owner_Account": "boss",
            "MemberList": [{"Member_Account": f"q{i}"} for i in range(5)],
        },
        {
            "GroupId": "av-old",
            "Type": "AVChatRoom",
            "Name": "Live",
            "Owner_Account": "boss",
            "MemberList": [{"Member_Account": f"v{i}", "Online": True} for i in range(4)],
        },
    ]


def desired_state() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [
        {
            "id": "pub-old",
            "type": "Public",
            "name": "Renamed",
            "owner": "p1",
            "members": ["p1", "p2", "p3", {"account": "p4", "name_card": "Four"}, "n1"],
        },
        {
            "id": "add-old",
            "type": "Meeting",
            "members_mode": "additive",
            "members": [{"account": "q1", "muted_until": FUTURE}, "n2"],
            "custom": {"a": "1"},
        },
        {"id": "av-old", "type": "AVChatRoom", "marks": {1000: ["v0", "v1"], 1001: ["v2"]}},
    ]
    for i in range(6):
        gtype = ["Work", "Public", "Meeting", "Community", "AVChatRoom", "Public"][i]
        gid = f"@TGS#_new{i}" if gtype == "Community" else f"new{i}"
        g: dict[str, Any] = {"id": gid, "type": gtype, "name": f"N{i}", "owner": "boss"}
        if gtype != "AVChatRoom":
            g["members"] = [
                {
                    "account": f"x{i}-{j}",
                    "role": "Admin" if j == 0 else "Member",
                    "name_card": f"card{j}",
                }
                for j in range(4)
            ]
            g["mute_all"] = True
        groups.append(g)
    return groups


def write_config(cfg: Path, groups: list[dict[str, Any]], **app: Any) -> None:
    cfg.mkdir(parents=True, exist_ok=True)
    doc = {"app": {"sdkappid": SDKAPPID, "create_missing_accounts": True, **app}, "groups": groups}
    (cfg / "groups.yaml").write_text(dump_yaml(doc))


def members_of(dump: dict[str, Any], gid: str) -> set[str]:
    g = dump["groups"].get(gid)
    return {m["Member_Account"] for m in g["MemberList"]} if g else set()


def kept_members(before: dict[str, Any]) -> dict[str, set[str]]:
    """Members the config keeps: the listed ones, and all of the additive group."""
    return {
        "pub-old": members_of(before, "pub-old") & {"p1", "p2", "p3", "p4"},
        "add-old": members_of(before, "add-old"),
    }


def assert_nothing_kept_is_lost(before: dict[str, Any], now: dict[str, Any]) -> None:
    for gid, kept in kept_members(before).items():
        assert kept <= members_of(now, gid), (gid, kept - members_of(now, gid))


async def no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


async def _apply_with_faults(tmp: Path, seed: int, max_attempts: int) -> None:
    db = tmp / "emu.sqlite3"
    clean = make_emulator(db)
    faulty = make_emulator(db, fault_rate=0.2, seed=seed, stall_s=0.02)
    clean.state.store.seed(live_state())
    cfg = tmp / "cfg"
    write_config(cfg, desired_state())
    groups = load_config(cfg).groups
    before = clean.state.store.dump()

    async with client_for(clean) as good, client_for(faulty, max_attempts=max_attempts) as bad:
        bad._sleep = no_sleep  # backoff without waiting; the schedule is tested elsewhere
        plan = await plan_groups(good, groups)
        assert not plan.errors and not plan.refusals
        result = await apply_operations(bad, plan.operations)
        stats = faulty.state.emulator.stats()
        assert stats["faults"], "the seed should inject some faults"
        now = clean.state.store.dump()
        assert_nothing_kept_is_lost(before, now)

        failed = result.failures + result.item_failures
        if max_attempts == 1:
            # Every faulted request is one failed operation, reported with its API; no other.
            faulted = Counter(api.split("/")[1] for _, api, _ in stats["fault_log"])
            assert Counter(f.api for f in result.failures) == faulted
        else:
            assert len(result.failures) <= sum(stats["faults"].values())
        # Groups with no reported failure are done: the next plan touches only failed ones.
        failed_groups = {f.group for f in failed}
        again = await plan_groups(good, groups)
        leftover = {op.group for op in again.operations}
        if "" in failed_groups:  # the account import failed: no group ran
            assert result.skipped == len(plan.operations) - sum(
                1 for o in plan.operations if not o.group
            )
        else:
            assert leftover <= failed_groups, (leftover, failed)
        if not failed:
            assert again.operations == []
        # A re-run without faults converges.
        plan2 = await plan_groups(good, groups)
        rerun = await apply_operations(good, plan2.operations)
        assert rerun.ok, rerun.failures
        final = await plan_groups(good, groups)
        assert final.operations == []
        assert_nothing_kept_is_lost(before, clean.state.store.dump())


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_faults_with_retries_converge_or_report(tmp_path: Path, seed: int) -> None:
    asyncio.run(_apply_with_faults(tmp_path, seed, max_attempts=6))


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_faults_without_retries_report_exactly_the_failed_operations(
    tmp_path: Path, seed: int
) -> None:
    asyncio.run(_apply_with_faults(tmp_path, seed, max_attempts=1))


def test_create_group_retried_after_a_dropped_answer_is_success(tmp_path: Path) -> None:
    """A create that reached the server but whose answer was lost answers 10021/10025 on the
    retry; apply looks, sees a group of the same type, and takes it."""

    async def go() -> None:
        db = tmp_path / "emu.sqlite3"
        # Seed 0's draws: find a seed whose first request is a post-command fault.
        seed = next(s for s in range(500) if _first_fault(s) in ("http502", "drop"))
        faulty = make_emulator(db, fault_rate=0.2, seed=seed)
        groups = [{"id": "g1", "type": "Public", "name": "G", "owner": "boss"}]
        cfg = tmp_path / "cfg"
        write_config(cfg, groups)
        clean = make_emulator(db)
        clean.state.store.seed([], accounts=["boss"])
        async with client_for(clean) as good, client_for(faulty) as bad:
            bad._sleep = no_sleep
            plan = await plan_groups(good, load_config(cfg).groups)
            assert [op.api for op in plan.operations] == ["create_group"]
            result = await apply_operations(bad, plan.operations)
            assert result.ok, result.failures
            assert bad.stats.retries >= 1
            errors = faulty.state.emulator.stats()["errors"]
            assert "10021" in errors or "10025" in errors, errors
            assert (await plan_groups(good, load_config(cfg).groups)).operations == []

    asyncio.run(go())


def _first_fault(seed: int) -> str | None:
    import random

    rng = random.Random(seed)
    hit, which = rng.random(), rng.random()
    if hit >= 0.2:
        return None
    return ("error", "http502", "drop", "stall")[min(int(which * 4), 3)]


# --- through the CLI -----------------------------------------------------------------------------


class Injector:
    """Make the CLI's emulator a faulty one for the writes of the plan: reads (observe) and the
    app lock's calls go through unharmed, so every fault lands on an operation of the plan."""

    READS = frozenset({"get_group_info", "get_group_member_info", "get_members", "account_check"})

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, fault_rate: float, **faults: Any):
        self.apps: list[Any] = []
        real = reconciler.emulator.app.create_app
        reads = self.READS

        def factory(*args: Any, **kw: Any):
            app = real(*args, **kw, fault_rate=fault_rate, **faults)
            emulator = app.state.emulator

            async def writes_faulty(scope, receive, send):
                if scope["type"] != "http":
                    return await app(scope, receive, send)
                chunks, more = [], True
                while more:
                    message = await receive()
                    chunks.append(message.get("body", b""))
                    more = message.get("more_body", False)
                body = b"".join(chunks)
                spared = scope["path"].rsplit("/", 1)[-1] in reads or LOCK_GROUP_ID.encode() in body
                # The emulator draws the fault right after reading the body, with no await in
                # between, so no other request sees this setting.
                emulator.fault_rate = 0.0 if spared else fault_rate

                async def replay():
                    return {"type": "http.request", "body": body, "more_body": False}

                return await app(scope, replay, send)

            writes_faulty.state = app.state
            self.apps.append(writes_faulty)
            return writes_faulty

        monkeypatch.setattr(reconciler.emulator.app, "create_app", factory)


def failed_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("FAILED group ")]


def test_cli_partial_failure_is_reported_and_rerun_converges(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.seed(live_state())
    ws.write(desired_state())
    before = ws.dump()
    injector = Injector(monkeypatch, fault_rate=0.25, seed=11, stall_s=0.02)
    monkeypatch.setattr(reconciler.connect, "TimClient", partial(TimClient, max_attempts=1))
    run = ws.apply()
    faults = injector.apps[-1].state.emulator.stats()["faults"]
    n_faults = sum(faults.values())
    assert n_faults > 0
    assert run.code == 1, run
    lines = failed_lines(run.err)
    assert len(lines) == n_faults, (lines, faults)
    summary = re.search(r"(\d+) failed, (\d+) skipped", run.out)
    assert summary and int(summary.group(1)) == n_faults, run
    assert "Traceback" not in run.err
    assert_nothing_kept_is_lost(before, ws.dump())
    monkeypatch.undo()
    monkeypatch.delenv("TIM_SECRET_KEY", raising=False)
    ws.converge()
    assert_nothing_kept_is_lost(before, ws.dump())


class RefusingTransport(httpx.AsyncBaseTransport):
    """Wraps the emulator's transport: import_group_member refuses one account (Result 0)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, refused: str) -> None:
        self.inner = inner
        self.refused = refused

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/import_group_member"):
            return await self.inner.handle_async_request(request)
        body = json.loads(request.content)
        wanted = [m for m in body["MemberList"] if m["Member_Account"] != self.refused]
        refused = len(wanted) < len(body["MemberList"])
        forward = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=json.dumps({**body, "MemberList": wanted}).encode(),
        )
        response = await self.inner.handle_async_request(forward)
        data = json.loads(await response.aread())
        if refused:
            data.setdefault("MemberList", []).append({"Member_Account": self.refused, "Result": 0})
        return httpx.Response(200, json=data)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_cli_member_refused_is_reported_and_rerun_converges(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = httpx.ASGITransport
    groups = [
        {
            "id": "big",
            "type": "Public",
            "name": "Big",
            "owner": "boss",
            "members": [f"m{i:03d}" for i in range(150)] + ["refused-user"],
        },
        {"id": "other", "type": "Meeting", "name": "Other", "members": ["a", "b"]},
    ]
    ws.write(groups)
    monkeypatch.setattr(
        httpx, "ASGITransport", lambda app: RefusingTransport(real(app=app), "refused-user")
    )
    run = ws.apply()
    assert run.code == 1, run
    lines = failed_lines(run.err)
    assert lines == [
        "FAILED group big import_group_member: member refused-user was refused by the API "
        "(Result 0)"
    ], run
    assert "1 failed" in run.out
    members = ws.members("big")
    assert len(members) == 151 and "refused-user" not in members
    assert ws.live("other") is not None
    monkeypatch.undo()
    ws.converge()
    assert "refused-user" in ws.members("big")


def test_http_server_with_fault_rate_then_clean_rerun_converges(tmp_path: Path) -> None:
    db = tmp_path / "served.sqlite3"
    server = start_server(db, fault_rate=0.2, seed=14)  # 14: no 30 s stalls early on
    try:
        from reconciler.emulator import EmulatorStore

        store = EmulatorStore(db)
        store.seed(live_state())
        before = store.dump()
        store.close()
        cfg = tmp_path / "cfg"
        write_config(cfg, desired_state(), endpoint=server.url)
        run = run_cli("apply", cfg, "--auto-approve", env=server.env(), timeout=120)
        stats = server.stats()
        assert sum(stats["faults"].values()) > 0, stats["faults"]
        assert "Traceback" not in run.err, run
        if run.code != 0:
            assert run.code == 1 and failed_lines(run.err), run
        assert_nothing_kept_is_lost(before, server.dump())
    finally:
        stop_process(server.proc)
    server = start_server(db)
    try:
        write_config(cfg, desired_state(), endpoint=server.url)
        run = run_cli("apply", cfg, "--auto-approve", env=server.env())
        assert run.code == 0, run
        run = run_cli("plan", cfg, "--detailed-exitcode", env=server.env())
        assert run.code == 0, run
        assert_nothing_kept_is_lost(before, server.dump())
    finally:
        stop_process(server.proc)
