"""Per-API rate limits: the app's rate for most APIs, never above an API's documented one, and
the busiest second per API as ``GET /emulator/stats`` reports it."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time

import httpx

from reconciler.emulator import create_app
from reconciler.emulator.testing import RestCaller, serve_in_thread
from reconciler.tim.limits import RATES
from reconciler.tim.usersig import generate

SDKAPPID = 1400000001
KEY = "emulator-test-key"
ADMIN = "administrator"
G = "group_open_http_svc/"
LOGIN = "im_open_login_svc/"
ACCOUNT_APIS = ("account_check", "multiaccount_import", "account_import")
BODIES = {
    "account_check": {"CheckItem": [{"UserID": "bob"}]},
    "multiaccount_import": {"Accounts": ["bob"]},
    "account_import": {"UserID": "bob"},
}


def test_the_account_apis_are_documented_at_100_per_second():
    # CN 248/4919 and EN-34956: account_check, multiaccount_import (and account_import) take
    # 100 calls/s, not the general 200 (reference §16.1).
    assert {api: RATES[api] for api in ACCOUNT_APIS} == dict.fromkeys(ACCOUNT_APIS, 100.0)


async def test_bursts_meet_each_apis_own_limit(tmp_path):
    """A burst of 250 calls per API, at an app rate of 200/s: 200 group calls are answered, 100
    of each account API, the rest get 60007; the busiest second says the same."""
    app = create_app(tmp_path / "b.db", sdkappid=SDKAPPID, secret_key=KEY, rate_limit=200)
    app.state.store.seed(groups=[{"GroupId": "g", "Type": "Public"}], accounts=["bob"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e") as http:
        tim = RestCaller(http, SDKAPPID, KEY)
        apis = {G + "get_group_info": {"GroupIdList": ["g"]}}
        apis.update({LOGIN + api: body for api, body in BODIES.items()})
        answers = await asyncio.gather(
            *(tim(api, body) for api, body in apis.items() for _ in range(250))
        )
        stats = (await http.get("/emulator/stats")).json()
    codes: dict[str, list[int]] = {}
    for (api, _), answer in zip(
        [(a, b) for a, b in apis.items() for _ in range(250)], answers, strict=True
    ):
        codes.setdefault(api, []).append(answer["ErrorCode"])
    expected = {G + "get_group_info": 200, **{LOGIN + api: 100 for api in ACCOUNT_APIS}}
    assert {api: c.count(0) for api, c in codes.items()} == expected
    assert all(set(c) == {0, 60007} for c in codes.values())
    assert stats["busiest_second"] == expected
    assert stats["rate_limited"] == {api: 250 - n for api, n in expected.items()}


async def test_an_app_rate_below_100_applies_to_the_account_apis_too(tmp_path):
    # The documented rate is a ceiling: an app limited to 30/s gets 30/s everywhere.
    app = create_app(tmp_path / "l.db", sdkappid=SDKAPPID, secret_key=KEY, rate_limit=30)
    app.state.store.seed(accounts=["bob"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e") as http:
        tim = RestCaller(http, SDKAPPID, KEY)
        calls = [tim(LOGIN + "account_check", BODIES["account_check"]) for _ in range(50)]
        await asyncio.gather(*calls)
        stats = (await http.get("/emulator/stats")).json()
    assert stats["busiest_second"] == {LOGIN + "account_check": 30}


def test_a_retrying_client_never_gets_more_than_100_account_calls_a_second(tmp_path):
    """Eight threads call the account APIs over real HTTP for about 2.5 s, retrying on 60007
    as fast as they can, at an app rate of 1,000/s: the busiest second of each account API,
    measured by the server, is at most 100 calls and, under that pressure, close to it."""
    app = create_app(tmp_path / "r.db", sdkappid=SDKAPPID, secret_key=KEY, rate_limit=1000)
    app.state.store.seed(accounts=["bob"])
    usersig = generate(SDKAPPID, KEY, ADMIN)
    deadline = time.monotonic() + 2.5
    answered: dict[str, int] = dict.fromkeys(ACCOUNT_APIS, 0)
    lock = threading.Lock()

    def worker(base: str, n: int) -> None:
        with httpx.Client(base_url=base, timeout=5) as http:
            i = 0
            while time.monotonic() < deadline:
                api = ACCOUNT_APIS[(n + i) % len(ACCOUNT_APIS)]
                i += 1
                params = {
                    "sdkappid": SDKAPPID,
                    "identifier": ADMIN,
                    "usersig": usersig,
                    "random": secrets.randbelow(2**32),
                    "contenttype": "json",
                }
                code = http.post(f"/v4/{LOGIN}{api}", params=params, json=BODIES[api]).json()[
                    "ErrorCode"
                ]
                assert code in (0, 60007)
                if code == 0:
                    with lock:
                        answered[api] += 1

    with serve_in_thread(app) as base:
        threads = [threading.Thread(target=worker, args=(base, n)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = httpx.get(f"{base}/emulator/stats").json()
    busiest = {api: stats["busiest_second"].get(LOGIN + api, 0) for api in ACCOUNT_APIS}
    assert all(n <= 100 for n in busiest.values()), busiest
    assert sum(stats["rate_limited"].values()) > 0  # the limit was reached, not just approached
    assert max(busiest.values()) >= 50, busiest
    assert all(answered[api] <= 100 * 3.5 for api in ACCOUNT_APIS), answered
