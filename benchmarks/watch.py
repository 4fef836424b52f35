"""Watch: AVChatRoom marks held as members come online, reverts of console edits, a CI apply
under load and a standby taking over, against the emulator in its own process.

    python -m benchmarks.watch                   # marks: 60 s of load, about 75 s in all
    python -m benchmarks.watch --seconds 10      # a shorter run
    python -m benchmarks.watch --faults          # the same load and console edits, 15% faulty
    python -m benchmarks.watch --ci-apply        # a CI apply while 300 members/s come online
    python -m benchmarks.watch --failover        # SIGKILL the leader 10 times
    python -m benchmarks.watch --marks --faults --ci-apply --failover   # all four

The emulator (``reconciler emulator serve``, 20 ms latency, 200 calls/s per API, callbacks to
the watch, signed) holds ``--rooms`` AVChatRooms and ``--desks`` Public groups; the config gives
each of the members who come online mark 1000 in their room, and each desk its name and a clerk.
The driver brings members online at ``--rate``/s for ``--seconds``, ``--per-request`` members
of one room in each ``/emulator/online`` request (its ``Accounts``), the rooms in turn and the
requests evenly spaced; the emulator sends one ``Group.CallbackOnMemberStateChange`` per request
(its MemberList names them all, as the vendor reports the members of one presence check
together). One request per member (``--per-request 1``) costs the emulator an HTTP exchange in
and a callback out per member, which on 2 shared cores caps the driver well below 500/s.

**marks** (the default): the watch (its controller and HTTP face, in this process) sets the
marks. Reported: event-to-marks-set latency per member, from the emulator's answer to the
driver's online call (the member is online) to the end of the modify_user_info call that set
its marks (p50, p99, max), and how much of it the callback's delivery took; modify_user_info
calls against the minimum (per room, the fewest windows of ``marks_window_s`` covering its
members' online times, one call per room per window and 500 members per call, from the driver's
own times); marks missing at the end (read from the emulator's store); the rate reached.
Targets: p99 <= 1.5 s, calls <= 1.2 x the minimum, nothing missing.

**faults** (``--faults``): two passes of the same load plus console-like edits (a desk renamed
through the REST API, as a person in the console would, ``--edit-rate``/s, one desk at a time)
against a fresh emulator each: one fault-free, one serving ``--fault-rate`` (0.15) of its /v4
requests faulty (``--fault-rate`` of ``reconciler emulator serve``: an error before the command,
or after it a 502, a cut connection or a stall the client gives up on after its timeout).
Reported per pass: revert latency (the edit made, to the end of the watch's
modify_group_base_info that put the name back) and mark latency, p50 and p99; and the p99
differences. Target: each difference within 2 s plus the retry backoff a faulty call costs (a
stalled call: the client's timeout, then its first retry wait), every edit reverted and every
mark set.

**ci-apply** (``--ci-apply``): while members come online (``--rate``, 300/s by default), a CI
``reconciler apply --auto-approve`` of the same app runs ``--apply-after`` seconds in, from a
checkout whose config is a newer revision (its files' time later; no git) and differs in one
thing: desk000's clerk is removed. The lock is read through the API every 50 ms. Reported: the
time from the apply asking for the lock to holding it (target <= 5 s) and from its start;
whether the watch put the clerk back (it must not: the apply's revision is newer, reconciler/
revision.py) while the load goes on for ``--hold`` seconds; then the watch is given the newer
config (as git-sync would) and the time to its first mark set after that is reported.

**failover** (``--failover``): two ``reconciler watch --lease`` replicas in processes of their
own behind a router that sends the callbacks to the replica whose ``/readyz`` answered 200 at
its last probe (every 1 s, as a Kubernetes Service with ``periodSeconds: 1``). While members
come online, the leader is SIGKILLed (and not reaped until the standby has set a mark, so that
its lease must lapse, as on another node); reported: time from the kill to the first
modify_user_info the emulator receives after it (the standby's first mark) and to the standby's
``/readyz`` 200, p50/p99 over ``--kills`` kills, the killed replica restarted as the new standby
each time; and, ``SETTLE_S`` after that, the members online for over ``LATE_S`` still without
their mark (late: a member would notice), summed over the kills. Target: p99 within the lease,
one renewal, one look and the resync, and no mark late.

The last line printed is one JSON object, one key per run, with all figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from reconciler import engine
from reconciler.config import load_config
from reconciler.emulator import EmulatorStore
from reconciler.emulator.testing import RestCaller, free_port, serve_command, wait_for_port
from reconciler.lock import POLL_S, lock_state
from reconciler.tim.calls import ChangeMarks, ModifyGroup
from reconciler.tim.client import BACKOFF_INITIAL_S, BACKOFF_JITTER_S, TimClient
from reconciler.tim.wire.members import paged_members
from reconciler.watch.auth import CallbackAuth
from reconciler.watch.controller import MARKS_WINDOW_S, Controller
from reconciler.watch.http import callback_app
from reconciler.watch.metrics import Metrics

SDKAPPID = 1400000002
KEY = "benchmark-secret-key"
TOKEN = "benchmark-callback-token"
ADMIN = "administrator"
MARK = 1000
DESK_OWNER = "deskowner"
EDIT_TIMEOUT_S = 5.0  # the driver's console edit gives up on an answer after this (made or not)
DRAIN_S = 30.0  # after the load, how long marks and reverts still in retries may take
PROBE_S = 1.0  # the failover router's readiness probe period
SETTLE_S = 3.0  # failover: after the standby's first mark and ready, the marks are checked then
LATE_S = 2.0  # and members online for this long without their mark count as late
FAULT_FREE_DIFFERENCE_S = 2.0  # the faults run's target, beyond the retry backoff
CLIENT_TIMEOUT_S = inspect.signature(TimClient.__init__).parameters["timeout_s"].default
# A faulty call costs at most this more than a good one (a stall: the client's timeout, then
# its first retry wait) when its retry succeeds.
RETRY_BACKOFF_S = CLIENT_TIMEOUT_S + 2 * BACKOFF_INITIAL_S + BACKOFF_JITTER_S


def room(i: int) -> str:
    return f"room{i:03d}"


def account(i: int) -> str:
    return f"viewer{i:05d}"


def desk(i: int) -> str:
    return f"desk{i:03d}"


def clerk(i: int) -> str:
    return f"clerk{i:03d}"


def minimum_calls(times: dict[str, list[float]], window: float, batch: int = 500) -> int:
    """Per room, the fewest windows of ``window`` seconds covering its event times (greedy from
    the earliest uncovered event is optimal), each window one call per 500 members."""
    total = 0
    for stamps in times.values():
        stamps = sorted(stamps)
        i = 0
        while i < len(stamps):
            end = stamps[i] + window
            j = i
            while j < len(stamps) and stamps[j] <= end:
                j += 1
            total += -(-(j - i) // batch)
            i = j
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def spread(values: list[float], prefix: str) -> dict[str, float]:
    return {
        f"{prefix}_p50_s": round(percentile(values, 0.50), 3),
        f"{prefix}_p99_s": round(percentile(values, 0.99), 3),
        f"{prefix}_max_s": round(max(values, default=float("nan")), 3),
    }


# -- the app: the emulator's state, the config, the emulator in its own process ------------------


@dataclass
class App:
    tmp: Path
    url: str  # the emulator's
    cfg: Path  # the config directory
    rooms: int
    per: int  # members of one room per online request
    viewers: int  # accounts that come online, in order
    desks: int
    groups: list[dict] = field(default_factory=list)  # the config's

    @property
    def db(self) -> Path:
        return self.tmp / "emulator.sqlite3"

    def room_of(self, i: int) -> str:
        """Viewer i comes online in this room: requests of ``per`` members, rooms in turn."""
        return room((i // self.per) % self.rooms)

    def write_config(self, directory: Path, groups: list[dict], mtime: float | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        doc = {"app": {"sdkappid": SDKAPPID, "endpoint": self.url}, "groups": groups}
        path = directory / "groups.yaml"
        path.write_text(json.dumps(doc))
        if mtime is not None:
            os.utime(path, (mtime, mtime))

    def live(self) -> dict:
        store = EmulatorStore(self.db, admin=ADMIN)
        try:
            return store.dump()["groups"]
        finally:
            store.close()

    def marks_missing(self, online: set[tuple[str, str]]) -> int:
        return sum(
            1
            for group in self.live().values()
            for m in group["MemberList"]
            if (group["GroupId"], m["Member_Account"]) in online and MARK not in m["Marks"]
        )


@contextlib.contextmanager
def emulator_app(
    args: argparse.Namespace,
    *,
    rooms: int,
    viewers: int,
    desks: int = 0,
    callback_port: int,
    fault_rate: float = 0.0,
) -> Iterator[App]:
    """A fresh emulator holding the rooms and desks, its callbacks sent to ``callback_port``."""
    tmp = Path(tempfile.mkdtemp(prefix="watch-bench-"))
    port = free_port()
    app = App(tmp, f"http://127.0.0.1:{port}", tmp / "cfg", rooms, args.per_request, viewers, desks)
    store = EmulatorStore(app.db, admin=ADMIN)
    store.seed(
        groups=[{"GroupId": room(r), "Type": "AVChatRoom", "Name": "Live"} for r in range(rooms)]
        + [
            {
                "GroupId": desk(d),
                "Type": "Public",
                "Name": f"Desk {d}",
                "Owner_Account": DESK_OWNER,
                "MemberList": [{"Member_Account": clerk(d)}],
            }
            for d in range(desks)
        ],
        accounts=[account(i) for i in range(viewers)],
    )
    store.close()
    members: dict[str, list[str]] = {room(r): [] for r in range(rooms)}
    for i in range(viewers):
        members[app.room_of(i)].append(account(i))
    app.groups = [
        {"id": gid, "type": "AVChatRoom", "name": "Live", "marks": {MARK: names}}
        for gid, names in members.items()
    ] + [
        {
            "id": desk(d),
            "type": "Public",
            "name": f"Desk {d}",
            "owner": DESK_OWNER,
            "members": [DESK_OWNER, clerk(d)],
        }
        for d in range(desks)
    ]
    app.write_config(app.cfg, app.groups)
    argv = serve_command(
        port,
        app.db,
        SDKAPPID,
        latency_ms=args.latency_ms,
        rate_limit=args.api_rate,
        fault_rate=fault_rate or None,
        seed=args.seed if fault_rate else None,
    )
    argv += ["--callback-url", f"http://127.0.0.1:{callback_port}/callback"]
    env = {**os.environ, "TIM_SECRET_KEY": KEY, "TIM_CALLBACK_TOKEN": TOKEN}
    with (tmp / "emulator.log").open("w") as log:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
    os.environ["TIM_SECRET_KEY"] = KEY  # the in-process watch's and the benchmark's clients
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        yield app
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def emulator_stats(app: App) -> dict:
    return httpx.get(f"{app.url}/emulator/stats", timeout=10).json()


def marks_requests(stats: dict) -> int:
    """modify_user_info requests the emulator received (a mark being set)."""
    return sum(n for api, n in stats["requests"].items() if api.endswith("/modify_user_info"))


@contextlib.asynccontextmanager
async def serving(app, port: int) -> AsyncIterator[None]:
    """Serve an ASGI app on ``port`` in this event loop."""
    import uvicorn

    # proto=IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections (no 40 ms stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield
    finally:
        server.should_exit = True
        await task
        sock.close()


# -- the watch in this process, its calls timed ----------------------------------------------------


class InProcessWatch:
    """The watch's controller and callback face in this process; when each member's marks call
    ended (``marked``), each desk's name was written (``renamed``) and each member's callback
    reached the controller (``arrived``)."""

    def __init__(self, app: App, port: int, window: float) -> None:
        self.app, self.port, self.window = app, port, window
        self.marked: dict[tuple[str, str], float] = {}
        self.renamed: dict[str, list[tuple[float, str]]] = {}
        self.arrived: dict[tuple[str, str], float] = {}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Controller]:
        config = load_config(self.app.cfg)
        # as ``reconciler.watch.serve`` makes it
        session = engine.Session(config.app, config.base_dir, lock=False, hedge_reads=True)
        async with session:
            metrics = Metrics(stats=lambda: session.client.stats, depth=lambda: 0)
            controller = Controller(
                config, session, metrics, resync_s=3600, marks_window_s=self.window
            )
            self._instrument(session.client, controller)
            auth = CallbackAuth(config.app.sdkappid, TOKEN)
            face = callback_app("/callback", lambda: controller, auth, metrics)
            async with serving(face, self.port):
                worker = asyncio.create_task(controller.run())
                try:
                    while controller.last_resync is None:  # the first resync
                        await asyncio.sleep(0.05)
                    yield controller
                finally:
                    controller.stop()
                    await worker

    def _instrument(self, client: TimClient, controller: Controller) -> None:
        """Benchmark instrumentation only: the end of each marks and rename call, and each
        member's callback reaching the controller (the emulator's delivery apart from the
        watch's own time)."""
        perform = client.perform

        async def timed(request):
            outcome = await perform(request)
            now = time.monotonic()
            if isinstance(request, ChangeMarks):
                for a in request.marks:
                    if a not in outcome.offline:
                        self.marked.setdefault((request.group_id, a), now)
            elif isinstance(request, ModifyGroup) and request.name is not None:
                self.renamed.setdefault(request.group_id, []).append((now, request.name))
            return outcome

        client.perform = timed  # type: ignore[method-assign]
        on_event = controller.on_event

        def noted(event, received=None):
            if event.kind == "online":
                now = time.monotonic()
                for a in event.accounts:
                    self.arrived.setdefault((event.group_id, a), now)
            return on_event(event, received)

        controller.on_event = noted  # type: ignore[method-assign]

    def reverted_at(self, gid: str, name: str, after: float) -> float | None:
        """When the watch's write of ``name`` to ``gid`` ended, the first after ``after``."""
        return next((t for t, n in self.renamed.get(gid, []) if t >= after and n == name), None)


# -- drivers -------------------------------------------------------------------------------------


@dataclass
class Onlines:
    sent: dict[tuple[str, str], float] = field(default_factory=dict)  # member online at
    late: int = 0  # requests sent over 50 ms behind schedule
    failed: list[str] = field(default_factory=list)  # online requests not carried out
    seconds: float = 0.0  # how long the load took


async def drive_onlines(
    app: App,
    rate: float,
    count: int,
    *,
    first: int = 0,
    until: asyncio.Event | None = None,
    out: Onlines | None = None,
) -> Onlines:
    """Bring viewers ``first``.. online at ``rate``/s, ``app.per`` of one room per request,
    ``count`` of them or until ``until`` is set; ``out``: filled as they come online."""
    out = Onlines() if out is None else out
    per = app.per
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    in_flight = asyncio.Semaphore(64)  # beyond it the driver falls behind (counted as late)
    timeout = httpx.Timeout(30, pool=None)
    async with httpx.AsyncClient(base_url=app.url, limits=limits, timeout=timeout) as http:

        async def bring_online(j: int) -> None:
            start = first + j * per
            gid = app.room_of(start)
            names = [account(i) for i in range(start, min(first + count, start + per))]
            body = {"GroupId": gid, "Accounts": names, "Online": True}
            try:
                answer = (await http.post("/emulator/online", json=body)).json()
            except httpx.HTTPError as err:
                out.failed.append(f"{type(err).__name__}: {err}")
                return
            finally:
                in_flight.release()
            if answer.get("ErrorCode") != 0:
                out.failed.append(str(answer))
                return
            # The event: the members are online once the emulator has answered (the time
            # this driver's requests wait for a connection is not the watch's).
            now = time.monotonic()
            for name in names:
                out.sent[(gid, name)] = now

        started = time.monotonic()
        pending: set[asyncio.Task] = set()
        for j in range(-(-count // per)):
            if until is not None and until.is_set():
                break
            due = started + j * per / rate
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.05:
                out.late += 1
            await in_flight.acquire()
            task = asyncio.create_task(bring_online(j))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        out.seconds = time.monotonic() - started
    return out


async def console_edit(http: httpx.AsyncClient, caller: RestCaller, gid: str, name: str) -> float:
    """Rename ``gid`` as a person in the console would: through the REST API, not the tool;
    again while a fault kept it from being made. Returns when it was made: its answer, or, where
    a fault lost the answer of an edit that was made, when that answer failed (a 502, a cut
    connection) or was sent (a stall)."""
    body = json.dumps({"GroupId": gid, "Name": name}).encode()
    while True:
        sent = time.monotonic()
        try:
            answer = await http.post(
                "/v4/group_open_http_svc/modify_group_base_info",
                params=caller.params(),
                content=body,
                timeout=EDIT_TIMEOUT_S,
            )
        except httpx.TimeoutException:
            return sent
        except httpx.TransportError:
            return time.monotonic()
        if answer.status_code != 200:
            return time.monotonic()
        code = answer.json()["ErrorCode"]
        if code == 0:
            return time.monotonic()
        if code != 10002:  # 10002: the emulator's fault before the command; anything else is not
            raise RuntimeError(f"console edit of {gid}: {answer.text}")


async def drive_edits(
    app: App, watch: InProcessWatch, rate: float, seconds: float
) -> list[tuple[str, str, float]]:
    """Rename a desk ``rate`` times a second for ``seconds``, a desk whose last edit the watch
    has reverted each time (a tick with none is skipped); returns (desk, its name, edit time)."""
    edits: list[tuple[str, str, float]] = []
    busy: set[str] = set()  # desks edited and not yet reverted
    async with httpx.AsyncClient(base_url=app.url) as http:
        caller = RestCaller(http, SDKAPPID, KEY, ADMIN)

        async def edit(d: int, n: int) -> None:
            gid = desk(d)
            made = await console_edit(http, caller, gid, f"console edit {n}")
            edits.append((gid, f"Desk {d}", made))
            while watch.reverted_at(gid, f"Desk {d}", made) is None:
                await asyncio.sleep(0.05)
            busy.discard(gid)

        tasks: set[asyncio.Task] = set()
        started = time.monotonic()
        for n in range(int(rate * seconds)):
            wait = started + n / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            free = [d for d in range(app.desks) if desk(d) not in busy]
            if not free:
                continue
            d = free[n % len(free)]
            busy.add(desk(d))
            tasks.add(asyncio.create_task(edit(d, n)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_S)
    return edits


async def wait_marked(watch: InProcessWatch, sent: dict, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while any(k not in watch.marked for k in sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


def mark_latencies(watch: InProcessWatch, sent: dict) -> list[float]:
    return [watch.marked[k] - sent[k] for k in sent if k in watch.marked]


# -- the runs ------------------------------------------------------------------------------------


async def run_marks(args: argparse.Namespace) -> dict:
    events = int(args.rate * args.seconds)
    port = free_port()
    with emulator_app(args, rooms=args.rooms, viewers=events, callback_port=port) as app:
        watch = InProcessWatch(app, port, args.window)
        async with watch.running() as controller:
            calls_before = controller.client.stats.calls["modify_user_info"]
            stats_before = emulator_stats(app)
            load = await drive_onlines(app, args.rate, events)
            await wait_marked(watch, load.sent, 10)
            calls = controller.client.stats.calls["modify_user_info"] - calls_before
        stats = emulator_stats(app)
        missing = app.marks_missing(set(load.sent))
    sent = load.sent
    per_room: dict[str, list[float]] = {}
    for (gid, _), t in sent.items():
        per_room.setdefault(gid, []).append(t)
    minimum = minimum_calls(per_room, args.window)
    latencies = mark_latencies(watch, sent)
    delivery = [watch.arrived[k] - sent[k] for k in sent if k in watch.arrived]
    callbacks = stats.get("callbacks") or {}
    before_cb = stats_before.get("callbacks") or {}
    return {
        "rooms": args.rooms,
        "members_per_room": max(1, -(-events // args.rooms)),
        "online_events": len(sent),
        "offered_rate_per_s": args.rate,
        "achieved_rate_per_s": round(len(sent) / load.seconds, 1),
        "members_per_request": args.per_request,
        "requests_sent_late": load.late,
        "requests_failed": len(load.failed),
        "first_failure": load.failed[0] if load.failed else None,
        "marks_window_s": args.window,
        "latency_p50_s": round(percentile(latencies, 0.50), 3),
        "latency_p99_s": round(percentile(latencies, 0.99), 3),
        "latency_max_s": round(max(latencies, default=float("nan")), 3),
        "callback_arrival_p50_s": round(percentile(delivery, 0.50), 3),
        "callback_arrival_p99_s": round(percentile(delivery, 0.99), 3),
        "modify_user_info_calls": calls,
        "minimum_calls": minimum,
        "calls_over_minimum": round(calls / minimum, 3) if minimum else None,
        "marks_missing": missing,
        "not_marked_in_time": len(sent) - len(latencies),
        "callbacks_delivered": callbacks.get("delivered", 0) - before_cb.get("delivered", 0),
        "callbacks_failed": callbacks.get("failed", 0) - before_cb.get("failed", 0),
        "rate_limited": stats.get("rate_limited", {}),
        "busiest_second": stats.get("busiest_second", {}),
        "targets_met": (
            not load.failed
            and len(sent) / load.seconds >= 0.95 * args.rate
            and percentile(latencies, 0.99) <= 1.5
            and bool(minimum)
            and calls / minimum <= 1.2
            and missing == 0
        ),
    }


async def faults_pass(args: argparse.Namespace, fault_rate: float) -> dict:
    """The load and the console edits against an emulator serving ``fault_rate`` faulty."""
    events = int(args.rate * args.seconds)
    port = free_port()
    with emulator_app(
        args,
        rooms=args.rooms,
        viewers=events,
        desks=args.desks,
        callback_port=port,
        fault_rate=fault_rate,
    ) as app:
        watch = InProcessWatch(app, port, args.window)
        async with watch.running() as controller:
            load, edits = await asyncio.gather(
                drive_onlines(app, args.rate, events),
                drive_edits(app, watch, args.edit_rate, args.seconds),
            )
            await wait_marked(watch, load.sent, DRAIN_S)
            client = controller.client.stats
            backoffs = {
                scope: int(
                    controller.metrics.registry.get_sample_value(
                        "reconciler_watch_backoffs_total", {"scope": scope}
                    )
                    or 0
                )
                for scope in ("app", "group")
            }
        stats = emulator_stats(app)
        missing = app.marks_missing(set(load.sent))
    reverts = [t - made for gid, name, made in edits if (t := watch.reverted_at(gid, name, made))]
    marks = mark_latencies(watch, load.sent)
    return {
        "fault_rate": fault_rate,
        "online_events": len(load.sent),
        "achieved_rate_per_s": round(len(load.sent) / load.seconds, 1),
        "edits": len(edits),
        **spread(reverts, "revert"),
        "reverts_over_5_s": sum(t > 5 for t in reverts),  # a stalled call's timeout in them
        "not_reverted": len(edits) - len(reverts),
        **spread(marks, "marks"),
        "marks_over_5_s": sum(t > 5 for t in marks),
        "marks_missing": missing,
        # members whose callback never reached the watch (the emulator's delivery gave up)
        "callbacks_missing": sum(k not in watch.arrived for k in load.sent),
        "faults": stats.get("faults", {}),
        "requests": stats.get("total", 0),
        "client_retries": client.retries,
        "client_hedges": client.hedges,
        "backoffs": backoffs,
    }


async def run_faults(args: argparse.Namespace) -> dict:
    clean = await faults_pass(args, 0.0)
    faulty = await faults_pass(args, args.fault_rate)
    allowance = FAULT_FREE_DIFFERENCE_S + RETRY_BACKOFF_S
    revert_diff = faulty["revert_p99_s"] - clean["revert_p99_s"]
    marks_diff = faulty["marks_p99_s"] - clean["marks_p99_s"]
    return {
        "rooms": args.rooms,
        "desks": args.desks,
        "offered_rate_per_s": args.rate,
        "edits_per_s": args.edit_rate,
        "seconds": args.seconds,
        "fault_free": clean,
        "faulty": faulty,
        "revert_p99_difference_s": round(revert_diff, 3),
        "marks_p99_difference_s": round(marks_diff, 3),
        "allowed_difference_s": round(allowance, 2),
        "targets_met": (
            revert_diff <= allowance
            and marks_diff <= allowance
            and not any(p["not_reverted"] or p["marks_missing"] for p in (clean, faulty))
        ),
    }


async def run_ci_apply(args: argparse.Namespace) -> dict:
    events = int(args.rate * args.seconds)
    port = free_port()
    desks = max(1, args.desks)
    with emulator_app(
        args, rooms=args.rooms, viewers=events, desks=desks, callback_port=port
    ) as app:
        # CI's checkout: a later revision of the same config, with desk000's clerk removed.
        ci = app.tmp / "ci-checkout"
        ci_groups = [
            {**g, "members": [DESK_OWNER]} if g["id"] == desk(0) else g for g in app.groups
        ]
        app.write_config(ci, ci_groups, mtime=time.time() + 60)
        watch = InProcessWatch(app, port, args.window)
        config = load_config(app.cfg)
        reader = engine.Session(config.app, config.base_dir, lock=False)
        async with watch.running() as controller, reader:
            loading = asyncio.create_task(drive_onlines(app, args.rate, events))
            await asyncio.sleep(args.apply_after)
            applied = await ci_apply(ci, reader.client)
            # The load goes on: the watch must not put the clerk back (CI's revision is newer).
            kept, superseded = True, False
            hold_until = time.monotonic() + args.hold
            while time.monotonic() < hold_until:
                members = await paged_members(reader.client, desk(0), False)
                kept = kept and clerk(0) not in members
                superseded = superseded or controller.superseded
                await asyncio.sleep(0.5)
            # Then the watch runs CI's revision (as git-sync would bring it) and writes again.
            reloaded, resynced = time.monotonic(), controller.last_resync
            controller.reload(load_config(ci))  # a changed config: a resync at once
            load = await loading
            await wait_marked(watch, load.sent, 15)
            deadline = time.monotonic() + 15
            while controller.last_resync == resynced and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            after = [t for t in watch.marked.values() if t > reloaded]
            still_superseded = controller.superseded
            kept = kept and clerk(0) not in await paged_members(reader.client, desk(0), False)
        missing = app.marks_missing(set(load.sent))
    before = {k: t for k, t in load.sent.items() if t < applied["started"]}
    achieved = len(load.sent) / load.seconds
    lock_wait = applied["lock_wait_s"]
    return {
        "rooms": args.rooms,
        "offered_rate_per_s": args.rate,
        "achieved_rate_per_s": round(achieved, 1),
        "callbacks_per_s": round(achieved / args.per_request, 1),
        "requests_failed": len(load.failed),
        **{k: v for k, v in applied.items() if k != "started"},
        "change_kept": kept,
        "watch_superseded": superseded,
        "resumed_after_reload_s": round(min(after) - reloaded, 3) if after else None,
        "superseded_after_reload": still_superseded,
        **spread(mark_latencies(watch, before), "marks_before_apply"),
        "marks_missing": missing,
        "targets_met": (
            applied["apply_exit"] == 0
            and lock_wait is not None
            and lock_wait <= 5.0
            and kept
            and superseded
            and not still_superseded
            and missing == 0
        ),
    }


async def ci_apply(ci: Path, client: TimClient) -> dict:
    """``reconciler apply CI --auto-approve`` in a process of its own, the app lock read through
    the API every 50 ms meanwhile: when the apply asked for it, and when it held it."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "reconciler", "apply", str(ci), "--auto-approve"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    done = asyncio.create_task(proc.communicate())
    asked = held = None
    while not done.done():
        lease, request = await lock_state(client)
        now = time.monotonic()
        if asked is None and request is not None and request.holder.endswith("(apply)"):
            asked = now
        if held is None and lease is not None and lease.holder.endswith("(apply)"):
            held = now
        await asyncio.wait([done], timeout=0.05)
    _, err = done.result()
    ended = time.monotonic()
    if proc.returncode != 0:
        print(err.decode(errors="replace"), file=sys.stderr)
    return {
        "started": started,
        "apply_exit": proc.returncode,
        "apply_s": round(ended - started, 3),
        "apply_waited_for_the_lock": b"Waiting for the app lock" in err,
        "lock_asked": asked is not None,
        "lock_wait_s": round(held - (asked or started), 3) if held else None,
        "lock_after_start_s": round(held - started, 3) if held else None,
    }


@dataclass
class Replica:
    """A ``reconciler watch`` process of its own."""

    name: str
    log: Path
    port: int = field(default_factory=free_port)
    health: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def callback_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def start(self, app: App, lease: int) -> None:
        argv = [sys.executable, "-m", "reconciler", "watch", str(app.cfg)]
        argv += [
            "--listen",
            f"127.0.0.1:{self.port}",
            "--health-listen",
            f"127.0.0.1:{self.health}",
        ]
        argv += ["--lease", str(lease), "--resync", "3600"]
        env = {**os.environ, "TIM_SECRET_KEY": KEY, "TIM_CALLBACK_TOKEN": TOKEN}
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
            )

    async def get(self, http: httpx.AsyncClient, path: str) -> httpx.Response | None:
        try:
            return await http.get(f"http://127.0.0.1:{self.health}{path}", timeout=2)
        except httpx.HTTPError:
            return None

    async def role(self, http: httpx.AsyncClient) -> str | None:
        answer = await self.get(http, "/status")
        return answer.json()["role"] if answer is not None else None

    async def ready(self, http: httpx.AsyncClient) -> bool:
        answer = await self.get(http, "/readyz")
        return answer is not None and answer.status_code == 200

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Router:
    """The callbacks to the replica whose /readyz answered 200 at the last probe (every
    ``PROBE_S``), as a Kubernetes Service sends them to ready pods only."""

    def __init__(self, replicas: list[Replica]) -> None:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        self.replicas = replicas
        self.target: Replica | None = None
        self.undelivered = 0  # callbacks with no ready replica to take them, or not taken
        self.http = httpx.AsyncClient(timeout=5)

        async def forward(request: Request) -> Response:
            target = self.target
            if target is not None:
                url = f"{target.callback_url}?{request.url.query}"
                try:
                    answer = await self.http.post(url, content=await request.body())
                    return Response(answer.content, answer.status_code, media_type="text/json")
                except httpx.HTTPError:
                    pass
            self.undelivered += 1
            return Response(status_code=503)

        self.app = Starlette(routes=[Route("/callback", forward, methods=["POST"])])

    async def probe(self) -> None:
        while True:
            ready = [r for r in self.replicas if await r.ready(self.http)]
            self.target = ready[0] if ready else None
            await asyncio.sleep(PROBE_S)


async def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting {seconds:g} s for {what}")
        await asyncio.sleep(0.05)


async def run_failover(args: argparse.Namespace) -> dict:
    lease = args.lease
    # Viewers enough for every kill: the lease, a restart and a pause each, at most.
    viewers = int(args.rate * (args.kills * (2 * lease + 30) + 30))
    router_port = free_port()
    with emulator_app(args, rooms=args.rooms, viewers=viewers, callback_port=router_port) as app:
        replicas = [Replica(name, app.tmp / f"watch-{name}.log") for name in ("a", "b")]
        router = Router(replicas)
        http = router.http
        stats_url = f"{app.url}/emulator/stats"

        async def marks_sent() -> int:
            return marks_requests((await http.get(stats_url)).json())

        marked, ready, late = [], [], []
        try:
            async with serving(router.app, router_port):
                probing = asyncio.create_task(router.probe())
                replicas[0].start(app, lease)

                async def a_leads() -> bool:
                    return await replicas[0].ready(http)

                await wait_for(a_leads, 60, "the first replica to lead")
                replicas[1].start(app, lease)

                async def b_stands_by() -> bool:
                    return await replicas[1].role(http) == "standby"

                await wait_for(b_stands_by, 60, "the second replica to stand by")
                stop = asyncio.Event()
                online = Onlines()
                loading = asyncio.create_task(
                    drive_onlines(app, args.rate, viewers, until=stop, out=online)
                )
                await asyncio.sleep(2)
                for _ in range(args.kills):
                    roles = [await r.role(http) for r in replicas]
                    leader = replicas[roles.index("leader")]
                    standby = replicas[1 - replicas.index(leader)]
                    assert leader.proc is not None
                    killed = time.monotonic()
                    leader.proc.kill()  # not reaped yet: its lease must lapse, as on another node
                    await asyncio.sleep(0.2)  # its last calls have reached the emulator
                    base = await marks_sent()
                    first_mark = now_ready = None
                    deadline = killed + 3 * lease + 30
                    while None in (first_mark, now_ready) and time.monotonic() < deadline:
                        if first_mark is None and await marks_sent() > base:
                            first_mark = time.monotonic() - killed
                        if now_ready is None and await standby.ready(http):
                            now_ready = time.monotonic() - killed
                        await asyncio.sleep(0.02)
                    marked.append(first_mark)
                    ready.append(now_ready)
                    # Once the standby leads and callbacks reach it, every member online for
                    # LATE_S has a mark: one still without is one a member would notice.
                    await asyncio.sleep(SETTLE_S)
                    checked = time.monotonic()
                    due = {m for m, at in list(online.sent.items()) if at < checked - LATE_S}
                    late.append(await asyncio.to_thread(app.marks_missing, due))
                    leader.proc.wait()
                    leader.start(app, lease)  # the new standby

                    async def restarted(r: Replica = leader) -> bool:
                        return await r.role(http) == "standby"

                    await wait_for(restarted, 60, "the killed replica to stand by again")
                    await asyncio.sleep(1)
                stop.set()
                load = await loading
                await asyncio.sleep(3)  # the last marks
                probing.cancel()
        finally:
            for r in replicas:
                r.stop()
            await router.http.aclose()
        missing = app.marks_missing(set(load.sent))
    taken = [t for t in marked if t is not None]
    bound = lease + lease / 3 + POLL_S + 1  # the lease, a renewal, a look, the resync
    return {
        "rooms": args.rooms,
        "offered_rate_per_s": args.rate,
        "achieved_rate_per_s": round(len(load.sent) / load.seconds, 1),
        "lease_s": lease,
        "kills": args.kills,
        **spread(taken, "kill_to_first_mark"),
        **spread([t for t in ready if t is not None], "kill_to_standby_ready"),
        "kill_to_first_mark_each_s": [round(t, 2) if t is not None else None for t in marked],
        "no_mark_after_kill": len(marked) - len(taken),
        "bound_s": round(bound, 2),
        "callbacks_undelivered": router.undelivered,
        "marks_late_after_takeover": sum(late),
        "marks_late_each": late,
        "marks_missing": missing,
        "targets_met": len(taken) == args.kills
        and percentile(taken, 0.99) <= bound
        and not sum(late),
    }


RUNS = {
    "marks": run_marks,
    "faults": run_faults,
    "ci_apply": run_ci_apply,
    "failover": run_failover,
}
# Per run when not given: --rate, --seconds, --rooms.
DEFAULTS = {
    "marks": (500.0, 60.0, 100),
    "faults": (100.0, 30.0, 20),
    "ci_apply": (300.0, 30.0, 20),
    "failover": (20.0, 0.0, 10),
}


def flat(doc: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    for key, value in doc.items():
        if isinstance(value, dict) and value and key not in ("rate_limited", "busiest_second"):
            yield from flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--marks", action="store_true", help="the marks run (the default)")
    parser.add_argument("--faults", action="store_true", help="the run with faulty calls")
    parser.add_argument("--ci-apply", action="store_true", help="a CI apply under load")
    parser.add_argument("--failover", action="store_true", help="SIGKILL the leader")
    parser.add_argument(
        "--rooms", type=int, help="AVChatRooms (marks 100; faults, ci-apply 20; failover 10)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="members online per second (marks 500, faults 100, ci-apply 300, failover 20)",
    )
    parser.add_argument(
        "--seconds", type=float, help="of load (marks 60, faults 30 each pass, ci-apply 30)"
    )
    parser.add_argument(
        "--per-request", type=int, default=5, help="members of one room per online request"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--api-rate", type=float, default=200.0)
    parser.add_argument("--window", type=float, default=MARKS_WINDOW_S)
    parser.add_argument("--desks", type=int, default=20, help="Public groups edited (faults)")
    parser.add_argument("--edit-rate", type=float, default=2.0, help="console edits per second")
    parser.add_argument("--fault-rate", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=1, help="of the emulator's faults")
    parser.add_argument("--apply-after", type=float, default=5.0, help="s into the load (ci-apply)")
    parser.add_argument("--hold", type=float, default=5.0, help="s of load after the apply")
    parser.add_argument("--lease", type=int, default=5, help="the replicas' --lease (failover)")
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args(argv)
    chosen = [name for name in RUNS if getattr(args, name)] or ["marks"]
    results: dict[str, object] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    ok = True
    for name in chosen:
        rate, seconds, rooms = DEFAULTS[name]
        run_args = argparse.Namespace(**vars(args))
        run_args.rate = args.rate or rate
        run_args.seconds = args.seconds or seconds
        run_args.rooms = args.rooms or rooms
        result = asyncio.run(RUNS[name](run_args))
        results[name] = result
        ok = ok and bool(result["targets_met"])
        print(f"== {name} ==")
        for key, value in flat(result):
            print(f"{key:>40}: {value}")
        print(f"{name} targets:", "met" if result["targets_met"] else "NOT met")
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
