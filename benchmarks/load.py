"""Load: many concurrent REST clients against `reconciler emulator serve` on loopback.

    python -m benchmarks.load                          # 50 clients for 30 s
    python -m benchmarks.load --clients 10 --seconds 5

Each client is the project's own ``TimClient`` (its own connection pool, limiter and retries)
and works on groups of its own: create a group with members, read it, import members, change
name cards, change the profile and custom data, remove members, read the member list, and now
and then destroy an old group. It keeps a model of what its groups should look like. No faults
are injected, so every call must succeed; afterwards every group of every client is read back
and compared with its model, and the server's request counters are compared with what the
clients sent. Prints a table and, last, one JSON line; exits 1 on any error or inconsistency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reconciler.emulator.testing import free_port, serve_command, wait_for_port
from reconciler.tim import wire
from reconciler.tim.client import TimClient
from reconciler.tim.errors import TimError

SDKAPPID = 1400000002
ADMIN = "administrator"
ACCOUNTS = [f"user{i:04d}" for i in range(1000)]


@dataclass
class Model:
    """What one group should look like."""

    name: str
    members: set[str]
    cards: dict[str, str] = field(default_factory=dict)
    custom: dict[str, str] = field(default_factory=dict)


@dataclass
class ClientRun:
    index: int
    groups: dict[str, Model] = field(default_factory=dict)
    destroyed: set[str] = field(default_factory=set)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    requests: int = 0


async def timed(run: ClientRun, api: str, coro: Any) -> Any:
    started = time.perf_counter()
    try:
        return await coro
    finally:
        run.latencies[api].append(time.perf_counter() - started)


async def client_loop(client: TimClient, run: ClientRun, deadline: float, rng: random.Random):
    n = 0
    while time.monotonic() < deadline:
        gid = f"load-{run.index}-{n}"
        n += 1
        first = rng.sample(ACCOUNTS, 20)
        model = Model(name=f"G{n}", members={"owner", *first})
        try:
            await timed(
                run,
                "create_group",
                wire.groups.create_group(
                    client,
                    {
                        "Type": "Public",
                        "GroupId": gid,
                        "Name": model.name,
                        "Owner_Account": "owner",
                        "MemberList": [{"Member_Account": a} for a in first],
                    },
                ),
            )
            run.groups[gid] = model
            await timed(run, "get_group_info", wire.groups.get_group_info(client, [gid]))
            more = [a for a in rng.sample(ACCOUNTS, 50) if a not in model.members]
            await timed(
                run,
                "import_group_member",
                wire.members.import_group_member(
                    client, gid, [{"Member_Account": a} for a in more]
                ),
            )
            model.members.update(more)
            for account in rng.sample(sorted(model.members - {"owner"}), 5):
                card = f"c{rng.randrange(1000)}"
                await timed(
                    run,
                    "modify_group_member_info",
                    wire.members.modify_group_member_info(
                        client, {"GroupId": gid, "Member_Account": account, "NameCard": card}
                    ),
                )
                model.cards[account] = card
            model.name = f"G{n}-renamed"
            model.custom = {"round": str(n)}
            await timed(
                run,
                "modify_group_base_info",
                wire.groups.modify_group_base_info(
                    client,
                    {
                        "GroupId": gid,
                        "Name": model.name,
                        "AppDefinedData": [{"Key": "round", "Value": str(n)}],
                    },
                ),
            )
            gone = rng.sample(sorted(model.members - {"owner"}), 10)
            await timed(
                run, "delete_group_member", wire.members.delete_group_member(client, gid, gone)
            )
            model.members.difference_update(gone)
            for account in gone:
                model.cards.pop(account, None)
            await timed(
                run,
                "get_group_member_info",
                wire.members.get_group_member_info(client, gid, offset=0),
            )
            if n % 4 == 0:
                old = f"load-{run.index}-{n - 3}"
                await timed(run, "destroy_group", wire.groups.destroy_group(client, old))
                run.groups.pop(old, None)
                run.destroyed.add(old)
        except TimError as err:
            run.errors.append(f"{gid}: {err}")
    run.requests = client.stats.requests


async def verify(client: TimClient, runs: list[ClientRun]) -> list[str]:
    """Read every group back and compare it with its client's model."""
    problems: list[str] = []
    expected: dict[str, Model] = {}
    destroyed: set[str] = set()
    for run in runs:
        expected.update(run.groups)
        destroyed |= run.destroyed
    ids = sorted(expected) + sorted(destroyed)
    for i in range(0, len(ids), 50):
        for info in await wire.groups.get_group_info(client, ids[i : i + 50]):
            gid = info["GroupId"]
            if gid in destroyed:
                if info.get("ErrorCode") != 10010:
                    problems.append(f"{gid}: destroyed but get_group_info says {info}")
                continue
            model = expected[gid]
            members = {m["Member_Account"]: m for m in info.get("MemberList", [])}
            custom = {kv["Key"]: kv["Value"] for kv in info.get("AppDefinedData", [])}
            if info.get("Name") != model.name:
                problems.append(f"{gid}: name {info.get('Name')!r} != {model.name!r}")
            if set(members) != model.members:
                problems.append(f"{gid}: members differ by {set(members) ^ model.members}")
            if custom != model.custom:
                problems.append(f"{gid}: custom {custom} != {model.custom}")
            for account, card in model.cards.items():
                if members.get(account, {}).get("NameCard") != card:
                    problems.append(f"{gid}/{account}: name card is not {card!r}")
    return problems


def start_server(db: Path, key: str, port: int, latency_ms: float) -> subprocess.Popen:
    args = serve_command(port, db, SDKAPPID, latency_ms=float(latency_ms))
    env = {**os.environ, "TIM_SECRET_KEY": key}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port("127.0.0.1", port, timeout=20)
    except OSError:
        proc.kill()
        raise SystemExit(f"the emulator did not start: {proc.stderr.read().decode()}") from None
    return proc


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main_async(args: argparse.Namespace, url: str, key: str) -> dict[str, Any]:
    def make() -> TimClient:
        return TimClient(
            sdkappid=SDKAPPID,
            admin=ADMIN,
            secret_key=key,
            base_url=url,
            rate_limit=args.rate_limit,
            max_in_flight=8,
        )

    async with make() as setup:
        await wire.accounts.multiaccount_import(setup, ["owner"])
        for i in range(0, len(ACCOUNTS), 100):
            await wire.accounts.multiaccount_import(setup, ACCOUNTS[i : i + 100])
        before = httpx.get(f"{url}/emulator/stats").json()["total"]

    runs = [ClientRun(i) for i in range(args.clients)]
    clients = [make() for _ in runs]
    started = time.monotonic()
    deadline = started + args.seconds
    await asyncio.gather(
        *(
            client_loop(c, r, deadline, random.Random(args.seed * 1000 + r.index))
            for c, r in zip(clients, runs, strict=True)
        )
    )
    elapsed = time.monotonic() - started
    for c in clients:
        await c.aclose()
    stats = httpx.get(f"{url}/emulator/stats").json()
    served = stats["total"] - before
    async with make() as checker:
        problems = await verify(checker, runs)

    sent = sum(r.requests for r in runs)
    errors = [e for r in runs for e in r.errors]
    by_api: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        for api, values in r.latencies.items():
            by_api[api].extend(values)
    if served != sent:
        problems.append(f"the server counted {served} requests, the clients sent {sent}")
    if stats.get("faults") or stats.get("rate_limited"):
        problems.append(
            f"unexpected faults or rate limiting: {stats['faults']} {stats['rate_limited']}"
        )
    server_errors = Counter(stats.get("errors", {}))
    return {
        "clients": args.clients,
        "seconds": round(elapsed, 2),
        "requests": sent,
        "requests_per_second": round(sent / elapsed, 1),
        "groups_checked": sum(len(r.groups) for r in runs),
        "groups_destroyed": sum(len(r.destroyed) for r in runs),
        "errors": len(errors),
        "error_samples": errors[:5],
        "server_error_codes": dict(server_errors),
        "inconsistencies": len(problems),
        "inconsistency_samples": problems[:5],
        "latency_ms": {
            api: {
                "calls": len(v),
                "p50": round(statistics.median(v) * 1000, 2),
                "p95": round(percentile(v, 0.95) * 1000, 2),
                "p99": round(percentile(v, 0.99) * 1000, 2),
            }
            for api, v in sorted(by_api.items())
        },
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"{'API':<26} {'calls':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for api, row in result["latency_ms"].items():
        print(f"{api:<26} {row['calls']:>8} {row['p50']:>8} {row['p95']:>8} {row['p99']:>8}")
    print()
    print(
        f"{result['clients']} clients, {result['seconds']} s: {result['requests']} requests, "
        f"{result['requests_per_second']} requests/s; {result['errors']} errors; "
        f"{result['groups_checked']} groups checked ({result['groups_destroyed']} destroyed), "
        f"{result['inconsistencies']} inconsistencies"
    )
    for sample in result["error_samples"] + result["inconsistency_samples"]:
        print(f"  ! {sample}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration (30 s)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="server latency (0)")
    parser.add_argument("--rate-limit", type=float, default=200, help="per client and API")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="use a running emulator (TIM_SECRET_KEY must match)")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 1000 or not 0 < args.seconds <= 600:
        parser.error("--clients must be 1..1000 and --seconds 0..600")

    proc = None
    if args.url:
        url, key = args.url.rstrip("/"), os.environ.get("TIM_SECRET_KEY", "")
        if not key:
            parser.error("--url needs TIM_SECRET_KEY")
    else:
        key = os.urandom(16).hex()
        port = free_port()
        tmp = tempfile.TemporaryDirectory(prefix="reconciler-load-")
        proc = start_server(Path(tmp.name) / "load.sqlite3", key, port, args.latency_ms)
        url = f"http://127.0.0.1:{port}"
    try:
        result = asyncio.run(main_async(args, url, key))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    print_table(result)
    print(json.dumps(result, separators=(",", ":")))
    return 0 if not result["errors"] and not result["inconsistencies"] else 1


if __name__ == "__main__":
    sys.exit(main())
