"""Client CPU per API call, by HTTP transport, against ``reconciler emulator serve``.

    python -m benchmarks.http                    # about 30 s
    python -m benchmarks.http --calls 3000 --rounds 3

The same TimClient makes the same calls (account_check of one account, the smallest answer, so
the figure is the per-call overhead) through each transport: the aiohttp one the client uses for
real endpoints (reconciler.tim.transport.RestTransport) and httpx's own (httpcore over anyio,
plugged in as any httpx transport is, through HttpxTransport).
The server runs in a separate process with latency and a rate limit, as at scale, so several
calls are in flight. Rounds alternate between the transports so that a noisy machine affects
both alike; the ratio of the medians is the figure to read. The last line printed is one JSON
object with all figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from reconciler.emulator import EmulatorStore
from reconciler.emulator.testing import free_port, serve_command, wait_for_port
from reconciler.tim import wire
from reconciler.tim.client import TimClient
from reconciler.tim.transport import RestTransport

SDKAPPID = 1400000003
KEY = "http-benchmark-key"
ADMIN = "administrator"

TRANSPORTS = {
    "aiohttp (RestTransport)": RestTransport,
    # What httpx.AsyncClient uses by default; no pool limit, as the client bounds concurrency.
    "httpx (httpcore)": lambda: httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=64)
    ),
}


async def cpu_per_call(url: str, make_transport, calls: int, rate: float) -> float:
    async with TimClient(
        sdkappid=SDKAPPID,
        admin=ADMIN,
        secret_key=KEY,
        base_url=url,
        transport=make_transport(),
        rate_limit=rate,
    ) as client:
        await wire.accounts.account_check(
            client, ["someone"]
        )  # connect and sign outside the measurement
        start = time.process_time()
        await asyncio.gather(
            *(wire.accounts.account_check(client, ["someone"]) for _ in range(calls))
        )
        return (time.process_time() - start) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__)
    parser.add_argument("--calls", type=int, default=1500, help="calls per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per transport")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rate-limit", type=float, default=200.0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        db = Path(tmp) / "emulator.sqlite3"
        EmulatorStore(db, admin=ADMIN).close()
        port = free_port()
        argv_serve = serve_command(
            port, db, SDKAPPID, admin=ADMIN, latency_ms=args.latency_ms, rate_limit=args.rate_limit
        )
        env = dict(os.environ, TIM_SECRET_KEY=KEY)
        server = subprocess.Popen(
            argv_serve, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_port("127.0.0.1", port, timeout=60)
            url = f"http://127.0.0.1:{port}"
            samples: dict[str, list[float]] = {name: [] for name in TRANSPORTS}
            for _ in range(args.rounds):
                for name, make in TRANSPORTS.items():
                    cost = asyncio.run(cpu_per_call(url, make, args.calls, args.rate_limit))
                    samples[name].append(cost * 1000)
        finally:
            server.terminate()
            server.wait(timeout=15)

    medians = {name: statistics.median(values) for name, values in samples.items()}
    ours, theirs = medians["aiohttp (RestTransport)"], medians["httpx (httpcore)"]
    print(f"Client CPU per call ({args.calls} calls x {args.rounds} rounds, "
          f"{args.latency_ms:g} ms latency, {args.rate_limit:g} calls/s)")  # fmt: skip
    for name, values in samples.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:<24} median {medians[name]:.2f} ms  (rounds: {shown})")
    print(f"  httpx's own transport costs {theirs / ours:.2f}x the CPU per call")
    summary = {
        "benchmark": "http",
        "calls": args.calls,
        "rounds": args.rounds,
        "latency_ms": args.latency_ms,
        "rate_limit": args.rate_limit,
        "cpu_ms_per_call": {k: round(v, 3) for k, v in medians.items()},
        "httpx_over_aiohttp": round(theirs / ours, 2),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
