"""The emulator's CPU per 1,000 members listed, on its hot read paths.

    python -m benchmarks.emulator_reads                      # about 30 s
    python -m benchmarks.emulator_reads --profile get_group_info   # cProfile of one API

Seeds a realistic app (``benchmarks.scale_shape``: groups of 2 to 6,000 members with roles,
name cards, message flags, mutes and custom data; one Community of tens of thousands), then
calls the emulator's ASGI app directly (no HTTP client, no latency, no rate limit), as a
plan's observe and stale check do: get_group_member_info page by page (Offset, or Next for
the Community), get_group_info of 50 groups with and without a ResponseFilter,
get_specified_group_member_info of 50 named members, and each AVChatRoom's online members
(get_members, with and without a Mark; and those of one room of 800). Reports CPU seconds
(the whole process: the event loop and the reading threads; the driver's own decoding of the
answers left out) per 1,000 members listed. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from reconciler.emulator import EmulatorStore, create_app
from reconciler.tim.usersig import generate
from reconciler.tim.wire.groups import GROUP_FIELDS_READ

from .scale_shape import generate as generate_shape
from .scale_shape import seed_items

SDKAPPID = 1400000001
KEY = "benchmark-secret-key"
ADMIN = "administrator"
SVC = "group_open_http_svc"
AV_SVC = "group_open_avchatroom_http_svc"
ROOM, ROOM_SIZE = "bench-room", 800
# The stale check's kind of ResponseFilter (reconciler.tim.wire.groups.get_group_profiles).
FILTER = {
    "GroupBaseInfoFilter": list(GROUP_FIELDS_READ),
    "MemberInfoFilter": ["Role", "NameCard", "MsgFlag", "MuteUntil"],
    "AppDefinedDataFilter_GroupMember": ["Dept"],
}


class Caller:
    """Calls the app as a client would, one request at a time, and reads the answers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sig = generate(SDKAPPID, KEY, ADMIN)
        self.n = 0
        self.client_cpu = 0.0

    async def __call__(self, command: str, body: dict, service: str = SVC) -> dict:
        self.n += 1
        query = (
            f"sdkappid={SDKAPPID}&identifier={ADMIN}&usersig={self.sig}"
            f"&random={self.n}&contenttype=json"
        )
        scope = {
            "type": "http",
            "method": "POST",
            "path": f"/v4/{service}/{command}",
            "query_string": query.encode(),
            "headers": [],
        }
        raw = orjson.dumps(body)
        chunks: list[bytes] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message["body"])

        await self.app(scope, receive, send)
        t = time.process_time()
        answer = orjson.loads(b"".join(chunks))
        self.client_cpu += time.process_time() - t  # the client's, not the emulator's
        if answer["ErrorCode"] != 0:
            raise RuntimeError(f"{command}: {answer}")
        return answer


async def member_pages(call: Caller, gid: str, community: bool) -> int:
    listed, offset, cursor = 0, 0, ""
    while True:
        body: dict[str, Any] = {"GroupId": gid, "Limit": 200}
        if community:
            body["Next"] = cursor
        else:
            body["Offset"] = offset
        answer = await call("get_group_member_info", body)
        listed += len(answer["MemberList"])
        offset += len(answer["MemberList"])
        cursor = answer.get("Next", "")
        # as the client stops (reconciler.tim.wire.members.member_pages)
        if (community and not cursor) or (not community and offset >= answer["MemberNum"]):
            return listed


async def measure(
    name: str, call: Caller, run: Callable[[], Any], profile: str | None, repeat: int
) -> dict[str, float | int]:
    """The least CPU of ``repeat`` runs (the machine is shared: the least is the least noisy)."""
    profiler = cProfile.Profile() if profile == name else None
    cpu = wall = float("inf")
    for _ in range(repeat):
        cpu0, wall0, client0 = time.process_time(), time.perf_counter(), call.client_cpu
        if profiler:
            profiler.enable()
        listed = await run()
        if profiler:
            profiler.disable()
        cpu = min(cpu, time.process_time() - cpu0 - (call.client_cpu - client0))
        wall = min(wall, time.perf_counter() - wall0)
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return {
        "members": listed,
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_1000": round(1000 * cpu / max(1, listed) * 1000, 2),
        "wall_s": round(wall, 3),
    }


async def run(db: Path, shape: Any, profile: str | None, repeat: int) -> dict[str, dict]:
    app = create_app(db, sdkappid=SDKAPPID, secret_key=KEY, admin=ADMIN)
    call = Caller(app)
    listed = [g for g in shape.groups if g.exists and g.live is not None]
    ids = [g.gid for g in listed]

    async def pages() -> int:
        return sum([await member_pages(call, g.gid, g.api_type == "Community") for g in listed])

    async def info(body_filter: dict | None) -> int:
        n = 0
        for i in range(0, len(ids), 50):
            body: dict[str, Any] = {"GroupIdList": ids[i : i + 50]}
            if body_filter:
                body["ResponseFilter"] = body_filter
            for item in (await call("get_group_info", body))["GroupInfo"]:
                n += len(item.get("MemberList", ()))
        return n

    async def specified() -> int:
        n = 0
        for g in listed:
            named = list(g.live)[:50]
            body = {"GroupId": g.gid, "Member_List_Account": named}
            n += len((await call("get_specified_group_member_info", body))["MemberList"])
        return n

    rooms = [(g.gid, list(g.live_marks or ())) for g in shape.groups if g.exists and g.live is None]

    async def online(rooms: list[tuple[str, list[int]]]) -> int:
        """Each AVChatRoom's online members, and those of each of its marks (as observe reads
        rooms whose marks the config manages), paged by NextTimestamp."""
        n = 0
        for gid, marks in rooms:
            for mark in [None, *marks]:
                body: dict[str, Any] = {"GroupId": gid, "Timestamp": 0}
                if mark is not None:
                    body["Mark"] = mark
                while True:
                    answer = await call("get_members", body, AV_SVC)
                    n += len(answer["MemberList"])
                    if not answer["NextTimestamp"]:
                        break
                    body["Timestamp"] = answer["NextTimestamp"]
        return n

    await info(None)  # warm the page cache and the reading threads
    out = {
        "get_group_member_info": await measure(
            "get_group_member_info", call, pages, profile, repeat
        ),
        "get_group_info": await measure(
            "get_group_info", call, lambda: info(None), profile, repeat
        ),
        "get_group_info (filtered)": await measure(
            "get_group_info (filtered)", call, lambda: info(FILTER), profile, repeat
        ),
        "get_specified_group_member_info": await measure(
            "get_specified_group_member_info", call, specified, profile, repeat
        ),
        "get_members": await measure("get_members", call, lambda: online(rooms), profile, repeat),
        f"get_members (a room of {ROOM_SIZE}, 20 times)": await measure(
            "get_members (room)", call, lambda: online([(ROOM, [1000])] * 20), profile, repeat
        ),
    }
    app.state.store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=400)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (least CPU)")
    parser.add_argument("--profile", help="print a cProfile of this measurement")
    args = parser.parse_args()
    now = int(time.time())
    shape = generate_shape(args.groups, args.members, 0.0, args.seed, now)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "reads.db"
        store = EmulatorStore(db)
        store.seed(groups=seed_items(shape), accounts=shape.accounts, now=now)
        # A busy room: every member online, one in three carrying mark 1000.
        online = [
            {"Member_Account": f"r{i:04d}", "Marks": [1000] if i % 3 == 0 else []}
            for i in range(ROOM_SIZE)
        ]
        store.seed(groups=[{"GroupId": ROOM, "Type": "AVChatRoom", "MemberList": online}], now=now)
        store.close()
        results = asyncio.run(run(db, shape, args.profile, args.repeat))
    width = max(len(name) for name in results)
    print(f"{'measurement':<{width}}  {'members':>8}  {'CPU s':>6}  {'CPU ms/1000':>11}")
    for name, r in results.items():
        print(
            f"{name:<{width}}  {r['members']:>8}  {r['cpu_s']:>6.2f}  {r['cpu_ms_per_1000']:>11.2f}"
        )
    print(json.dumps({"benchmark": "emulator_reads", "args": vars(args), "results": results}))


if __name__ == "__main__":
    main()
