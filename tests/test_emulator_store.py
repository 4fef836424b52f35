"""The SQLite store: seeding, persistence, concurrency; faults and controls in-process."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from reconciler.emulator import EmulatorStore, create_app
from reconciler.emulator.app import EmulatedDisconnect, EmulatedTimeout
from reconciler.emulator.testing import RestCaller

SDKAPPID = 1400000001
KEY = "emulator-test-key"
G = "group_open_http_svc/"


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu")


def test_seed_and_dump(tmp_path):
    store = EmulatorStore(tmp_path / "s.db")
    ids = store.seed(
        groups=[
            {
                "Type": "Work",
                "Name": "w",
                "Owner_Account": "o",
                "MemberList": [
                    {"Member_Account": "a", "Role": "Admin", "NameCard": "A", "MuteUntil": 5}
                ],
            },
            {
                "GroupId": "live",
                "Type": "AVChatRoom",
                "MemberList": [{"Member_Account": "v", "Marks": [1000, 500]}],
            },
        ],
        accounts=[{"UserID": "n", "Nick": "Nick"}],
    )
    assert ids[0].startswith("@TGS#1") and ids[1] == "live"
    state = store.dump()
    assert state["accounts"] == ["a", "administrator", "n", "o", "v"]
    work = state["groups"][ids[0]]
    assert [(m["Member_Account"], m["Role"]) for m in work["MemberList"]] == [
        ("o", "Owner"),
        ("a", "Admin"),
    ]
    assert work["MemberList"][1]["MuteUntil"] == 5 and work["Type"] == "Private"
    assert state["groups"]["live"]["MemberList"][0]["Marks"] == [500, 1000]
    assert state["groups"]["live"]["MemberList"][0]["Online"] is True
    with pytest.raises(ValueError, match="already exists"):
        store.seed(groups=[{"GroupId": "live", "Type": "Public"}])
    with pytest.raises(ValueError, match="unknown group type"):
        store.seed(groups=[{"Type": "Nope"}])
    store.close()


def test_bulk_seed_is_fast(tmp_path):
    store = EmulatorStore(tmp_path / "bulk.db")
    start = time.perf_counter()
    store.seed(
        groups=[
            {
                "GroupId": f"g{i}",
                "Type": "Public",
                "Owner_Account": f"u{i}",
                "MemberList": [{"Member_Account": f"u{(i + k) % 5000}"} for k in range(50)],
            }
            for i in range(1000)
        ]
    )
    assert time.perf_counter() - start < 5
    assert store.counts() == {"groups": 1000, "members": 50000, "accounts": 1050}


async def test_state_survives_a_new_app_on_the_same_file(tmp_path):
    db = tmp_path / "p.db"
    app = create_app(db, sdkappid=SDKAPPID, secret_key=KEY)
    async with client(app) as http:
        tim = RestCaller(http, SDKAPPID, KEY)
        await tim(G + "create_group", {"GroupId": "kept", "Type": "Public", "Name": "kept"})
    app.state.store.close()
    again = create_app(db, sdkappid=SDKAPPID, secret_key=KEY)
    async with client(again) as http:
        tim = RestCaller(http, SDKAPPID, KEY)
        info = await tim(G + "get_group_info", {"GroupIdList": ["kept"]})
        assert info["GroupInfo"][0]["Name"] == "kept"


async def test_concurrent_writers_in_process_and_a_seeding_thread(tmp_path):
    db = tmp_path / "c.db"
    app = create_app(db, sdkappid=SDKAPPID, secret_key=KEY)
    accounts = [f"u{i}" for i in range(400)]
    app.state.store.seed(groups=[{"GroupId": "hot", "Type": "Public"}], accounts=accounts)

    def seeder() -> None:  # another connection to the same file, writing at the same time
        other = EmulatorStore(db)
        for i in range(20):
            other.seed(groups=[{"GroupId": f"seeded{i}", "Type": "Private"}])
        other.close()

    thread = threading.Thread(target=seeder)
    thread.start()
    async with client(app) as http:
        tim = RestCaller(http, SDKAPPID, KEY)

        async def writer(n: int) -> None:
            for k in range(10):
                mine = accounts[n * 20 + k * 2 : n * 20 + k * 2 + 2]
                await tim(
                    G + "add_group_member",
                    {"GroupId": "hot", "MemberList": [{"Member_Account": a} for a in mine]},
                )
                await tim(
                    G + "delete_group_member", {"GroupId": "hot", "MemberToDel_Account": mine[:1]}
                )
                await tim(G + "modify_group_base_info", {"GroupId": "hot", "Name": f"n{n}"})

        await asyncio.gather(*(writer(n) for n in range(20)))
    thread.join()
    state = app.state.store.dump()
    hot = state["groups"]["hot"]
    assert len(hot["MemberList"]) == 200  # 20 writers x 10 rounds x (2 added - 1 removed)
    assert hot["InfoSeq"] == 1 + 200
    assert sum(gid.startswith("seeded") for gid in state["groups"]) == 20


async def test_reads_run_beside_writes_and_each_sees_the_last_commit(tmp_path):
    """Reads run on reader threads, each a read-only snapshot: while readers and writers run
    at once, every read answer is whole and consistent (the member count it gives equals the
    list it gives), a write is seen by every read made after its answer, and a snapshot
    cannot write."""
    import sqlite3

    db = tmp_path / "r.db"
    app = create_app(db, sdkappid=SDKAPPID, secret_key=KEY)
    accounts = [f"u{i}" for i in range(300)]
    app.state.store.seed(groups=[{"GroupId": "hot", "Type": "Public"}], accounts=accounts)
    async with client(app) as http:
        tim = RestCaller(http, SDKAPPID, KEY)

        async def writer(n: int) -> None:
            for k in range(10):
                mine = [
                    {"Member_Account": a} for a in accounts[n * 30 + k * 3 : n * 30 + k * 3 + 3]
                ]
                await tim(G + "add_group_member", {"GroupId": "hot", "MemberList": mine})
                seen = await tim(G + "get_group_member_info", {"GroupId": "hot", "Limit": 0})
                listed = {m["Member_Account"] for m in seen["MemberList"]}
                assert {m["Member_Account"] for m in mine} <= listed  # its own write, seen

        async def reader() -> None:
            for _ in range(30):
                info = await tim(G + "get_group_info", {"GroupIdList": ["hot"]})
                group = info["GroupInfo"][0]
                assert group["MemberNum"] == len(group["MemberList"])

        await asyncio.gather(*(writer(n) for n in range(10)), *(reader() for _ in range(4)))
        final = await tim(G + "get_group_info", {"GroupIdList": ["hot"]})
    assert final["GroupInfo"][0]["MemberNum"] == 300
    with app.state.store.snapshot() as c, pytest.raises(sqlite3.OperationalError):
        c.execute("DELETE FROM members")
    assert len(app.state.store.dump()["groups"]["hot"]["MemberList"]) == 300


async def test_drop_and_stall_faults_in_process(tmp_path):
    app = create_app(
        tmp_path / "f.db", sdkappid=SDKAPPID, secret_key=KEY, fault_rate=1.0, seed=7, stall_s=0.05
    )
    emulator = app.state.emulator
    async with client(app) as http:
        tim = RestCaller(http, SDKAPPID, KEY)
        emulator.rng.random = lambda: 0.6  # hit, kind index 2: drop
        with pytest.raises(httpx.RemoteProtocolError):
            await tim(G + "create_group", {"GroupId": "d", "Type": "Public", "Name": "d"})
        emulator.rng.random = lambda: 0.9  # kind index 3: stall
        with pytest.raises(httpx.ReadTimeout):
            await tim(G + "create_group", {"GroupId": "s", "Type": "Public", "Name": "s"})
        emulator.rng.random = lambda: 0.3  # kind index 1: HTTP 502
        response = await http.post(f"/v4/{G}get_appid_group_list", params=tim.params(), json={})
        assert response.status_code == 502
    assert issubclass(EmulatedDisconnect, httpx.TransportError)
    assert issubclass(EmulatedTimeout, httpx.TimeoutException)
    assert {"d", "s"} <= set(app.state.store.dump()["groups"])  # faults after the write
    assert emulator.stats()["faults"] == {"drop": 1, "stall": 1, "http502": 1}


async def test_fault_sequence_depends_only_on_the_seed(tmp_path):
    async def run(name: str, seed: int) -> list:
        app = create_app(
            tmp_path / name,
            sdkappid=SDKAPPID,
            secret_key=KEY,
            fault_rate=0.3,
            seed=seed,
            stall_s=0.01,
        )
        async with client(app) as http:
            tim = RestCaller(http, SDKAPPID, KEY)
            for _ in range(60):
                try:
                    await tim(G + "get_appid_group_list", {})
                except (httpx.TransportError, AssertionError):
                    pass
        return app.state.emulator.stats()["fault_log"]

    first = await run("a.db", 42)
    assert first == await run("b.db", 42)
    assert first != await run("c.db", 43)
    assert 5 < len(first) < 35


async def test_latency(tmp_path):
    app = create_app(tmp_path / "l.db", sdkappid=SDKAPPID, secret_key=KEY, latency_ms=30)
    async with client(app) as http:
        tim = RestCaller(http, SDKAPPID, KEY)
        start = time.perf_counter()
        await asyncio.gather(*(tim(G + "get_appid_group_list", {}) for _ in range(10)))
        elapsed = time.perf_counter() - start
    assert 0.03 <= elapsed < 0.3  # concurrent calls wait in parallel


async def test_reset_and_stats(tmp_path):
    app = create_app(tmp_path / "r.db", sdkappid=SDKAPPID, secret_key=KEY)
    async with client(app) as http:
        tim = RestCaller(http, SDKAPPID, KEY)
        await tim(G + "create_group", {"Type": "Public", "Name": "x"})
        await tim(G + "destroy_group", {"GroupId": "missing"})
        stats = (await http.get("/emulator/stats")).json()
        assert stats["requests"] == {
            "group_open_http_svc/create_group": 1,
            "group_open_http_svc/destroy_group": 1,
        }
        assert stats["errors"] == {"10010": 1} and stats["state"]["groups"] == 1
        assert (await http.post("/emulator/reset")).json()["ErrorCode"] == 0
        stats = (await http.get("/emulator/stats")).json()
        assert stats["total"] == 0 and stats["state"] == {"groups": 0, "members": 0, "accounts": 1}
        assert (await http.post("/emulator/nope", json={})).json()["ErrorCode"] == 60009
