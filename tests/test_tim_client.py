"""Wire behaviour of the REST client, against an httpx.MockTransport that records requests."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import types
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.tim import client as client_module
from reconciler.tim import usersig, wire
from reconciler.tim.client import TimClient
from reconciler.tim.errors import TimApiError, TimTransportError
from reconciler.tim.limits import Limits

APP = 1400000001
ADMIN = "administrator"
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
BASE = "https://tim.example.com"

Answer = dict[str, Any] | httpx.Response | Exception
Route = Callable[[dict[str, Any], httpx.Request], Answer]


def ok(**fields: Any) -> dict[str, Any]:
    return {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0, **fields}


def fail(code: int, info: str = "server says no") -> dict[str, Any]:
    return {"ActionStatus": "FAIL", "ErrorInfo": info, "ErrorCode": code}


# The list each read's answer carries: an answer without it is refused (never read as empty).
LISTS = {"get_group_info": "GroupInfo", "add_group_member": "MemberList"}
LISTS["import_group_member"] = "MemberList"


class Server:
    """Records every request; answers from a per-command route or a script of answers."""

    def __init__(self, routes: dict[str, Route] | None = None) -> None:
        self.routes = routes or {}
        self.script: list[Answer] = []
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.latency = 0.0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(time.monotonic())
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            body = json.loads(request.content)
            command = request.url.path.rsplit("/", 1)[-1]
            if self.script:
                answer = self.script.pop(0)
            elif command in self.routes:
                answer = self.routes[command](body, request)
            else:  # an OK answer with the list the API documents, empty
                answer = ok(**({LISTS[command]: []} if command in LISTS else {}))
        finally:
            self.in_flight -= 1
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def body(self, i: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[i].content)

    def params(self, i: int = -1) -> dict[str, str]:
        return dict(self.requests[i].url.params)


class Client:
    """A TimClient on a Server, with the retry sleep replaced by a recorder."""

    def __init__(self, server: Server, **kw: Any) -> None:
        self.server = server
        self.tim = TimClient(
            sdkappid=APP,
            admin=ADMIN,
            secret_key=KEY,
            base_url=BASE + "/",
            transport=httpx.MockTransport(server),
            **kw,
        )
        self.waits: list[float] = []

        async def record_sleep(seconds: float) -> None:
            self.waits.append(seconds)

        self.tim._sleep = record_sleep


@pytest.fixture
async def env() -> Any:
    server = Server()
    c = Client(server)
    yield c
    await c.tim.aclose()


# --- wire format ------------------------------------------------------------------------------


async def test_request_url_params_and_body(env: Client) -> None:
    await env.tim.call("group_open_http_svc", "get_group_info", {"GroupIdList": ["g1", "组"]})
    req = env.server.requests[0]
    assert req.method == "POST"
    assert req.url.scheme == "https" and req.url.host == "tim.example.com"
    assert req.url.path == "/v4/group_open_http_svc/get_group_info"
    assert [k for k, _ in req.url.params.multi_items()] == [
        "sdkappid",
        "identifier",
        "usersig",
        "random",
        "contenttype",
    ]
    params = env.server.params()
    assert params["sdkappid"] == str(APP)
    assert params["identifier"] == ADMIN
    assert params["contenttype"] == "json"
    assert 0 <= int(params["random"]) <= 2**32 - 1
    verified = usersig.verify(params["usersig"], APP, KEY, ADMIN)
    assert verified.expire >= 86400
    assert req.headers["content-type"].startswith("application/json")
    assert env.server.body() == {"GroupIdList": ["g1", "组"]}


async def test_empty_body_is_an_empty_object(env: Client) -> None:
    await env.tim.call("group_open_http_svc", "get_appid_group_list", {})
    assert env.server.requests[0].content == b"{}"


async def test_random_is_fresh_and_usersig_reused(env: Client) -> None:
    await asyncio.gather(*(wire.groups.destroy_group(env.tim, f"g{i}") for i in range(30)))
    randoms = {env.server.params(i)["random"] for i in range(30)}
    sigs = {env.server.params(i)["usersig"] for i in range(30)}
    assert len(randoms) == 30
    assert len(sigs) == 1
    assert env.tim.stats.calls["destroy_group"] == 30


async def test_usersig_regenerated_well_before_expiry(
    env: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_700_000_000.0]
    fake_time = types.SimpleNamespace(time=lambda: clock[0], perf_counter=time.perf_counter)
    monkeypatch.setattr(client_module, "time", fake_time)
    await wire.groups.destroy_group(env.tim, "g")
    first = env.server.params()["usersig"]
    clock[0] += client_module.USERSIG_REFRESH_S - 1
    await wire.groups.destroy_group(env.tim, "g")
    assert env.server.params()["usersig"] == first
    clock[0] += 2
    await wire.groups.destroy_group(env.tim, "g")
    second = env.server.params()["usersig"]
    assert second != first
    # Every sig in use has at least half its lifetime left.
    got = usersig.verify(second, APP, KEY, ADMIN, now=int(clock[0]))
    assert got.time + got.expire - clock[0] >= client_module.USERSIG_TTL_S / 2


# --- error mapping and retries ----------------------------------------------------------------


async def test_fail_envelope_raises_api_error_with_meaning(env: Client) -> None:
    env.server.script = [fail(10010, "group id not found: g1")]
    with pytest.raises(TimApiError) as info:
        await wire.groups.destroy_group(env.tim, "g1")
    err = info.value
    assert (err.api, err.code) == ("group_open_http_svc/destroy_group", 10010)
    text = str(err)
    assert "group_open_http_svc/destroy_group" in text
    assert "10010" in text
    assert "group does not exist or was dissolved" in text
    assert "group id not found: g1" in text
    assert len(env.server.requests) == 1
    assert env.tim.stats.failures == 1 and env.tim.stats.retries == 0


@pytest.mark.parametrize(
    "answer",
    [
        {"ActionStatus": "OK", "ErrorCode": 10004, "ErrorInfo": "bad"},
        {"ActionStatus": "FAIL", "ErrorCode": 0, "ErrorInfo": "bad"},
        {"ActionStatus": "FAIL", "ErrorInfo": "bad"},
    ],
)
async def test_either_fail_or_nonzero_code_is_failure(env: Client, answer: dict) -> None:
    env.server.script = [answer]
    with pytest.raises(TimApiError):
        await wire.groups.destroy_group(env.tim, "g1")


def _connect_error(request: httpx.Request) -> Exception:
    return httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    "first",
    [
        fail(10002),
        fail(10006),
        fail(60007),
        fail(60008),
        fail(60011),
        fail(60018),
        fail(60019),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(503),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=lambda a: repr(a)[:40],
)
async def test_transient_failures_are_retried(env: Client, first: Answer) -> None:
    env.server.script = [first, ok(GroupId="g1")]
    answer = await wire.groups.create_group(
        env.tim, {"Type": "Public", "Name": "n", "GroupId": "g1"}
    )
    assert answer["GroupId"] == "g1"
    assert len(env.server.requests) == 2
    assert env.server.body(0) == env.server.body(1)
    assert env.server.params(0)["random"] != env.server.params(1)["random"]
    assert env.tim.stats.retries == 1 and env.tim.stats.failures == 0
    assert env.tim.stats.requests == 2 and env.tim.stats.calls["create_group"] == 1
    assert len(env.waits) == 1 and env.waits[0] > 0
    rate_limited = isinstance(first, dict) and first["ErrorCode"] != 10002
    rate_limited = rate_limited and first["ErrorCode"] != 60008
    assert env.tim.stats.rate_limit_errors == (1 if rate_limited else 0)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (fail(10004), TimApiError),
        (fail(10010), TimApiError),
        (fail(10014), TimApiError),
        (fail(70001), TimApiError),
        (httpx.Response(400, text="bad request"), TimTransportError),
        (httpx.Response(404), TimTransportError),
        (httpx.Response(200, text="<html>proxy</html>"), TimTransportError),
        (httpx.Response(200, json={"hello": "world"}), TimTransportError),
        (httpx.Response(200, json=[1, 2]), TimTransportError),
    ],
    ids=lambda a: repr(a)[:40],
)
async def test_client_errors_are_not_retried(env: Client, answer: Answer, error: type) -> None:
    env.server.script = [answer, ok()]
    with pytest.raises(error) as info:
        await wire.groups.destroy_group(env.tim, "g1")
    assert "group_open_http_svc/destroy_group" in str(info.value)
    assert len(env.server.requests) == 1
    assert env.waits == []
    assert env.tim.stats.failures == 1


async def test_retries_stop_after_max_attempts() -> None:
    server = Server({"destroy_group": lambda b, r: fail(10002)})
    c = Client(server, max_attempts=4)
    async with c.tim:
        with pytest.raises(TimApiError) as info:
            await wire.groups.destroy_group(c.tim, "g1")
    assert info.value.code == 10002
    assert len(server.requests) == 4
    assert c.tim.stats.retries == 3 and c.tim.stats.failures == 1


async def test_network_error_after_retries_is_transport_error() -> None:
    server = Server({"destroy_group": lambda b, r: _connect_error(r)})
    c = Client(server, max_attempts=3)
    async with c.tim:
        with pytest.raises(TimTransportError) as info:
            await wire.groups.destroy_group(c.tim, "g1")
    assert info.value.transient
    assert "group_open_http_svc/destroy_group" in str(info.value)
    assert "ConnectError" in str(info.value)
    assert len(server.requests) == 3


async def test_total_wait_is_capped_and_backoff_grows() -> None:
    server = Server({"destroy_group": lambda b, r: fail(60007)})
    c = Client(server, max_attempts=1000, max_retry_wait_s=3.0)
    async with c.tim:
        with pytest.raises(TimApiError):
            await wire.groups.destroy_group(c.tim, "g1")
    assert sum(c.waits) <= 3.0 + 1e-9
    assert len(server.requests) == len(c.waits) + 1 < 10
    assert c.waits[0] >= 0.25 and c.waits[1] >= 0.5 and c.waits[2] >= 1.0
    assert all(w <= client_module.BACKOFF_MAX_S + client_module.BACKOFF_JITTER_S for w in c.waits)
    assert c.tim.stats.rate_limit_errors == len(server.requests)


async def test_no_wait_budget_means_no_retry() -> None:
    server = Server({"destroy_group": lambda b, r: fail(10002)})
    c = Client(server, max_retry_wait_s=0)
    async with c.tim:
        with pytest.raises(TimApiError):
            await wire.groups.destroy_group(c.tim, "g1")
    assert len(server.requests) == 1


async def test_every_retry_acquires_the_limiter_again() -> None:
    server = Server({"destroy_group": lambda b, r: fail(10002)})
    c = Client(server, rate_limit=10, max_attempts=3)  # sleeps are no-ops here
    async with c.tim:
        with pytest.raises(TimApiError):
            await wire.groups.destroy_group(c.tim, "g1")
    gaps = [b - a for a, b in zip(server.times, server.times[1:], strict=False)]
    assert len(gaps) == 2 and min(gaps) >= 0.1 - 1e-3


# --- rate limiting and concurrency ------------------------------------------------------------


async def test_burst_never_exceeds_rate_in_any_one_second_window() -> None:
    server = Server()
    c = Client(server, rate_limit=200)
    started = time.monotonic()
    async with c.tim:
        await asyncio.gather(*(wire.groups.destroy_group(c.tim, f"g{i}") for i in range(1000)))
    elapsed = time.monotonic() - started
    ts = sorted(server.times)
    assert len(ts) == 1000
    # A half-open window [t, t+1) starting at any request holds at most 200 requests.
    worst = max(sum(1 for u in ts[i : i + 201] if u < t + 1.0) for i, t in enumerate(ts))
    assert worst <= 200
    assert elapsed < 5.6  # and the limiter uses nearly all of the allowance (1000/197 s)


async def test_per_api_limits_default_and_override() -> None:
    server = Server({"get_appid_group_list": lambda b, r: ok(GroupIdList=[], Next=0)})
    c = Client(server, rate_limits={"get_group_info": 10})
    async with c.tim:
        await asyncio.gather(
            wire.groups.get_appid_group_list(c.tim),
            wire.groups.get_appid_group_list(c.tim),
            *(wire.groups.get_group_info(c.tim, [f"g{i}"]) for i in range(3)),
        )
    by_cmd: dict[str, list[float]] = {}
    for req, t in zip(server.requests, server.times, strict=True):
        by_cmd.setdefault(req.url.path.rsplit("/", 1)[-1], []).append(t)
    lists = by_cmd["get_appid_group_list"]
    assert lists[1] - lists[0] >= 1.0 - 1e-3  # documented 1 call/s
    infos = by_cmd["get_group_info"]
    assert min(b - a for a, b in zip(infos, infos[1:], strict=False)) >= 0.1 - 1e-3
    assert infos[-1] < lists[1]  # other APIs are not held up by the slow one


async def test_in_flight_bound() -> None:
    server = Server()
    server.latency = 0.02
    c = Client(server, max_in_flight=3, rate_limit=10_000)
    async with c.tim:
        await asyncio.gather(*(wire.groups.destroy_group(c.tim, f"g{i}") for i in range(12)))
    assert server.max_in_flight == 3


def test_bad_settings_are_refused() -> None:
    common = dict(sdkappid=APP, admin=ADMIN, secret_key=KEY, base_url=BASE)
    with pytest.raises(ValueError):
        TimClient(**common, rate_limit=0)
    with pytest.raises(ValueError):
        TimClient(**common, rate_limits={"get_group_info": -1})
    with pytest.raises(ValueError, match="local"):
        TimClient(sdkappid=APP, admin=ADMIN, secret_key=KEY, base_url="local")


# --- redaction --------------------------------------------------------------------------------


async def test_secrets_never_in_logs_errors_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def leaky(body: dict, request: httpx.Request) -> Answer:
        sig = request.url.params["usersig"]
        if body["GroupId"] == "echo":
            return fail(70009, f"bad sig {sig} for {request.url}")
        return httpx.ConnectError(f"cannot reach {request.url}", request=request)

    server = Server({"destroy_group": leaky})
    c = Client(server, max_attempts=2)
    errors: list[str] = []
    async with c.tim:
        await wire.groups.change_group_owner(c.tim, "g", "alice")
        for group in ("echo", "net"):
            with pytest.raises(TimApiError if group == "echo" else TimTransportError) as info:
                await wire.groups.destroy_group(c.tim, group)
            errors += [str(info.value), repr(info.value), repr(info.value.args)]
        sig = server.params()["usersig"]
        assert len(sig) > 50
        shown = [repr(c.tim), repr(vars(c.tim)), str(c.tim.stats), *errors]
    logs = [r.getMessage() for r in caplog.records]
    for text in [caplog.text, *logs, *shown]:
        assert KEY not in text
        assert sig not in text
        assert sig[:20] not in text
    # The client logged the request URLs, with the UserSig masked.
    assert any("command=change_group_owner" in m and "usersig=***" in m for m in logs)
    assert any("retrying" in m for m in logs)
    assert "administrator" in repr(c.tim) and str(APP) in repr(c.tim)


# --- typed calls ------------------------------------------------------------------------------


async def test_get_appid_group_list_body(env: Client) -> None:
    env.server.routes["get_appid_group_list"] = lambda b, r: ok(GroupIdList=[], Next=0)
    await wire.groups.get_appid_group_list(env.tim)
    assert env.server.body() == {}
    env.tim.limits.rates["get_appid_group_list"] = 1000
    env.tim._limiters.clear()
    await wire.groups.get_appid_group_list(env.tim, limit=500, next=4454685361, group_type="Work")
    assert env.server.body() == {"Limit": 500, "Next": 4454685361, "GroupType": "Private"}
    with pytest.raises(ValueError):
        await wire.groups.get_appid_group_list(env.tim, limit=10001)


async def test_iter_all_group_ids_pages_by_uint64_next() -> None:
    pages = {
        0: ok(TotalCount=4, GroupIdList=[{"GroupId": "a"}, {"GroupId": "b"}], Next=4454685361),
        4454685361: ok(TotalCount=4, GroupIdList=[{"GroupId": "c"}], Next=2**64 - 1),
        2**64 - 1: ok(TotalCount=4, GroupIdList=[{"GroupId": "d"}, {"GroupId": "c"}], Next=0),
    }
    server = Server({"get_appid_group_list": lambda b, r: pages[b.get("Next", 0)]})
    c = Client(server, rate_limits={"get_appid_group_list": 1000})
    async with c.tim:
        ids = await wire.groups.iter_all_group_ids(c.tim, group_type="Meeting")
    assert ids == ["a", "b", "c", "d"]
    assert [server.body(i).get("Next", 0) for i in range(3)] == [0, 4454685361, 2**64 - 1]
    assert all(server.body(i)["GroupType"] == "ChatRoom" for i in range(3))


async def test_get_group_info_sends_no_filter_and_normalizes_names(env: Client) -> None:
    env.server.routes["get_group_info"] = lambda b, r: ok(
        GroupInfo=[
            {
                "GroupId": "old",
                "ErrorCode": 0,
                "ShutUpAllMember": "On",
                "MemberList": [{"Member_Account": "a", "Role": "Owner", "ShutUpUntil": 5}],
            },
            {
                "GroupId": "new",
                "ErrorCode": 0,
                "MuteAllMember": "Off",
                "InviteJoinOption": "FreeAccess",
                "AppDefinedData": [{"Key": "k", "Value": "v"}],
                "MemberList": [{"Member_Account": "b", "MuteUntil": 0, "NameCard": "B"}],
            },
            {"GroupId": "gone", "ErrorCode": 10015, "ErrorInfo": "group id invalid"},
        ]
    )
    groups = await wire.groups.get_group_info(env.tim, ["old", "new", "gone"])
    assert env.server.body() == {"GroupIdList": ["old", "new", "gone"]}
    old, new, gone = groups
    assert old["MuteAllMember"] == "On" and "ShutUpAllMember" not in old
    assert old["MemberList"] == [{"Member_Account": "a", "Role": "Owner", "MuteUntil": 5}]
    assert new["MuteAllMember"] == "Off" and new["InviteJoinOption"] == "FreeAccess"
    assert new["AppDefinedData"] == [{"Key": "k", "Value": "v"}]
    assert new["MemberList"][0]["MuteUntil"] == 0
    assert gone["ErrorCode"] == 10015
    assert await wire.groups.get_group_info(env.tim, []) == []
    assert len(env.server.requests) == 1


def _member_pages(total: int) -> Route:
    members = [
        {"Member_Account": f"u{i}", "Role": "Member", "ShutUpUntil": i} for i in range(total)
    ]

    def route(body: dict, request: httpx.Request) -> Answer:
        if "Next" in body:
            start = int(body["Next"] or 0)
            end = start + body["Limit"]
            nxt = str(end) if end < total else ""
            return ok(MemberNum=total, MemberList=members[start:end], Next=nxt)
        start = body.get("Offset", 0)
        return ok(MemberNum=total, MemberList=members[start : start + body["Limit"]])

    return route


async def test_paged_members_offset_paging(env: Client) -> None:
    env.server.routes["get_group_member_info"] = _member_pages(450)
    members = await wire.members.paged_members(env.tim, "g", community=False)
    assert list(members) == [f"u{i}" for i in range(450)]
    assert members["u7"].muted_until == 7  # the older ShutUpUntil read as the mute
    bodies = [env.server.body(i) for i in range(len(env.server.requests))]
    assert bodies == [
        {"GroupId": "g", "Limit": 200, "Offset": 0},
        {"GroupId": "g", "Limit": 200, "Offset": 200},
        {"GroupId": "g", "Limit": 200, "Offset": 400},
    ]


async def test_paged_members_community_next_paging(env: Client) -> None:
    env.server.routes["get_group_member_info"] = _member_pages(401)
    members = await wire.members.paged_members(env.tim, "@TGS#_c", community=True)
    assert len(members) == 401
    assert [env.server.body(i).get("Next") for i in range(3)] == ["", "200", "400"]
    assert all("Offset" not in env.server.body(i) for i in range(3))


async def test_a_big_communitys_first_page_goes_before_waiting_small_ones() -> None:
    """Its member count, known from get_group_info, ranks the first page of the longest
    chain of pages first, not only the pages after it."""
    server = Server({"get_group_member_info": _member_pages(1)})
    server.latency = 0.01
    c = Client(server, max_in_flight=1, rate_limit=10_000)
    async with c.tim:
        small = [
            asyncio.ensure_future(wire.members.paged_members(c.tim, f"@TGS#_s{i}", True, 1))
            for i in range(3)
        ]
        await asyncio.sleep(0)  # the small groups' first pages take the slot and queue
        big = wire.members.paged_members(c.tim, "@TGS#_big", True, 1000)
        await asyncio.gather(big, *small)
    groups = [server.body(i)["GroupId"] for i in range(len(server.requests))]
    assert groups == ["@TGS#_s0", "@TGS#_big", "@TGS#_s1", "@TGS#_s2"]


async def test_get_group_member_info_single_page(env: Client) -> None:
    env.server.routes["get_group_member_info"] = _member_pages(3)
    page = await wire.members.get_group_member_info(env.tim, "g", limit=100, offset=1)
    assert env.server.body() == {"GroupId": "g", "Limit": 100, "Offset": 1}
    assert [m["Member_Account"] for m in page["MemberList"]] == ["u1", "u2"]
    with pytest.raises(ValueError):
        await wire.members.get_group_member_info(env.tim, "g", offset=0, next="")


async def test_member_write_bodies(env: Client) -> None:
    env.server.routes["add_group_member"] = lambda b, r: ok(
        MemberList=[{"Member_Account": "a", "Result": 1}, {"Member_Account": "b", "Result": 2}]
    )
    env.server.routes["import_group_member"] = lambda b, r: ok(
        MemberList=[{"Member_Account": "a", "Result": 1}]
    )
    added = await wire.members.add_group_member(env.tim, "g", ["a", "b"])
    assert added == [{"Member_Account": "a", "Result": 1}, {"Member_Account": "b", "Result": 2}]
    assert env.server.body() == {
        "GroupId": "g",
        "Silence": 1,
        "MemberList": [{"Member_Account": "a"}, {"Member_Account": "b"}],
    }
    await wire.members.add_group_member(env.tim, "g", ["a"], silence=False)
    assert env.server.body()["Silence"] == 0
    await wire.members.delete_group_member(env.tim, "g", ["a", "b"], reason="cleanup")
    assert env.server.body() == {
        "GroupId": "g",
        "Silence": 1,
        "MemberToDel_Account": ["a", "b"],
        "Reason": "cleanup",
    }
    imported = await wire.members.import_group_member(
        env.tim, "g", [{"Member_Account": "a", "Role": "Admin"}]
    )
    assert imported == [{"Member_Account": "a", "Result": 1}]
    assert env.server.body() == {
        "GroupId": "g",
        "MemberList": [{"Member_Account": "a", "Role": "Admin"}],
    }
    await wire.members.modify_group_member_info(
        env.tim, {"GroupId": "g", "Member_Account": "a", "ShutUpTime": 60}
    )
    assert env.server.body() == {"GroupId": "g", "Member_Account": "a", "MuteTime": 60}
    paths = [r.url.path for r in env.server.requests]
    assert paths[-1] == "/v4/group_open_http_svc/modify_group_member_info"


async def test_group_write_bodies(env: Client) -> None:
    env.server.routes["create_group"] = lambda b, r: ok(GroupId=b.get("GroupId", "@TGS#2X"))
    created = await wire.groups.create_group(
        env.tim, {"Type": "Public", "Name": "n", "GroupId": "g"}
    )
    assert created["GroupId"] == "g"
    await wire.groups.modify_group_base_info(
        env.tim, {"GroupId": "g", "ShutUpAllMember": "On", "Name": "m"}
    )
    assert env.server.body() == {"GroupId": "g", "Name": "m", "MuteAllMember": "On"}
    await wire.groups.change_group_owner(env.tim, "g", "bob")
    assert env.server.body() == {"GroupId": "g", "NewOwner_Account": "bob"}
    await wire.groups.destroy_group(env.tim, "g")
    assert env.server.body() == {"GroupId": "g"}
    assert [r.url.path.rsplit("/", 1)[-1] for r in env.server.requests] == [
        "create_group",
        "modify_group_base_info",
        "change_group_owner",
        "destroy_group",
    ]


async def test_avchatroom_marks_and_online_members(env: Client) -> None:
    pages = {
        0: ok(MemberList=[{"Member_Account": "a"}, {"Member_Account": "b"}], NextTimestamp=77),
        77: ok(MemberList=[{"Member_Account": "c"}], NextTimestamp=0),
    }
    env.server.routes["get_members"] = lambda b, r: pages[b["Timestamp"]]
    env.server.routes["modify_user_info"] = lambda b, r: ok(
        CommandType=b["CommandType"], MemberList=b["MemberList"]
    )
    online = await wire.avchatroom.all_online_members(env.tim, "@TGS#aX", mark=1000)
    assert [m["Member_Account"] for m in online] == ["a", "b", "c"]
    assert env.server.body(0) == {"GroupId": "@TGS#aX", "Timestamp": 0, "Mark": 1000}
    assert env.server.body(1) == {"GroupId": "@TGS#aX", "Timestamp": 77, "Mark": 1000}
    marks = [{"Member_Account": "a", "Marks": [1000]}]
    answer = await wire.avchatroom.modify_user_info(env.tim, "@TGS#aX", 1, marks)
    assert answer["MemberList"] == marks
    req = env.server.requests[-1]
    assert req.url.path == "/v4/group_open_avchatroom_http_svc/modify_user_info"
    assert env.server.body() == {"GroupId": "@TGS#aX", "CommandType": 1, "MemberList": marks}
    assert env.server.requests[0].url.path == "/v4/group_open_avchatroom_http_svc/get_members"
    with pytest.raises(ValueError):
        await wire.avchatroom.modify_user_info(env.tim, "@TGS#aX", 3, marks)


async def test_accounts(env: Client) -> None:
    env.server.routes["account_check"] = lambda b, r: ok(
        ResultItem=[
            {"UserID": i["UserID"], "ResultCode": 0, "ResultInfo": "", "AccountStatus": s}
            for i, s in zip(b["CheckItem"], ["Imported", "NotImported"], strict=True)
        ]
    )
    env.server.routes["multiaccount_import"] = lambda b, r: ok(FailAccounts=b["Accounts"][1:])
    assert await wire.accounts.account_check(env.tim, ["a", "b"]) == {"a": True, "b": False}
    assert env.server.body() == {"CheckItem": [{"UserID": "a"}, {"UserID": "b"}]}
    assert env.server.requests[-1].url.path == "/v4/im_open_login_svc/account_check"
    assert await wire.accounts.multiaccount_import(env.tim, ["x", "y"]) == ["y"]
    assert env.server.body() == {"Accounts": ["x", "y"]}
    assert env.server.requests[-1].url.path == "/v4/im_open_login_svc/multiaccount_import"


async def test_account_check_item_error_raises(env: Client) -> None:
    env.server.routes["account_check"] = lambda b, r: ok(
        ResultItem=[{"UserID": "a", "ResultCode": 70402, "ResultInfo": "bad id"}]
    )
    with pytest.raises(TimApiError) as info:
        await wire.accounts.account_check(env.tim, ["a"])
    assert info.value.code == 70402


def wire_call(tim: TimClient, name: str) -> Callable:
    """The wire module's function ``name``, called with ``tim``."""
    family = next(f for f in wire.FAMILIES if hasattr(f, name))
    return functools.partial(getattr(family, name), tim)


@pytest.mark.parametrize(
    ("method", "make_args", "limit"),
    [
        (
            "modify_user_info",
            lambda n: ("g", 1, [{"Member_Account": f"u{i}", "Marks": [1000]} for i in range(n)]),
            500,
        ),
        ("account_check", lambda n: ([f"u{i}" for i in range(n)],), 100),
        ("multiaccount_import", lambda n: ([f"u{i}" for i in range(n)],), 100),
        (
            "create_group",
            lambda n: ({"Type": "Public", "Name": "n", "MemberList": [{}] * n},),
            100,
        ),
    ],
)
async def test_batch_limits(env: Client, method: str, make_args: Callable, limit: int) -> None:
    env.server.routes["account_check"] = lambda b, r: ok(
        ResultItem=[{"UserID": i["UserID"], "AccountStatus": "Imported"} for i in b["CheckItem"]]
    )
    with pytest.raises(ValueError, match=str(limit)):
        await wire_call(env.tim, method)(*make_args(limit + 1))
    assert env.server.requests == []
    await wire_call(env.tim, method)(*make_args(limit))
    assert len(env.server.requests) == 1


SPLIT_CALLS = [
    ("get_group_info", "GroupIdList", lambda n: ([f"g{i}" for i in range(n)],), 50),
    ("add_group_member", "MemberList", lambda n: ("g", [f"u{i}" for i in range(n)]), 300),
    (
        "delete_group_member",
        "MemberToDel_Account",
        lambda n: ("g", [f"u{i}" for i in range(n)]),
        100,
    ),
    (
        "import_group_member",
        "MemberList",
        lambda n: ("g", [{"Member_Account": f"u{i}"} for i in range(n)]),
        300,
    ),
]


@pytest.mark.parametrize(("method", "field", "make_args", "limit"), SPLIT_CALLS)
async def test_calls_with_more_than_a_batch_are_split_at_the_documented_size(
    env: Client, method: str, field: str, make_args: Callable, limit: int
) -> None:
    await wire_call(env.tim, method)(*make_args(limit + 1))
    sizes = sorted(len(json.loads(r.content)[field]) for r in env.server.requests)
    assert sizes == [1, limit]


@pytest.mark.parametrize(("method", "field", "make_args", "limit"), SPLIT_CALLS)
async def test_an_app_override_sets_the_batch_size(
    method: str, field: str, make_args: Callable, limit: int
) -> None:
    server = Server()
    c = Client(server, limits=Limits(batch={method: 7}))
    try:
        await wire_call(c.tim, method)(*make_args(15))
    finally:
        await c.tim.aclose()
    assert sorted(len(json.loads(r.content)[field]) for r in server.requests) == [1, 7, 7]


def _strict_import_server(limit: int) -> Server:
    """Answers import/add calls of more than ``limit`` accounts with 10005 (seed 002)."""

    def route(body: dict, request: httpx.Request) -> dict:
        items = body["MemberList"]
        if len(items) > limit:
            return fail(10005, f"MemberList holds {len(items)} accounts")
        return ok(MemberList=[{"Member_Account": i["Member_Account"], "Result": 1} for i in items])

    return Server({"import_group_member": route, "add_group_member": route})


async def test_10005_splits_the_call_learns_20_and_keeps_it_for_the_run() -> None:
    # CN-1636 (2026-01): 20 accounts per import; the client starts at the seed's 300.
    server = _strict_import_server(20)
    c = Client(server)
    try:
        members = [{"Member_Account": f"u{i}"} for i in range(300)]
        answer = await wire.members.import_group_member(c.tim, "g", members)
        assert [m["Member_Account"] for m in answer] == [f"u{i}" for i in range(300)]
        first = [len(json.loads(r.content)["MemberList"]) for r in server.requests]
        # 300 refused, then the next smaller reading (100) refused, then 20 a call.
        assert first[:2] == [300, 100] and set(first[2:]) == {20}
        assert c.tim.limits.batch_of("import_group_member") == 20
        assert c.tim.limits.learned == {"import_group_member": 20}
        # The rest of the run asks with 20 at once: no more refusals.
        server.requests.clear()
        await wire.members.import_group_member(c.tim, "h", members[:45])
        assert [len(json.loads(r.content)["MemberList"]) for r in server.requests] == [20, 20, 5]
    finally:
        await c.tim.aclose()


async def test_10005_below_the_documented_readings_halves() -> None:
    server = _strict_import_server(6)
    c = Client(server)
    try:
        await wire.members.add_group_member(c.tim, "g", [f"u{i}" for i in range(40)])
    finally:
        await c.tim.aclose()
    assert c.tim.limits.batch_of("add_group_member") == 5  # 300 -> 20 -> 10 -> 5
    sizes = [len(json.loads(r.content)["MemberList"]) for r in server.requests]
    assert max(sizes[-8:]) == 5 and sum(s for s in sizes if s <= 6) == 40


async def test_10005_on_a_single_account_is_an_error() -> None:
    server = _strict_import_server(0)
    c = Client(server)
    try:
        with pytest.raises(TimApiError) as info:
            await wire.members.add_group_member(c.tim, "g", ["u1", "u2"])
    finally:
        await c.tim.aclose()
    assert info.value.code == 10005


async def test_10018_asks_for_fewer_groups() -> None:
    def route(body: dict, request: httpx.Request) -> dict:
        ids = body["GroupIdList"]
        if len(ids) > 12:
            return fail(10018, "response over 1 MB")
        return ok(GroupInfo=[{"GroupId": g, "ErrorCode": 0, "Type": "Public"} for g in ids])

    server = Server({"get_group_info": route})
    c = Client(server)
    try:
        ids = [f"g{i}" for i in range(50)]
        answer = await wire.groups.get_group_info(c.tim, ids)
    finally:
        await c.tim.aclose()
    assert sorted(g["GroupId"] for g in answer) == sorted(ids)
    assert c.tim.limits.batch_of("get_group_info") == 12  # 50 -> 25 -> 12
    assert c.tim.limits.refused["get_group_info"][0] == 50


# --- control reads: a timeout of their own, hedged ----------------------------------------------


def _stalling(
    answers: list[Answer | tuple[float, Answer] | None],
) -> tuple[list[httpx.Request], list[str], Callable]:
    """A transport handler whose n-th request gets ``answers[n]``, given ``(delay, answer)``
    after that delay; None: no answer ever (a stalled request, ended only by the client).
    Returns the requests, what became of each (answered / cancelled), and the handler."""
    requests: list[httpx.Request] = []
    ends: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        answer = answers[len(requests) - 1] if len(requests) <= len(answers) else ok()
        if isinstance(answer, tuple):
            delay, answer = answer
            await asyncio.sleep(delay)
        if answer is None:
            try:
                await asyncio.Event().wait()  # never set
            except asyncio.CancelledError:
                ends.append("cancelled")
                raise
        ends.append("answered")
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    return requests, ends, handler


def _stalling_client(handler: Callable, **kw: Any) -> TimClient:
    return TimClient(
        sdkappid=APP,
        admin=ADMIN,
        secret_key=KEY,
        base_url=BASE,
        transport=httpx.MockTransport(handler),
        **kw,
    )


LOCK = ok(
    GroupInfo=[
        {
            "GroupId": "lock",
            "ErrorCode": 0,
            "Type": "Private",
            "Name": "lock",
            "Introduction": "lease",
            "MemberList": [],
        }
    ]
)


async def test_a_stalled_control_read_is_sent_again_and_the_first_answer_wins() -> None:
    requests, ends, handler = _stalling([None, LOCK])
    patience = client_module.Patience(timeout_s=60.0, hedge_after_s=0.05)
    async with _stalling_client(handler) as tim:
        # Bounded by the test only: without the hedge, the stalled request would hold it
        # until the 60 s timeout.
        group = await asyncio.wait_for(wire.groups.get_group(tim, "lock", patience), 30)
        assert group is not None and group.introduction == "lease"
        assert len(requests) == 2 and requests[0].content == requests[1].content
        assert tim.stats.hedges == 1 and tim.stats.requests == 2 and tim.stats.retries == 0
        assert tim.stats.calls["get_group_info"] == 1  # one call, two requests
        await asyncio.sleep(0)
        assert ends == ["answered", "cancelled"]  # the stalled one is not left hanging


async def test_a_control_read_that_answers_before_the_hedge_is_sent_once() -> None:
    requests, ends, handler = _stalling([LOCK])
    async with _stalling_client(handler) as tim:
        assert await wire.groups.get_group(tim, "lock", client_module.CONTROL) is not None
        assert len(requests) == 1 and tim.stats.hedges == 0


async def test_a_hedged_read_takes_the_other_answer_when_one_fails() -> None:
    requests, _, handler = _stalling([(0.3, fail(10002)), (0.3, LOCK)])
    patience = client_module.Patience(timeout_s=30.0, hedge_after_s=0.05)
    async with _stalling_client(handler) as tim:
        group = await asyncio.wait_for(wire.groups.get_group(tim, "lock", patience), 30)
        assert group is not None and len(requests) == 2  # the error waited for the other
        assert tim.stats.hedges == 1 and tim.stats.retries == 0


async def test_a_hedged_read_whose_requests_both_fail_is_retried() -> None:
    requests, _, handler = _stalling([None, fail(10002), LOCK])
    patience = client_module.Patience(timeout_s=0.5, hedge_after_s=0.05)
    async with _stalling_client(handler) as tim:
        tim._sleep = lambda seconds: asyncio.sleep(0)  # no backoff wait in this test
        group = await asyncio.wait_for(wire.groups.get_group(tim, "lock", patience), 30)
        # The second request's 10002 waits for the first, which times out after 0.5 s; the
        # retry (one more attempt) answers.
        assert group is not None and len(requests) == 3
        assert tim.stats.hedges == 1 and tim.stats.retries == 1


async def test_a_control_read_gives_up_after_its_own_timeout_on_any_transport() -> None:
    """A mock transport enforces no timeout: the client's own deadline does."""
    requests, ends, handler = _stalling([None, None])
    patience = client_module.Patience(timeout_s=0.2)
    async with _stalling_client(handler, max_attempts=2) as tim:
        tim._sleep = lambda seconds: asyncio.sleep(0)
        with pytest.raises(TimTransportError, match=r"timed out \(deadline, limit 0.2 s\)") as err:
            await asyncio.wait_for(wire.groups.get_group(tim, "lock", patience), 30)
        assert err.value.transient and len(requests) == 2 and ends == ["cancelled"] * 2
        assert tim.stats.hedges == 0


async def test_a_control_read_goes_ahead_of_its_apis_queue() -> None:
    """Writes wait on it, and its hedge counts from its start: it does not queue behind the
    reads of its API waiting for a slot."""

    def found(body: dict[str, Any], request: httpx.Request) -> Answer:
        gid = body["GroupIdList"][0]
        return ok(GroupInfo=[{**LOCK["GroupInfo"][0], "GroupId": gid}])

    server = Server({"get_group_info": found})
    server.latency = 0.01
    c = Client(server, max_in_flight=1, rate_limit=10_000)
    async with c.tim:
        reads = [asyncio.ensure_future(wire.groups.get_group(c.tim, f"g{i}")) for i in range(3)]
        await asyncio.sleep(0)  # the first read takes the slot, the others queue
        await wire.groups.get_group(c.tim, "lock", client_module.CONTROL)
        await asyncio.gather(*reads)
    order = [server.body(i)["GroupIdList"][0] for i in range(len(server.requests))]
    assert order == ["g0", "lock", "g1", "g2"] and c.tim.stats.hedges == 0


async def test_only_a_read_is_sent_twice() -> None:
    _, _, handler = _stalling([])
    async with _stalling_client(handler) as tim:
        with pytest.raises(ValueError, match="only a read"):
            await tim.call(
                "group_open_http_svc",
                "destroy_group",
                {"GroupId": "g1"},
                patience=client_module.CONTROL,
            )


# --- hedge_reads: every read hedged after a delay learnt from recent reads -------------------


async def test_with_hedge_reads_a_stalled_read_is_sent_again_after_the_learnt_delay() -> None:
    fast = [LOCK] * client_module.HEDGE_LEARN_AFTER  # answered at once: the delay falls to 0.25 s
    requests, ends, handler = _stalling([*fast, None, LOCK])
    async with _stalling_client(handler, hedge_reads=True) as tim:
        for _ in fast:
            assert await wire.groups.get_group(tim, "lock") is not None
        assert tim.stats.hedges == 0
        # Without the hedge the stalled request would cost the client's 10 s timeout and a
        # retry (retries 1); with it, the second request answers.
        group = await asyncio.wait_for(wire.groups.get_group(tim, "lock"), 30)
        assert group is not None and len(requests) == len(fast) + 2
        assert tim.stats.hedges == 1 and tim.stats.retries == 0
        await asyncio.sleep(0)
        assert ends[-1] == "cancelled"  # the stalled one is not left hanging


async def test_hedge_reads_never_sends_a_write_twice() -> None:
    fast = [LOCK] * client_module.HEDGE_LEARN_AFTER  # a read is hedged after 0.25 s from now
    requests, _, handler = _stalling([*fast, (1.0, ok())])
    async with _stalling_client(handler, hedge_reads=True) as tim:
        for _ in fast:
            assert await wire.groups.get_group(tim, "lock") is not None
        body = {"GroupId": "g1", "Name": "n"}
        await asyncio.wait_for(tim.call("group_open_http_svc", "modify_group_base_info", body), 30)
        # A write slow to answer is waited for: never sent a second time.
        assert len(requests) == len(fast) + 1 and tim.stats.hedges == 0
