"""Export benchmark: ``reconciler export --all`` of a live app, against its floor.

    python -m benchmarks.export                                 # small default, seconds
    python -m benchmarks.export --groups 10000 --members 1000000  # full scale

1. Generates the app of benchmarks.scale (scale_shape.generate, no drift: the app as it is),
   seeds it into a SQLite file and serves it with ``reconciler emulator serve --latency-ms
   --rate-limit`` (benchmarks.scale.Server).
2. Runs, each a child process through benchmarks.scale.Launcher (CPU and peak RSS from wait4):
   ``reconciler export CFG --all --output DIR`` with a config of only an ``app:`` section, then
   ``reconciler plan DIR --detailed-exitcode`` on the export (empty: exit 0), the plan's peak RSS
   being what export's is held to.
3. Counts calls per API from GET /emulator/stats, and computes the minimum independently from
   the generated shape and the documented limits (``minimum`` below), and the floor: the
   get_appid_group_list pages (1 call/s, one after another), then the busiest other API at the
   rate limit, plus the latency once per dependent step (get_group_info, then the deepest
   Community's member pages, one ``Next`` after another).

The last line printed is one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

# get_appid_group_list: up to 10,000 IDs a page, one page a second (reference §2).
LIST_PAGE = 10_000
LIST_RATE = 1.0
# An AVChatRoom's get_group_info answer lists no members: its admins, mutes and bans take one
# call each (get_admin_list, get_group_muted_account, get_group_ban_member; no batch form).
ROOM_READS = ("get_admin_list", "get_group_muted_account", "get_group_ban_member")


def minimum(shape, reading) -> tuple[Counter, int]:
    """Fewest calls that read every live group whole, and the deepest chain of member pages.

    get_appid_group_list 10,000 IDs a page; get_group_info 50 groups a call, member lists
    included for Work, Public and Meeting groups up to ``reading.info_list_max`` members;
    beyond that, and for every Community, get_group_member_info 200 a page (a Community's pages
    follow one ``Next`` cursor; the others are read by offset, side by side); ROOM_READS for
    each AVChatRoom."""
    from benchmarks.scale_shape import GROUP_INFO_BATCH, MEMBER_PAGE, _ceil, _pages

    live = shape.live_groups
    calls: Counter = Counter()
    calls["get_appid_group_list"] = _pages(len(live), LIST_PAGE)
    calls["get_group_info"] = _ceil(len(live), GROUP_INFO_BATCH)
    deepest = 0
    for g in live:
        if g.api_type == "AVChatRoom":
            calls.update(ROOM_READS)
        elif g.api_type == "Community" or len(g.live or ()) > reading.info_list_max:
            pages = _pages(len(g.live or ()), MEMBER_PAGE)
            calls["get_group_member_info"] += pages
            deepest = max(deepest, pages if g.api_type == "Community" else 1)
    return calls, deepest


def floor_s(calls: Counter, deepest: int, rate: float, latency_s: float) -> float:
    """The least time the reads can take (see the module docstring)."""
    from benchmarks.scale_sweep import observe_floor_s

    pages = calls["get_appid_group_list"]
    listing = (pages - 1) / LIST_RATE + pages * latency_s
    rest = {api: n for api, n in calls.items() if api != "get_appid_group_list"}
    return listing + observe_floor_s(rest, 1 + deepest, rate, latency_s)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.scale import Launcher

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--groups", type=int, default=100, help="live groups")
    parser.add_argument("--members", type=int, default=10_000, help="live memberships")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="emulator latency")
    parser.add_argument("--rate-limit", type=float, default=200.0, help="calls/s per API")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--layout", choices=("per-type", "per-group"), default="per-type", help="export's"
    )
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    args = parser.parse_args(argv)

    launcher = Launcher()  # first: children must not inherit the harness's memory peak
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-export-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, launcher, workdir)
    finally:
        launcher.close()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, launcher, workdir: Path) -> int:
    from benchmarks.scale import ADMIN, KEY, SDKAPPID, Server, _child_failed, _diff, _reconciler
    from benchmarks.scale_shape import READINGS, generate, seed_items
    from reconciler.emulator import EmulatorStore
    from reconciler.emulator.testing import free_port

    env = dict(os.environ, TIM_SECRET_KEY=KEY, NO_COLOR="1")
    now = int(time.time())
    t0 = time.monotonic()
    shape = generate(args.groups, args.members, 0.0, args.seed, now, True)
    db = workdir / "live.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = EmulatorStore(db, admin=ADMIN)
    store.seed(groups=seed_items(shape), accounts=shape.accounts, now=now)
    store.close()
    seed_s = time.monotonic() - t0
    mins, deepest = minimum(shape, READINGS["default"])
    live_groups, memberships = len(shape.live_groups), shape.memberships()
    del shape

    port = free_port()
    cfg, out = workdir / "config", workdir / "exported"
    shutil.rmtree(out, ignore_errors=True)
    cfg.mkdir(exist_ok=True)
    (cfg / "app.yaml").write_text(
        f"app:\n  sdkappid: {SDKAPPID}\n  admin: {ADMIN}\n"
        f"  endpoint: http://127.0.0.1:{port}\n  rate_limit: {args.rate_limit:g}\n"
    )
    latency_s = args.latency_ms / 1000
    floor = floor_s(mins, deepest, args.rate_limit, latency_s)
    server = Server(port, db, args.latency_ms, args.rate_limit, env, workdir / "server.log")
    try:
        rec = _reconciler()
        s0 = server.stats()
        argv = [*rec, "export", str(cfg), "--all", "--output", str(out), "--layout", args.layout]
        export = launcher.run(argv, env, workdir, workdir / "export")
        if export["rc"] != 0:
            raise _child_failed("reconciler export", export)
        s1 = server.stats()
        argv = [*rec, "plan", str(out), "--detailed-exitcode"]
        plan = launcher.run(argv, env, workdir, workdir / "plan")
        if plan["rc"] not in (0, 2):
            raise _child_failed("reconciler plan", plan)
    finally:
        server.stop()
    calls = _diff(s1, s0, "requests")
    written = [p for p in out.rglob("*") if p.is_file()]  # per-group: in type directories
    summary = {
        "benchmark": "export",
        "groups": live_groups,
        "memberships": memberships,
        "latency_ms": args.latency_ms,
        "rate_limit": args.rate_limit,
        "seed": args.seed,
        "layout": args.layout,
        "export_calls": sum(calls.values()),
        "export_calls_min": sum(mins.values()),
        "export_by_api": dict(calls),
        "export_min_by_api": dict(mins),
        "rate_limit_errors": sum(_diff(s1, s0, "rate_limited").values()),
        "export_wall_s": round(export["wall_s"], 2),
        "export_floor_s": round(floor, 2),
        "export_wall_vs_floor": round(export["wall_s"] / floor, 3),
        "member_chain": deepest,
        "export_cpu_s": round(export["cpu_s"], 2),
        "export_peak_rss_mb": round(export["peak_rss_mb"], 1),
        "export_bytes": sum(p.stat().st_size for p in written),
        "export_files": len(written),
        "plan_wall_s": round(plan["wall_s"], 2),
        "plan_peak_rss_mb": round(plan["peak_rss_mb"], 1),
        "plan_empty": plan["rc"] == 0,
        "seed_s": round(seed_s, 1),
    }
    print_table(summary)
    print(json.dumps(summary))
    return 0


def print_table(s: dict) -> None:
    def calls(counts: dict) -> str:
        return ", ".join(f"{api} {n:,}" for api, n in sorted(counts.items()))

    ratio = s["export_wall_vs_floor"]
    rows = [
        ("live groups / memberships", f"{s['groups']:,} / {s['memberships']:,}"),
        ("emulator", f"latency {s['latency_ms']:g} ms, {s['rate_limit']:g} calls/s per API"),
        ("export calls", f"{s['export_calls']:,}  (min {s['export_calls_min']:,})"),
        ("  by API", calls(s["export_by_api"])),
        ("  minimum by API", calls(s["export_min_by_api"])),
        (
            "export wall / floor",
            f"{s['export_wall_s']:.2f} s / {s['export_floor_s']:.2f} s = "
            f"{ratio:.2f}x  (floor: listing, busiest API at the limit, "
            f"{1 + s['member_chain']} dependent steps x latency)",
        ),  # fmt: skip
        ("export: cpu / peak RSS", f"{s['export_cpu_s']:.2f} s / {s['export_peak_rss_mb']:.0f} MB"),
        ("written", f"{s['export_files']:,} file(s), {s['export_bytes'] / 1e6:.1f} MB"),
        (
            "plan on the export: wall / peak RSS",
            f"{s['plan_wall_s']:.2f} s / {s['plan_peak_rss_mb']:.0f} MB",
        ),  # fmt: skip
        ("", ""),
        ("target calls == min", _met(s["export_calls"] == s["export_calls_min"])),
        ("target wall <= 1.25 x floor", _met(ratio <= 1.25) + f" ({ratio:.2f}x)"),
        ("target peak RSS <= plan's", _met(s["export_peak_rss_mb"] <= s["plan_peak_rss_mb"])),
        ("target plan on the export empty", _met(s["plan_empty"])),
        ("target no rate-limit errors", _met(s["rate_limit_errors"] == 0)),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"Export benchmark (seed {s['seed']}, layout {s['layout']})")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}" if key else "")


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    raise SystemExit(main())
