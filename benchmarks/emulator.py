"""Emulator throughput: requests per second in-process and over loopback HTTP.

    python -m benchmarks.emulator                 # about 15 s
    python -m benchmarks.emulator --seconds 5     # longer runs per measurement

Measured calls: get_group_info of one group of 20 members (the "simple request"), and
modify_group_base_info (a write: one SQLite transaction). In-process goes through
httpx.ASGITransport (the embedded default); "direct ASGI" calls the app without a client, to show
the server's own cost; HTTP runs ``reconciler.emulator.serve`` (uvicorn) in a subprocess on
loopback and drives it with httpx over keep-alive connections. Each measurement is bounded in
time. The last line printed is one JSON object with all figures.
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
import textwrap
import time
from pathlib import Path

import httpx

from reconciler.emulator import EmulatorStore, create_app
from reconciler.emulator.testing import free_port, wait_for_port
from reconciler.tim.usersig import generate

SDKAPPID = 1400000001
KEY = "benchmark-secret-key"
ADMIN = "administrator"
GROUP = "bench-group"
READ = ("group_open_http_svc/get_group_info", {"GroupIdList": [GROUP]})
WRITE = ("group_open_http_svc/modify_group_base_info", {"GroupId": GROUP, "Notification": "n"})


def seed(db: Path) -> None:
    store = EmulatorStore(db)
    members = [{"Member_Account": f"member{i:02d}"} for i in range(19)]
    store.seed(
        groups=[
            {"GroupId": GROUP, "Type": "Public", "Owner_Account": "owner", "MemberList": members}
        ]
    )
    store.close()


def query() -> dict[str, str]:
    sig = generate(SDKAPPID, KEY, ADMIN)
    return {
        "sdkappid": str(SDKAPPID),
        "identifier": ADMIN,
        "usersig": sig,
        "random": "1",
        "contenttype": "json",
    }


async def drive(
    http: httpx.AsyncClient, call: tuple[str, dict], workers: int, seconds: float
) -> dict[str, float]:
    """Run ``workers`` loops of one call each for ``seconds``; count answers and latencies."""
    api, body = call
    # The query string is built once; only ``random`` changes per call (as a lean client does).
    params = {k: v for k, v in query().items() if k != "random"}
    prefix = f"/v4/{api}?" + "&".join(f"{k}={v}" for k, v in params.items()) + "&random="
    content = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            url = prefix + str(random.getrandbits(32))
            response = await http.post(url, content=content, headers=headers)
            latencies.append(time.perf_counter() - t)
            if response.status_code != 200 or response.json()["ErrorCode"] != 0:
                failures += 1

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(workers)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "requests": len(latencies),
        "failures": failures,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


async def direct_asgi(app, seconds: float) -> dict[str, float]:
    """The server's own cost: call the ASGI app with a prepared scope, no HTTP client."""
    qs = "&".join(f"{k}={v}" for k, v in query().items()).encode()
    body = json.dumps(READ[1]).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": f"/v4/{READ[0]}",
        "query_string": qs,
        "headers": [],
        "root_path": "",
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        pass

    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            await app(dict(scope), receive, send)
        n += 100
    return {"rps": round(n / (time.perf_counter() - start), 1), "requests": n}


async def in_process(db: Path, seconds: float) -> dict[str, dict]:
    app = create_app(db, sdkappid=SDKAPPID, secret_key=KEY, admin=ADMIN)
    out = {"direct ASGI, get_group_info": await direct_asgi(app, seconds)}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
        out["in-process, get_group_info, 1 client"] = await drive(http, READ, 1, seconds)
        out["in-process, get_group_info, 8 clients"] = await drive(http, READ, 8, seconds)
        out["in-process, modify_group_base_info, 8"] = await drive(http, WRITE, 8, seconds)
    app.state.store.close()
    return out


SERVER = textwrap.dedent(
    """
    import sys
    from reconciler.emulator import serve
    serve("127.0.0.1", int(sys.argv[1]), sys.argv[2], sdkappid=int(sys.argv[3]),
          admin=sys.argv[4], secret_key=sys.argv[5])
    """
)


async def over_http(db: Path, seconds: float) -> dict[str, dict]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(db), str(SDKAPPID), ADMIN, KEY],
        cwd=Path(__file__).resolve().parent.parent,
    )
    out: dict[str, dict] = {}
    try:
        wait_for_port("127.0.0.1", port, timeout=15)
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=10
        ) as http:
            await drive(http, READ, 4, 0.3)  # warm the connections
            out["HTTP, get_group_info, 1 client"] = await drive(http, READ, 1, seconds)
            out["HTTP, get_group_info, 8 clients"] = await drive(http, READ, 8, seconds)
            out["HTTP, modify_group_base_info, 8"] = await drive(http, WRITE, 8, seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        seed(db)
        results = asyncio.run(in_process(db, args.seconds))
        results.update(asyncio.run(over_http(db, args.seconds)))
    width = max(len(name) for name in results)
    print(f"{'measurement':<{width}}  {'req/s':>9}  {'p50 ms':>7}  {'p99 ms':>7}  {'failed':>6}")
    for name, r in results.items():
        print(
            f"{name:<{width}}  {r['rps']:>9.0f}  {r.get('p50_ms', float('nan')):>7.2f}"
            f"  {r.get('p99_ms', float('nan')):>7.2f}  {r.get('failures', 0):>6}"
        )
    print(f"(cpus: {os.cpu_count()}, python {sys.version.split()[0]})")
    print(
        json.dumps(
            {"benchmark": "emulator", "seconds_per_measurement": args.seconds, "results": results}
        )
    )


if __name__ == "__main__":
    main()
