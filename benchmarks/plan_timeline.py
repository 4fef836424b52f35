"""Where a plan's wall time goes: the scale benchmark's app, planned in this process.

    python -m benchmarks.plan_timeline --members 1000000          # 10,000 groups
    python -m benchmarks.plan_timeline --members 1000000 --fifo   # slots first come, first served

Seeds an emulator server (``reconciler emulator serve``, 20 ms, 200 calls/s) with the app of
benchmarks.scale_shape (one group per 100 memberships, 1% drift), then loads the config, plans
and saves the plan in this process, timing each phase, and prints for every API when its first
call started and its last one ended (seconds after the plan began), with the emulator's and this
process's CPU during the plan, and the observe floor of benchmarks.scale_sweep. ``--fifo`` turns
off the client's priority for long chains of dependent calls (reconciler/tim/slots.py), for
comparison. ``--stale`` then times what ``apply --plan`` does before its first write: reading
the plan file, rendering its text, taking the app lock and the stale check (twice: it only reads);
with ``--apply`` it then executes the plan in-process, timing the execution and, per API, when
its first call started and its last one ended.
``--keep DIR`` copies the saved plan there (DIR/plan.json), to time reading it on its own.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plan_timeline", description=__doc__)
    parser.add_argument("--members", type=int, default=300_000, help="live memberships")
    parser.add_argument("--drift", type=float, default=0.01)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rate-limit", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fifo", action="store_true", help="no priority for long chains")
    parser.add_argument("--stale", action="store_true", help="time apply --plan's stale check")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="copy the plan file into DIR")
    parser.add_argument("--apply", action="store_true", help="with --stale: then apply the plan")
    args = parser.parse_args(argv)

    from benchmarks.scale import ADMIN, KEY, Server
    from benchmarks.scale_shape import READINGS, generate, minimum, seed_items, write_config
    from benchmarks.scale_sweep import (
        MEMBERS_PER_GROUP,
        observe_chain,
        observe_floor_s,
        process_cpu_s,
    )
    from reconciler import engine
    from reconciler.config import load_config
    from reconciler.emulator import EmulatorStore
    from reconciler.emulator.testing import free_port
    from reconciler.tim import client as tim_client

    workdir = Path(tempfile.mkdtemp(prefix="bench-timeline-"))
    os.environ["TIM_SECRET_KEY"] = KEY
    try:
        now = int(time.time())
        groups = max(1, args.members // MEMBERS_PER_GROUP)
        shape = generate(groups, args.members, args.drift, args.seed, now, True)
        store = EmulatorStore(workdir / "live.sqlite3", admin=ADMIN)
        store.seed(groups=seed_items(shape), accounts=shape.accounts, now=now)
        store.close()
        port = free_port()
        write_config(shape, workdir / "config", f"http://127.0.0.1:{port}", args.rate_limit)
        reading = READINGS["default"]
        mins = minimum(shape, reading)
        chain = observe_chain(shape, reading, mins.joining)
        floor = observe_floor_s(mins.observe, chain, args.rate_limit, args.latency_ms / 1000)
        del shape

        if args.fifo:  # the client then sets a priority nobody reads
            tim_client.PRIORITY = contextvars.ContextVar("unused", default=0)  # type: ignore[misc]
        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        original = tim_client.TimClient.call

        async def timed(self, service, command, *rest, **options):
            started = time.monotonic()
            answer = await original(self, service, command, *rest, **options)
            spans[command].append((started, time.monotonic()))
            return answer

        tim_client.TimClient.call = timed  # type: ignore[method-assign]
        log = workdir / "server.log"
        server = Server(port, workdir / "live.sqlite3", args.latency_ms, args.rate_limit,
                        dict(os.environ), log)  # fmt: skip
        try:
            t0 = time.monotonic()
            config = load_config(workdir / "config")
            t1 = time.monotonic()
            emulator0, cpu0 = process_cpu_s(server.proc.pid), time.process_time()
            plan = asyncio.run(engine.plan(config))
            t2 = time.monotonic()
            emulator_cpu = process_cpu_s(server.proc.pid) - emulator0
            client_cpu = time.process_time() - cpu0
            engine.save_plan(workdir / "plan.json", plan, config)
            t3 = time.monotonic()
            apis = {  # the plan's calls (the stale phases below count theirs apart)
                api: {
                    "calls": len(s),
                    "first_start_s": round(min(a for a, _ in s) - t1, 2),
                    "last_end_s": round(max(b for _, b in s) - t1, 2),
                }
                for api, s in spans.items()
            }
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(workdir / "plan.json", args.keep / "plan.json")
            stale = (
                _stale_phases(workdir / "plan.json", spans, server.proc.pid, args.apply)
                if args.stale
                else {}
            )
        finally:
            server.stop()
            tim_client.TimClient.call = original  # type: ignore[method-assign]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    summary = {
        "benchmark": "plan-timeline",
        "memberships": args.members,
        "groups": groups,
        "fifo": args.fifo,
        "load_s": round(t1 - t0, 2),
        "plan_s": round(t2 - t1, 2),
        "save_s": round(t3 - t2, 2),
        "observe_floor_s": round(floor, 2),
        "observe_chain": chain,
        "emulator_cpu_s": round(emulator_cpu, 2),
        "client_cpu_s": round(client_cpu, 2),
        "apis": apis,
        "stale": stale,
    }
    print(f"Plan timeline: {args.members:,} memberships, {groups:,} groups"
          f"{' (slots first come, first served)' if args.fifo else ''}")  # fmt: skip
    print(f"  load {summary['load_s']:.2f} s, observe + diff {summary['plan_s']:.2f} s "
          f"(floor {floor:.2f} s), save {summary['save_s']:.2f} s")  # fmt: skip
    print(f"  CPU during the plan: emulator {emulator_cpu:.2f} s, client {client_cpu:.2f} s")
    for api, a in sorted(apis.items(), key=lambda kv: kv[1]["first_start_s"]):
        print(f"  {api:<24} {a['calls']:>6,} calls  {a['first_start_s']:6.2f} s .. "
              f"{a['last_end_s']:6.2f} s")  # fmt: skip
    if stale:
        print("  apply --plan before its first write: " + ", ".join(
            f"{k} {v}" for k, v in stale.items() if not isinstance(v, dict)))  # fmt: skip
    for api, a in sorted(stale.get("apply_by_api", {}).items(), key=lambda kv: -kv[1]["calls"]):
        print(f"  apply {api:<24} {a['calls']:>6,} calls  {a['first_start_s']:6.2f} s .. "
              f"{a['last_end_s']:6.2f} s")  # fmt: skip
    print(json.dumps(summary))
    return 0


def _stale_phases(plan_file: Path, spans: dict, emulator_pid: int, apply: bool) -> dict:
    """Seconds of each step apply --plan takes before its first write, as the command runs
    them (reconciler/cli/apply.py), and the calls of the stale check by API."""
    from benchmarks.scale_sweep import process_cpu_s
    from reconciler import engine
    from reconciler.render import render_text

    t0 = time.monotonic()
    saved = engine.read_plan(plan_file)
    t1 = time.monotonic()
    text = render_text(engine.saved_view(saved), None, False)
    t2 = time.monotonic()
    out: dict = {"read_plan_s": round(t1 - t0, 2), "render_s": round(t2 - t1, 2),
                 "text_bytes": len(text)}  # fmt: skip

    async def run() -> None:
        async with engine.Session(saved.app, saved.base_dir) as session:
            out["lock_s"] = round(time.monotonic() - t2, 2)
            for n in (1, 2):
                spans.clear()
                emulator0, cpu0, started = (
                    process_cpu_s(emulator_pid),
                    time.process_time(),
                    time.monotonic(),
                )
                await session.check_fresh(saved)
                out[f"check_{n}_s"] = round(time.monotonic() - started, 2)
                out[f"check_{n}_client_cpu_s"] = round(time.process_time() - cpu0, 2)
                out[f"check_{n}_emulator_cpu_s"] = round(process_cpu_s(emulator_pid) - emulator0, 2)
            out["check_by_api"] = {
                api: {"calls": len(v), "last_end_s": round(max(b for _, b in v) - started, 2)}
                for api, v in spans.items()
            }
            if apply:
                spans.clear()
                started = time.monotonic()
                result = await session.apply(saved.operations)
                out["apply_s"] = round(time.monotonic() - started, 2)
                out["apply_ok"] = result.ok
                out["apply_by_api"] = {
                    api: {
                        "calls": len(v),
                        "first_start_s": round(min(a for a, _ in v) - started, 2),
                        "last_end_s": round(max(b for _, b in v) - started, 2),
                    }
                    for api, v in spans.items()
                }

    asyncio.run(run())
    return out


if __name__ == "__main__":
    raise SystemExit(main())
