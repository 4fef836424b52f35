"""Watch's marks path in process: members coming online while a batch holds the app lock have
their marks set in that batch, without waiting for it to end, and without another lock; a call
slow to answer holds up only its own group; mark 500 renewals survive a restart."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
from conftest import ADMIN, LOCAL_KEY, SDKAPPID, Workspace

from reconciler import engine
from reconciler.config import load_config
from reconciler.emulator.testing import RestCaller
from reconciler.tim.callbacks import INFO_CHANGED, MEMBER_STATE, GroupEvent
from reconciler.tim.calls import ChangeMarks, ModifyGroup
from reconciler.tim.limits import MARK_ALWAYS_ONLINE
from reconciler.watch.controller import MARK_500_REFRESH_S, MARKS_HOLD_S, Controller
from reconciler.watch.metrics import Metrics

ROOMS = ("live1", "live2")


@contextlib.asynccontextmanager
async def watching(controller: Controller):
    """The controller's worker running, past its first resync; stopped on the way out."""
    worker = asyncio.create_task(controller.run())
    try:
        bound = time.monotonic() + 30  # a hang guard, far beyond what a resync takes
        while controller.last_resync is None:
            assert time.monotonic() < bound, "no first resync"
            await asyncio.sleep(0.02)
        yield
    finally:
        controller.stop()
        await worker


async def test_marks_falling_due_during_a_batch_join_it(ws: Workspace) -> None:
    accounts = [f"{p}{r}" for r in (1, 2) for p in ("a", "b")]
    ws.seed(
        [{"GroupId": g, "Type": "AVChatRoom", "Name": g} for g in ROOMS],
        accounts=accounts,
    )
    ws.write(
        [
            {"id": g, "type": "AVChatRoom", "name": g, "marks": {1000: [f"a{r}", f"b{r}"]}}
            for r, g in enumerate(ROOMS, 1)
        ]
    )
    config = load_config(ws.dir)
    emulator = engine.embedded_emulator(config.app, config.base_dir)
    controls = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url="http://e")
    marks_calls: list[float] = []

    async def come_online(gid: str, account: str, later: float = 0.0) -> None:
        body = {"GroupId": gid, "Account": account}
        assert (await controls.post("/emulator/online", json=body)).json()["ErrorCode"] == 0
        event = GroupEvent(MEMBER_STATE, "online", gid, [account])
        controller.on_event(event, received=time.monotonic() + later)

    async def marked(gid: str, account: str) -> bool:
        dump = (await controls.post("/emulator/stats")).json()  # keeps the loop turning
        assert dump["ErrorCode"] == 0
        members = ws.store().dump()["groups"][gid]["MemberList"]
        return any(m["Member_Account"] == account and 1000 in m["Marks"] for m in members)

    async def wait_marked(gid: str, account: str, within: float) -> float:
        started = time.monotonic()
        while not await marked(gid, account):
            assert time.monotonic() - started < within, f"{gid}/{account} not marked in {within} s"
            await asyncio.sleep(0.02)
        return time.monotonic() - started

    async with engine.Session(config.app, config.base_dir, lock=False, emulator=emulator) as s:
        metrics = Metrics(stats=lambda: s.client.stats, depth=lambda: 0)
        controller = Controller(config, s, metrics, resync_s=3600, marks_window_s=0.2)
        perform = s.client.perform

        async def counted(request):
            if request.api == "modify_user_info":
                marks_calls.append(time.monotonic())
            return await perform(request)

        s.client.perform = counted
        try:
            async with watching(controller):
                locks = s.client.stats.calls["create_group"]
                # live2's member is due well after live1's, but within the batch's hold.
                await come_online("live1", "a1")
                await come_online("live2", "a2", later=0.6)
                await wait_marked("live1", "a1", within=1.0)
                # Held by the batch that set a1's marks: live1 again, before that batch ends.
                await come_online("live1", "b1")
                assert await wait_marked("live1", "b1", within=MARKS_HOLD_S / 2) < MARKS_HOLD_S / 2
                await wait_marked("live2", "a2", within=1.5)
                assert s.client.stats.calls["create_group"] == locks  # the lease held all along
                assert len(marks_calls) == 3
        finally:
            await controls.aclose()


async def test_a_call_slow_to_answer_holds_up_only_its_own_group(ws: Workspace) -> None:
    # A stalled answer costs the client its timeout (10 s); meanwhile drift of other groups
    # is reverted and marks are set, in the batch the slow call is part of.
    groups = [
        {"id": "slow", "type": "Public", "name": "Slow", "owner": "o", "members": ["o"]},
        {"id": "fast", "type": "Public", "name": "Fast", "owner": "o", "members": ["o"]},
        {"id": "live1", "type": "AVChatRoom", "name": "live1", "marks": {1000: ["a1"]}},
    ]
    ws.seed(
        [
            {"GroupId": "slow", "Type": "Public", "Name": "Slow", "Owner_Account": "o"},
            {"GroupId": "fast", "Type": "Public", "Name": "Fast", "Owner_Account": "o"},
            {"GroupId": "live1", "Type": "AVChatRoom", "Name": "live1"},
        ],
        accounts=["o", "a1"],
    )
    ws.write(groups)
    config = load_config(ws.dir)
    emulator = engine.embedded_emulator(config.app, config.base_dir)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url="http://e")
    console = RestCaller(http, SDKAPPID, LOCAL_KEY, ADMIN)
    answer = asyncio.Event()  # the slow group's rename is answered once this is set
    bound = time.monotonic() + 30  # a hang guard, far beyond what any step takes

    async def until(predicate) -> None:
        while not predicate():
            assert time.monotonic() < bound, "gave up"
            await asyncio.sleep(0.02)

    async def edit(gid: str) -> None:  # in the console: the REST API, not the tool
        done = await console(
            "group_open_http_svc/modify_group_base_info", {"GroupId": gid, "Name": "Edited"}
        )
        assert done["ErrorCode"] == 0, done
        controller.on_event(GroupEvent(INFO_CHANGED, "info", gid))

    async with engine.Session(config.app, config.base_dir, lock=False, emulator=emulator) as s:
        metrics = Metrics(stats=lambda: s.client.stats, depth=lambda: 0)
        controller = Controller(
            config, s, metrics, resync_s=3600, coalesce_s=0.05, marks_window_s=0.05
        )
        perform = s.client.perform

        async def stalling(request):
            if isinstance(request, ModifyGroup) and request.group_id == "slow":
                await answer.wait()
            return await perform(request)

        s.client.perform = stalling
        worker = asyncio.create_task(controller.run())
        try:
            await until(lambda: controller.last_resync is not None)
            await edit("slow")
            await until(lambda: "slow" in controller.running)  # its batch has begun
            await edit("fast")
            body = {"GroupId": "live1", "Account": "a1", "Online": True}
            assert (await http.post("/emulator/online", json=body)).json()["ErrorCode"] == 0
            controller.on_event(GroupEvent(MEMBER_STATE, "online", "live1", ["a1"]))
            marks_set = "reconciler_watch_marks_set_total"
            await until(lambda: ws.live("fast")["Name"] == "Fast")
            await until(lambda: metrics.registry.get_sample_value(marks_set) == 1)
            assert 1000 in ws.members("live1")["a1"]["Marks"]
            assert ws.live("slow")["Name"] == "Edited" and "slow" in controller.running
            answer.set()
            await until(lambda: ws.live("slow")["Name"] == "Slow")
        finally:
            answer.set()
            controller.stop()
            await worker
            await http.aclose()


async def test_a_marks_call_slow_to_answer_holds_up_only_its_own_members(ws: Workspace) -> None:
    # A room's marks call that stalls (the client waits out its 10 s timeout) does not hold up
    # the members of that room who come online after it: their marks go in a call of their own.
    ws.seed([{"GroupId": "live1", "Type": "AVChatRoom", "Name": "live1"}], accounts=["a1", "b1"])
    ws.write(
        [{"id": "live1", "type": "AVChatRoom", "name": "live1", "marks": {1000: ["a1", "b1"]}}]
    )
    config = load_config(ws.dir)
    emulator = engine.embedded_emulator(config.app, config.base_dir)
    controls = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url="http://e")
    answer = asyncio.Event()  # a1's marks call is answered once this is set
    bound = time.monotonic() + 30  # a hang guard, far beyond what any step takes

    async def come_online(account: str) -> None:
        body = {"GroupId": "live1", "Account": account}
        assert (await controls.post("/emulator/online", json=body)).json()["ErrorCode"] == 0
        controller.on_event(GroupEvent(MEMBER_STATE, "online", "live1", [account]))

    def marked(account: str) -> bool:
        return 1000 in ws.members("live1")[account]["Marks"]

    async with engine.Session(config.app, config.base_dir, lock=False, emulator=emulator) as s:
        metrics = Metrics(stats=lambda: s.client.stats, depth=lambda: 0)
        controller = Controller(config, s, metrics, resync_s=3600, marks_window_s=0.05)
        perform = s.client.perform

        async def stalling(request):
            if isinstance(request, ChangeMarks) and "a1" in request.marks:
                await answer.wait()
            return await perform(request)

        s.client.perform = stalling
        worker = asyncio.create_task(controller.run())
        try:
            while controller.last_resync is None:
                await asyncio.sleep(0.02)
            await come_online("a1")
            while not controller.marking.get("live1"):  # a1's call is out
                assert time.monotonic() < bound, "gave up"
                await asyncio.sleep(0.02)
            await come_online("b1")
            while not marked("b1"):
                assert time.monotonic() < bound, "b1 waited for a1's call"
                await asyncio.sleep(0.02)
            assert not marked("a1") and not answer.is_set()  # still out
            answer.set()
            while not marked("a1"):
                assert time.monotonic() < bound, "gave up"
                await asyncio.sleep(0.02)
        finally:
            answer.set()
            controller.stop()
            await worker
            await controls.aclose()


async def test_a_restarted_watch_renews_mark_500_it_finds_held(ws: Workspace) -> None:
    # Seed 000: mark 500 keeps a member online for three days from when it was set. Renewal
    # times live in memory: a restarted watch derives them from what its first resync sees,
    # renewing at once the holders it cannot date.
    member = {"Member_Account": "a1", "Online": True, "Marks": [MARK_ALWAYS_ONLINE]}
    day = 86400
    store = ws.store()
    try:  # mark 500 set two days before this watch starts
        room = {"GroupId": "live1", "Type": "AVChatRoom", "Name": "live1", "MemberList": [member]}
        store.seed(groups=[room], accounts=["a1"], now=int(time.time()) - 2 * day)
    finally:
        store.close()
    ws.write([{"id": "live1", "type": "AVChatRoom", "name": "live1", "marks": {500: ["a1"]}}])
    config = load_config(ws.dir)
    emulator = engine.embedded_emulator(config.app, config.base_dir)
    controls = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url="http://e")

    async def control(name: str, body: dict) -> None:
        assert (await controls.post(f"/emulator/{name}", json=body)).json()["ErrorCode"] == 0

    async with engine.Session(config.app, config.base_dir, lock=False, emulator=emulator) as s:
        metrics = Metrics(stats=lambda: s.client.stats, depth=lambda: 0)
        controller = Controller(config, s, metrics, resync_s=3600, marks_window_s=0.05)
        worker = asyncio.create_task(controller.run())
        try:
            started = time.monotonic()
            while ("live1", "a1") not in controller.mark500:
                assert time.monotonic() - started < 10, "mark 500 not renewed"
                await asyncio.sleep(0.02)
            assert s.client.stats.calls["modify_user_info"] == 1
            renew_at = controller.mark500[("live1", "a1")]
            assert abs(renew_at - (time.time() + MARK_500_REFRESH_S)) < 60
        finally:
            controller.stop()
            await worker
    # Two more days: four after the first set, two after the renewal; a disconnection is held.
    await control("clock", {"Advance": 2 * day})
    await control("online", {"GroupId": "live1", "Account": "a1", "Online": False})
    await controls.aclose()
    members = ws.store().dump()["groups"]["live1"]["MemberList"]
    assert [(m["Member_Account"], MARK_ALWAYS_ONLINE in m["Marks"]) for m in members] == [
        ("a1", True)
    ]


async def test_a_reconcile_leaves_queued_marks_to_the_marks_path(ws: Workspace) -> None:
    # A member comes online and, before the marks window ends, the room is reconciled (a
    # console edit, or the catch-up after a takeover). The reconcile reads the member online
    # without the mark; the marks path has it queued and sets it: one call, not two.
    ws.seed([{"GroupId": "live1", "Type": "AVChatRoom", "Name": "live1"}], accounts=["a1"])
    ws.write([{"id": "live1", "type": "AVChatRoom", "name": "live1", "marks": {1000: ["a1"]}}])
    config = load_config(ws.dir)
    emulator = engine.embedded_emulator(config.app, config.base_dir)
    controls = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url="http://e")
    marks_calls: list[ChangeMarks] = []
    bound = time.monotonic() + 30  # a hang guard, far beyond what any step takes

    async with engine.Session(config.app, config.base_dir, lock=False, emulator=emulator) as s:
        metrics = Metrics(stats=lambda: s.client.stats, depth=lambda: 0)
        controller = Controller(
            config, s, metrics, resync_s=3600, marks_window_s=0.5, coalesce_s=0.01
        )
        perform = s.client.perform

        async def counted(request):
            if isinstance(request, ChangeMarks):
                marks_calls.append(request)
            return await perform(request)

        s.client.perform = counted
        try:
            async with watching(controller):
                body = {"GroupId": "live1", "Account": "a1"}
                assert (await controls.post("/emulator/online", json=body)).json()["ErrorCode"] == 0
                controller.on_event(GroupEvent(MEMBER_STATE, "online", "live1", ["a1"]))
                controller.on_event(GroupEvent(INFO_CHANGED, "info", "live1"))
                while 1000 not in ws.members("live1")["a1"]["Marks"]:
                    assert time.monotonic() < bound, "a1 never marked"
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.8)  # past the marks window: a second call would be sent
                assert [c.marks for c in marks_calls] == [{"a1": [1000]}]
        finally:
            await controls.aclose()
