"""Watch: AVChatRoom marks held as members come online, against the emulator in its own process.

    python -m benchmarks.watch                   # 60 s of load, about 75 s in all
    python -m benchmarks.watch --seconds 10      # a shorter run

The emulator (``reconciler emulator serve``, 20 ms latency, 200 calls/s per API, callbacks to
the watch, signed) holds 100 AVChatRooms; the config gives each of ``members`` accounts per room
mark 1000. The driver brings members online at ``rate``/s for ``seconds``, ``per_request``
members of one room in each ``/emulator/online`` request (its ``Accounts``), the rooms in
turn and the requests evenly spaced; the emulator sends one
``Group.CallbackOnMemberStateChange`` per request (its MemberList names them all, as the
vendor reports the members of one presence check together), and the watch (its controller and
HTTP face, in this process) sets their marks. One request per member (``--per-request 1``)
costs the emulator an HTTP exchange in and a callback out per member, which on 2 shared cores
caps the driver well below 500/s.

Reported:
* event-to-marks-set latency per member, from the emulator's answer to the driver's online call
  (the member is online) to the end of the modify_user_info call that set its marks (p50, p99,
  max), and how much of it the callback's delivery took (p50, p99 of the online answer to the
  callback reaching the controller);
* modify_user_info calls used, against the minimum: per room, the fewest windows of
  ``marks_window_s`` that cover its members' online times (one call per room per window;
  500 members per call), computed from the driver's own times, not from the watch;
* marks missing at the end: members online without mark 1000, read from the emulator's store;
* the rate the driver actually reached (members online per second over the load).

Targets: p99 <= 1.5 s, calls <= 1.2 x the minimum, nothing missing. The last line printed is one
JSON object with all figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from reconciler import engine
from reconciler.config import load_config
from reconciler.emulator import EmulatorStore
from reconciler.emulator.testing import free_port, serve_command, wait_for_port
from reconciler.tim.calls import ChangeMarks
from reconciler.watch.auth import CallbackAuth
from reconciler.watch.controller import MARKS_WINDOW_S, Controller
from reconciler.watch.http import callback_app
from reconciler.watch.metrics import Metrics

SDKAPPID = 1400000002
KEY = "benchmark-secret-key"
TOKEN = "benchmark-callback-token"
ADMIN = "administrator"
MARK = 1000


def room(i: int) -> str:
    return f"room{i:03d}"


def account(i: int) -> str:
    return f"viewer{i:05d}"


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


async def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="watch-bench-"))
    db = tmp / "emulator.sqlite3"
    events = int(args.rate * args.seconds)
    members = max(1, -(-events // args.rooms))
    accounts = [account(i) for i in range(events)]
    per = args.per_request
    store = EmulatorStore(db, admin=ADMIN)
    store.seed(
        groups=[
            {"GroupId": room(r), "Type": "AVChatRoom", "Name": "Live"} for r in range(args.rooms)
        ],
        accounts=accounts,
    )
    store.close()
    # Member i joins room (i // per_request) % rooms: the config gives it mark 1000 there.
    groups = [
        {
            "id": room(r),
            "type": "AVChatRoom",
            "name": "Live",
            "marks": {MARK: [account(i) for i in range(events) if (i // per) % args.rooms == r]},
        }
        for r in range(args.rooms)
    ]
    emulator_port, watch_port = free_port(), free_port()
    emulator_url = f"http://127.0.0.1:{emulator_port}"
    (tmp / "cfg").mkdir()
    (tmp / "cfg" / "groups.yaml").write_text(
        json.dumps({"app": {"sdkappid": SDKAPPID, "endpoint": emulator_url}, "groups": groups})
    )
    argv = serve_command(
        emulator_port, db, SDKAPPID, latency_ms=args.latency_ms, rate_limit=args.api_rate
    )
    argv += ["--callback-url", f"http://127.0.0.1:{watch_port}/callback"]
    env = {**os.environ, "TIM_SECRET_KEY": KEY, "TIM_CALLBACK_TOKEN": TOKEN}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.environ["TIM_SECRET_KEY"] = KEY
    try:
        wait_for_port("127.0.0.1", emulator_port, timeout=30)
        return await measure(args, tmp, emulator_url, watch_port, members)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def measure(
    args: argparse.Namespace, tmp: Path, emulator_url: str, watch_port: int, members: int
) -> dict:
    import uvicorn

    config = load_config(tmp / "cfg")
    session = engine.Session(config.app, config.base_dir, lock=False)
    sent: dict[tuple[str, str], float] = {}
    marked: dict[tuple[str, str], float] = {}
    async with session:
        metrics = Metrics(stats=lambda: session.client.stats, depth=lambda: 0)
        controller = Controller(config, session, metrics, resync_s=3600, marks_window_s=args.window)
        auth = CallbackAuth(config.app.sdkappid, TOKEN)
        app = callback_app("/callback", lambda: controller, auth, metrics)
        # When each member's marks call ends (benchmark instrumentation only).
        perform = session.client.perform

        async def timed(request):
            outcome = await perform(request)
            if isinstance(request, ChangeMarks):
                now = time.monotonic()
                for a in request.marks:
                    if a not in outcome.offline:
                        marked.setdefault((request.group_id, a), now)
            return outcome

        session.client.perform = timed
        # When each member's callback reached the controller: the emulator's delivery time
        # apart from the watch's own.
        arrived: dict[tuple[str, str], float] = {}
        on_event = controller.on_event

        def noted(event, received=None):
            if event.kind == "online":
                now = time.monotonic()
                for a in event.accounts:
                    arrived.setdefault((event.group_id, a), now)
            return on_event(event, received)

        controller.on_event = noted
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", watch_port))
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        worker = asyncio.create_task(controller.run())
        while controller.last_resync is None:  # the first resync (nothing to do: all offline)
            await asyncio.sleep(0.05)
        calls_before = session.client.stats.calls["modify_user_info"]
        emulator_stats_before = httpx.get(f"{emulator_url}/emulator/stats").json()

        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        in_flight = asyncio.Semaphore(64)  # beyond it the driver falls behind (counted as late)
        timeout = httpx.Timeout(30, pool=None)
        async with httpx.AsyncClient(base_url=emulator_url, limits=limits, timeout=timeout) as http:
            started = time.monotonic()
            events = int(args.rate * args.seconds)
            per = args.per_request
            requests = -(-events // per)
            late = 0
            failed: list[str] = []  # online requests the emulator did not carry out

            async def bring_online(j: int) -> None:
                gid = room(j % args.rooms)
                names = [account(i) for i in range(j * per, min(events, (j + 1) * per))]
                body = {"GroupId": gid, "Accounts": names, "Online": True}
                try:
                    answer = (await http.post("/emulator/online", json=body)).json()
                except httpx.HTTPError as err:
                    failed.append(f"{type(err).__name__}: {err}")
                    return
                if answer.get("ErrorCode") != 0:
                    failed.append(str(answer))
                    return
                # The event: the members are online once the emulator has answered (the time
                # this driver's requests wait for a connection is not the watch's).
                now = time.monotonic()
                for name in names:
                    sent[(gid, name)] = now

            async def bounded(j: int) -> None:
                try:
                    await bring_online(j)
                finally:
                    in_flight.release()

            pending: set[asyncio.Task] = set()
            try:
                for j in range(requests):
                    due = started + j * per / args.rate
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    elif wait < -0.05:
                        late += 1
                    await in_flight.acquire()
                    task = asyncio.create_task(bounded(j))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                await asyncio.gather(*pending)
            except BaseException:
                controller.stop()
                server.should_exit = True
                raise
            load_s = time.monotonic() - started
        deadline = time.monotonic() + 10
        while len(marked) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        controller.stop()
        server.should_exit = True
        await asyncio.gather(worker, serving)
        calls = session.client.stats.calls["modify_user_info"] - calls_before
        emulator_stats = httpx.get(f"{emulator_url}/emulator/stats").json()

    store = EmulatorStore(tmp / "emulator.sqlite3", admin=ADMIN)
    try:
        live = store.dump()["groups"]
    finally:
        store.close()
    missing = sum(
        1
        for group in live.values()
        for m in group["MemberList"]
        if (group["GroupId"], m["Member_Account"]) in sent and MARK not in m["Marks"]
    )
    per_room: dict[str, list[float]] = {}
    for (gid, _), t in sent.items():
        per_room.setdefault(gid, []).append(t)
    minimum = minimum_calls(per_room, args.window)
    latencies = [marked[k] - sent[k] for k in sent if k in marked]
    delivery = [arrived[k] - sent[k] for k in sent if k in arrived]
    callbacks = emulator_stats.get("callbacks") or {}
    before_cb = emulator_stats_before.get("callbacks") or {}
    return {
        "rooms": args.rooms,
        "members_per_room": members,
        "online_events": len(sent),
        "offered_rate_per_s": args.rate,
        "achieved_rate_per_s": round(len(sent) / load_s, 1),
        "members_per_request": args.per_request,
        "requests_sent_late": late,
        "requests_failed": len(failed),
        "first_failure": failed[0] if failed else None,
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
        "rate_limited": emulator_stats.get("rate_limited", {}),
        "busiest_second": emulator_stats.get("busiest_second", {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--rate", type=float, default=500.0, help="members online per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--per-request", type=int, default=5, help="members of one room per online request"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--api-rate", type=float, default=200.0)
    parser.add_argument("--window", type=float, default=MARKS_WINDOW_S)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    ok = (
        not result["requests_failed"]
        and result["achieved_rate_per_s"] >= 0.95 * args.rate
        and result["latency_p99_s"] <= 1.5
        and result["calls_over_minimum"] is not None
        and result["calls_over_minimum"] <= 1.2
        and result["marks_missing"] == 0
    )
    print("targets:", "met" if ok else "NOT met")
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
