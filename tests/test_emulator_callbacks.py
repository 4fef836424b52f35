"""The emulator sends the documented third-party callbacks after each state change, signed
with the token, asynchronously, and a failing receiver never holds up an API call."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import httpx
import pytest

from reconciler.emulator import EmulatorStore, create_app
from reconciler.emulator.testing import RestCaller

SDKAPPID = 1400000000
KEY = "callback-test-key"
TOKEN = "xxxxyyyy"


class Receiver:
    """An ASGI app that records the callbacks it gets (or fails, when told to)."""

    def __init__(self, fail: bool = False) -> None:
        self.got: list[tuple[dict[str, str], dict]] = []
        self.fail = fail

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = dict(httpx.QueryParams(scope["query_string"].decode()))
        self.got.append((query, json.loads(body)))
        if self.fail:
            raise RuntimeError("the receiver is broken")
        answer = b'{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}'
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": answer})

    def commands(self) -> list[str]:
        return [q["CallbackCommand"] for q, _ in self.got]


def emulator(tmp_path: Path, receiver: Receiver, token: str | None = TOKEN):
    db = tmp_path / "e.sqlite3"
    store = EmulatorStore(db)
    try:
        store.seed(
            groups=[
                {
                    "GroupId": "club",
                    "Type": "Public",
                    "Name": "Club",
                    "Owner_Account": "alice",
                    "MemberList": [{"Member_Account": "bob"}],
                },
                {"GroupId": "live", "Type": "AVChatRoom", "Name": "Live"},
            ],
            accounts=["alice", "bob", "carol", "dave"],
        )
    finally:
        store.close()
    return create_app(
        db,
        sdkappid=SDKAPPID,
        secret_key=KEY,
        callback_url="http://receiver/cb",
        callback_token=token,
        callback_transport=httpx.ASGITransport(app=receiver),
    )


async def settle(app) -> None:
    callbacks = app.state.emulator.callbacks
    for _ in range(200):
        if callbacks.pending() == 0 and callbacks.counts["queued"] == (
            callbacks.counts["delivered"] + callbacks.counts["failed"]
        ):
            return
        await asyncio.sleep(0.01)


async def test_each_state_change_fires_its_documented_callback(tmp_path):
    receiver = Receiver()
    app = emulator(tmp_path, receiver)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as h:
        call = RestCaller(h, SDKAPPID, KEY)
        members = [{"Member_Account": "carol"}, {"Member_Account": "bob"}]
        assert (
            await call(
                "group_open_http_svc/add_group_member", {"GroupId": "club", "MemberList": members}
            )
        )["ErrorCode"] == 0
        await call(
            "group_open_http_svc/import_group_member",
            {"GroupId": "club", "MemberList": [{"Member_Account": "dave"}]},
        )
        await call(
            "group_open_http_svc/delete_group_member",
            {"GroupId": "club", "MemberToDel_Account": ["dave", "nobody"]},
        )
        await h.post("/emulator/join", json={"GroupId": "club", "Account": "dave"})
        await h.post("/emulator/leave", json={"GroupId": "club", "Account": "dave"})
        await call(
            "group_open_http_svc/modify_group_base_info", {"GroupId": "club", "Name": "Renamed"}
        )
        await h.post("/emulator/online", json={"GroupId": "live", "Account": "carol"})
        await h.post("/emulator/online", json={"GroupId": "live", "Account": "carol"})
        await h.post(
            "/emulator/online", json={"GroupId": "live", "Account": "carol", "Online": False}
        )
        await call("group_open_http_svc/destroy_group", {"GroupId": "club"})
        await settle(app)
        stats = (await h.get("/emulator/stats")).json()["callbacks"]
    got = {}
    for query, body in receiver.got:
        got.setdefault(query["CallbackCommand"], []).append(body)
    joins = got["Group.CallbackAfterNewMemberJoin"]
    # add_group_member: only carol joined (bob was a member); import fires nothing.
    assert [j["NewMemberList"] for j in joins] == [
        [{"Member_Account": "carol"}],
        [{"Member_Account": "dave"}],
    ]
    assert [j["JoinType"] for j in joins] == ["Invited", "Apply"]
    exits = got["Group.CallbackAfterMemberExit"]
    assert [(e["ExitType"], e["ExitMemberList"]) for e in exits] == [
        ("Kicked", [{"Member_Account": "dave"}]),
        ("Quit", [{"Member_Account": "dave"}]),
    ]
    assert got["Group.CallbackAfterGroupInfoChanged"][0]["Name"] == "Renamed"
    states = got["Group.CallbackOnMemberStateChange"]
    assert [(s["EventType"], s["MemberList"]) for s in states] == [
        ("Online", [{"Member_Account": "carol"}]),  # once: the second was no change
        ("Offline", [{"Member_Account": "carol"}]),
    ]
    destroyed = got["Group.CallbackAfterGroupDestroyed"][0]
    assert destroyed["Owner_Account"] == "alice" and destroyed["Type"] == "Public"
    assert {m["Member_Account"] for m in destroyed["MemberList"]} == {"alice", "bob", "carol"}
    for query, body in receiver.got:
        assert query["SdkAppid"] == str(SDKAPPID) and query["contenttype"] == "json"
        assert query["OptPlatform"] and query["ClientIP"]
        assert abs(int(query["RequestTime"]) - time.time()) < 5
        expected = hashlib.sha256(f"{TOKEN}{query['RequestTime']}".encode()).hexdigest()
        assert query["Sign"] == expected
        assert body["GroupId"] in ("club", "live") and isinstance(body["EventTime"], int)
    assert stats["delivered"] == len(receiver.got) == 8 and stats["failed"] == 0


async def test_members_online_together_are_one_state_change_callback(tmp_path):
    # EN-48734: the callback's MemberList is a list; presence is checked periodically, so
    # members of one group that change together come in one callback. /emulator/online takes
    # ``Accounts`` to bring several online in one request (a test bed's load driver).
    receiver = Receiver()
    app = emulator(tmp_path, receiver)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as h:

        async def online(body: dict) -> dict:
            return (await h.post("/emulator/online", json={"GroupId": "live", **body})).json()

        assert (await online({"Account": "carol"}))["ErrorCode"] == 0
        assert (await online({"Accounts": ["bob", "carol", "dave", "bob"]}))["ErrorCode"] == 0
        assert (await online({"Accounts": ["bob", "dave"], "Online": False}))["ErrorCode"] == 0
        refused = [
            await online({"Accounts": []}),
            await online({"Accounts": "bob"}),
            await online({"Accounts": [f"u{i}" for i in range(501)]}),
            await online({"Accounts": ["bob", "nobody"]}),  # not imported: nothing changes
        ]
        await settle(app)
    assert [r["ErrorCode"] for r in refused] == [10004, 10004, 10004, 10019]
    states = [b for q, b in receiver.got if q["CallbackCommand"].endswith("MemberStateChange")]
    assert [(s["EventType"], [m["Member_Account"] for m in s["MemberList"]]) for s in states] == [
        ("Online", ["carol"]),
        ("Online", ["bob", "dave"]),  # carol was online already
        ("Offline", ["bob", "dave"]),
    ]
    members = app.state.store.dump()["groups"]["live"]["MemberList"]
    assert [m["Member_Account"] for m in members] == ["carol"]


async def test_without_a_token_callbacks_are_unsigned(tmp_path):
    receiver = Receiver()
    app = emulator(tmp_path, receiver, token=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as h:
        await h.post("/emulator/join", json={"GroupId": "club", "Account": "dave"})
        await settle(app)
    ((query, _),) = receiver.got
    assert "Sign" not in query and "RequestTime" not in query


@pytest.mark.parametrize("receiver", [Receiver(fail=True)])
async def test_a_failing_receiver_never_holds_up_the_api(tmp_path, receiver):
    app = emulator(tmp_path, receiver)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as h:
        started = time.monotonic()
        for account in ("carol", "dave"):
            answer = await h.post("/emulator/join", json={"GroupId": "club", "Account": account})
            assert answer.json()["ErrorCode"] == 0
        assert time.monotonic() - started < 1
        await settle(app)
        stats = (await h.get("/emulator/stats")).json()["callbacks"]
    assert stats["failed"] == 2 and stats["delivered"] == 0


async def test_a_receiver_that_is_down_is_counted_as_failed(tmp_path):
    db = tmp_path / "e.sqlite3"
    app = create_app(db, sdkappid=SDKAPPID, secret_key=KEY, callback_url="http://127.0.0.1:9/cb")
    EmulatorStore(db).seed(groups=[{"GroupId": "g", "Type": "Public", "Name": "G"}], accounts=["a"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as h:
        answer = await h.post("/emulator/join", json={"GroupId": "g", "Account": "a"})
        assert answer.json()["ErrorCode"] == 0
        await settle(app)
        stats = (await h.get("/emulator/stats")).json()["callbacks"]
    assert stats["failed"] == 1
