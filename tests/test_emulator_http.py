"""The emulator over real HTTP on loopback: a third-party client, restarts, parallel writers,
faults and rate limits as a network client sees them."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from reconciler.emulator import EmulatorStore, create_app
from reconciler.emulator.testing import free_port, serve_in_thread, wait_for_port
from reconciler.tim.usersig import generate

SDKAPPID = 1400000001
KEY = "emulator-test-key"
ADMIN = "administrator"


class ThirdPartyClient:
    """What anyone would write from the vendor's REST overview: httpx and a UserSig, no more."""

    def __init__(self, base_url: str, timeout: float = 5.0, key: str = KEY) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout)
        self.usersig = generate(SDKAPPID, key, ADMIN)

    def call(self, api: str, body: dict) -> dict:
        params = {
            "sdkappid": SDKAPPID,
            "identifier": ADMIN,
            "usersig": self.usersig,
            "random": secrets.randbelow(2**32),
            "contenttype": "json",
        }
        response = self.http.post(f"/v4/{api}", params=params, json=body)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        answer = response.json()
        if answer["ActionStatus"] != "OK" or answer["ErrorCode"] != 0:
            raise RuntimeError(f"{answer['ErrorCode']}: {answer['ErrorInfo']}")
        return answer

    def close(self) -> None:
        self.http.close()


def test_third_party_client_over_http(tmp_path):
    app = create_app(tmp_path / "emu.db", sdkappid=SDKAPPID, secret_key=KEY)
    with serve_in_thread(app) as base:
        client = ThirdPartyClient(base)
        client.call("im_open_login_svc/multiaccount_import", {"Accounts": ["leckie", "bob"]})
        gid = client.call(
            "group_open_http_svc/create_group",
            {"Owner_Account": "leckie", "Type": "Public", "Name": "TestGroup"},
        )["GroupId"]
        added = client.call(
            "group_open_http_svc/add_group_member",
            {"GroupId": gid, "MemberList": [{"Member_Account": "bob"}]},
        )
        assert added["MemberList"] == [{"Member_Account": "bob", "Result": 1}]
        info = client.call("group_open_http_svc/get_group_info", {"GroupIdList": [gid]})
        group = info["GroupInfo"][0]
        assert (group["Name"], group["MemberNum"], group["Appid"]) == ("TestGroup", 2, SDKAPPID)
        listed = client.call("group_open_http_svc/get_appid_group_list", {})
        assert listed["GroupIdList"] == [{"GroupId": gid}] and listed["Next"] == 0
        with pytest.raises(RuntimeError, match="^70009"):
            ThirdPartyClient(base, key="wrong").call("group_open_http_svc/get_appid_group_list", {})
        stats = httpx.get(f"{base}/emulator/stats").json()
        assert stats["requests"]["group_open_http_svc/get_group_info"] == 1
        client.close()


SERVE = textwrap.dedent(
    """
    import os, sys
    from reconciler.emulator import serve
    serve("127.0.0.1", int(sys.argv[1]), sys.argv[2], sdkappid=1400000001,
          admin="administrator", secret_key=os.environ["TIM_SECRET_KEY"])
    """
)


def run_server(port: int, db: str) -> subprocess.Popen:
    env = {**os.environ, "TIM_SECRET_KEY": KEY}
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port), db], env=env)
    try:
        wait_for_port("127.0.0.1", port)
    except OSError:
        proc.kill()
        raise
    return proc


def test_serve_and_state_survives_restart(tmp_path):
    db = str(tmp_path / "persist.db")
    port = free_port()
    proc = run_server(port, db)
    try:
        client = ThirdPartyClient(f"http://127.0.0.1:{port}")
        client.call("im_open_login_svc/account_import", {"UserID": "leckie"})
        client.call(
            "group_open_http_svc/create_group",
            {"GroupId": "kept", "Type": "Meeting", "Name": "kept", "Owner_Account": "leckie"},
        )
        client.call(
            "group_open_http_svc/modify_group_base_info",
            {"GroupId": "kept", "Notification": "still here"},
        )
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    proc = run_server(port, db)
    try:
        client = ThirdPartyClient(f"http://127.0.0.1:{port}")
        group = client.call("group_open_http_svc/get_group_info", {"GroupIdList": ["kept"]})
        group = group["GroupInfo"][0]
        assert (group["Type"], group["Notification"], group["MemberNum"]) == (
            "ChatRoom",
            "still here",
            1,
        )
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_parallel_writers_keep_state_consistent(tmp_path):
    db = tmp_path / "parallel.db"
    app = create_app(db, sdkappid=SDKAPPID, secret_key=KEY)
    accounts = [f"user{i:03d}" for i in range(200)]
    app.state.store.seed(
        groups=[{"GroupId": "shared", "Type": "Public", "MaxMemberNum": 150}], accounts=accounts
    )
    with serve_in_thread(app) as base:

        def writer(n: int) -> list[int]:
            client = ThirdPartyClient(base)
            results = []
            # everybody competes for the same 150 seats, 20 accounts at a time
            for k in range(5):
                batch = accounts[(n * 20 + k * 40) % 200 :][:20]
                try:
                    answer = client.call(
                        "group_open_http_svc/add_group_member",
                        {"GroupId": "shared", "MemberList": [{"Member_Account": a} for a in batch]},
                    )
                    results += [m["Result"] for m in answer["MemberList"]]
                except RuntimeError as exc:
                    assert str(exc).startswith("10014")
                client.call(
                    "group_open_http_svc/create_group",
                    {
                        "GroupId": f"w{n}-{k}",
                        "Type": "Private",
                        "Name": "x",
                        "Owner_Account": "user000",
                    },
                )
            client.close()
            return results

        with ThreadPoolExecutor(8) as pool:
            results = [r for rs in pool.map(writer, range(8)) for r in rs]
    state = EmulatorStore(db).dump()
    shared = state["groups"]["shared"]["MemberList"]
    accounts_in = [m["Member_Account"] for m in shared]
    assert len(accounts_in) == len(set(accounts_in)) <= 150
    assert results.count(1) == len(accounts_in)  # every "added" answer is a real member
    assert len(state["groups"]) == 1 + 8 * 5


def test_faults_over_http_are_reproducible(tmp_path):
    def outcomes(db_name: str) -> tuple[list[str], dict]:
        app = create_app(
            tmp_path / db_name,
            sdkappid=SDKAPPID,
            secret_key=KEY,
            fault_rate=0.5,
            seed=1234,
            stall_s=0.4,
        )
        app.state.store.seed(accounts=[f"a{i}" for i in range(30)])
        seen = []
        with serve_in_thread(app) as base:
            client = ThirdPartyClient(base, timeout=0.15)
            for i in range(30):
                try:
                    client.call(
                        "group_open_http_svc/create_group",
                        {"GroupId": f"g{i}", "Type": "Public", "Name": "n"},
                    )
                    seen.append("ok")
                except httpx.ReadTimeout:
                    seen.append("timeout")
                except httpx.RemoteProtocolError:
                    seen.append("dropped")
                except RuntimeError as exc:
                    seen.append(str(exc).split(":")[0])
            client.close()
        return seen, app.state.store.dump()["groups"]

    first, groups = outcomes("one.db")
    second, _ = outcomes("two.db")
    assert first == second
    assert {"ok", "10002", "HTTP 502", "dropped", "timeout"} <= set(first)
    for i, outcome in enumerate(first):
        # 10002 fails before the write; 502, drops and stalls fail after it
        assert (f"g{i}" in groups) == (outcome != "10002")


def test_rate_limit_and_latency_over_http(tmp_path):
    app = create_app(
        tmp_path / "rl.db", sdkappid=SDKAPPID, secret_key=KEY, rate_limit=10, latency_ms=20
    )
    with serve_in_thread(app) as base:
        client = ThirdPartyClient(base)
        start = time.perf_counter()
        codes = []
        for _ in range(15):
            try:
                client.call("im_open_login_svc/account_check", {"CheckItem": [{"UserID": "x"}]})
                codes.append(0)
            except RuntimeError as exc:
                codes.append(int(str(exc).split(":")[0]))
        elapsed = time.perf_counter() - start
        client.close()
    assert elapsed >= 15 * 0.02
    if elapsed < 1.0:  # all 15 inside one second: exactly 10 admitted
        assert codes == [0] * 10 + [60007] * 5
    else:
        assert codes.count(60007) >= 1
