"""Growth of plan and config load with size: ``python -m benchmarks.scale --sweep``.

For each size (100,000 / 300,000 / 1,000,000 / 3,000,000 / 10,000,000 memberships by default;
groups scaled with them, one per 100 memberships, so 1,000 to 100,000) the sweep generates the
same shape and drift as the full run, seeds an emulator server, and runs ``reconciler validate``
(config load alone) and ``reconciler plan -o`` as child processes. It skips apply and the naive
baseline: the growth targets are about planning and loading, and the apply side is measured by
the single-size runs. One line is printed per size as it finishes, then the targets (at the
largest size: plan CPU and peak RSS per membership at most those at 1,000,000, plan peak at most
4 GB, config load at most 40 s of CPU, plan wall within 1.25 times load plus observe floor), then
one JSON object: every size's figures and the ratios of the largest size's per-membership
figures to those at 1,000,000.

The 10,000,000 point needs about 12 GB of memory at once (the harness's generated app, the plan,
the emulator) and 15 minutes; ``--sweep-sizes`` picks the sizes.

Also here: the observe floor, computed from the generated shape and the documented limits (never
from the reconciler's own counts): the busiest read API's minimum calls at its rate limit, plus
the latency once per step of the longest chain of reads that must wait for each other (the
get_group_info batch, then the deepest group's cursor-paged member list, one ``Next`` after
another, then account_check for the accounts that turn out to be joining).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

SIZES = (100_000, 300_000, 1_000_000, 3_000_000, 10_000_000)
MEMBERS_PER_GROUP = 100
BASE = 1_000_000  # the linear-growth targets compare the largest size with this one
PLAN_PEAK_MAX_MB = 4096  # at the largest size
LOAD_CPU_MAX_S = 40.0  # config load of 10,000,000 memberships
PLAN_WALL_MAX = 1.25  # x (config load wall + observe floor)


def observe_chain(shape, reading, joining: int) -> int:
    """Dependent read steps of the longest chain (see the module docstring); ``joining``: the
    accounts that join a group (Minimum.joining), checked after the member lists are read."""
    from benchmarks.scale_shape import (
        BY_NAME_BATCH,
        MEMBER_PAGE,
        ONLINE_LIST_CAP,
        ONLINE_PAGE,
        _ceil,
        _pages,
    )

    deepest = 0
    for g in shape.groups:
        if g.state == "absent" or not g.exists:
            continue
        if g.want is not None and g.live is not None:
            # Community lists come one ``Next`` cursor after another; other types are paged by
            # offset (all pages at once) when get_group_info leaves them out. An additive
            # group read by name (when that takes no more calls) is read side by side.
            pages = _pages(len(g.live), MEMBER_PAGE)
            named = _ceil(len(g.want) + (g.owner not in g.want), BY_NAME_BATCH)
            if g.mode == "additive" and named <= pages:
                pages = 1
            if g.api_type == "Community":
                deepest = max(deepest, pages)
            elif len(g.live) > reading.info_list_max:
                deepest = max(deepest, 1)
        if g.api_type == "AVChatRoom" and g.want_marks is not None:
            deepest = max(deepest, _pages(min(len(g.online), ONLINE_LIST_CAP), ONLINE_PAGE))
    return 1 + deepest + (1 if joining else 0)


def observe_floor_s(
    observe_min: dict[str, int], chain: int, rate: float, latency_s: float
) -> float:
    """The least time observing can take: the busiest read API at its rate, plus the chain."""
    from benchmarks.scale_shape import busiest_s

    return busiest_s(observe_min, rate) + chain * latency_s


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_size(args: argparse.Namespace, launcher, workdir: Path, members: int) -> dict:
    """Seed, validate and plan one size; the figures of that size."""
    from benchmarks.scale import ADMIN, KEY, Server, _child_failed, _diff, _reconciler
    from benchmarks.scale_shape import READINGS, generate, minimum, seed_items, write_config
    from reconciler.emulator import EmulatorStore
    from reconciler.emulator.testing import free_port

    groups = max(1, members // MEMBERS_PER_GROUP)
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TIM_SECRET_KEY=KEY, NO_COLOR="1")
    env["PYTHONPATH"] = (
        str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    )
    now = int(time.time())
    t0 = time.monotonic()
    shape = generate(groups, members, args.drift, args.seed, now, not args.force)
    generate_s = time.monotonic() - t0

    t0 = time.monotonic()
    db = workdir / "live.sqlite3"
    store = EmulatorStore(db, admin=ADMIN)
    store.seed(groups=seed_items(shape), accounts=shape.accounts, now=now)
    store.close()
    seed_s = time.monotonic() - t0

    port = free_port()
    reading = READINGS[args.profile]
    batch = {} if args.profile == "default" else {"import_group_member": reading.import_batch}
    cfg = workdir / "config"
    files = write_config(shape, cfg, f"http://127.0.0.1:{port}", args.rate_limit, batch)
    config_bytes = sum(f.stat().st_size for f in files)
    mins = minimum(shape, reading)
    chain = observe_chain(shape, reading, mins.joining)
    memberships = shape.memberships()
    del shape

    latency_s = args.latency_ms / 1000
    floor_s = observe_floor_s(mins.observe, chain, args.rate_limit, latency_s)
    log = workdir / "server.log"
    server = Server(port, db, args.latency_ms, args.rate_limit, env, log, args.profile)
    try:
        rec = _reconciler()
        validate = launcher.run([*rec, "validate", str(cfg)], env, workdir, workdir / "validate")
        if validate["rc"] != 0:
            raise _child_failed("reconciler validate", validate)
        s0 = server.stats()
        server_cpu0 = process_cpu_s(server.proc.pid)
        force = ["--force"] if args.force else []
        plan_file = workdir / "plan.json"
        argv = [*rec, "plan", str(cfg), "-o", str(plan_file), *force]
        plan = launcher.run(argv, env, workdir, workdir / "plan")
        if plan["rc"] != 0:
            raise _child_failed("reconciler plan", plan)
        server_cpu = process_cpu_s(server.proc.pid) - server_cpu0
        s1 = server.stats()
    finally:
        server.stop()
    observe = _diff(s1, s0, "requests")
    limited = sum(_diff(s1, s0, "rate_limited").values())
    load_wall = validate["wall_s"]
    return {
        "nominal": members,
        "memberships": memberships,
        "groups": groups,
        "config_bytes": config_bytes,
        "config_load_cpu_s": round(validate["cpu_s"], 2),
        "config_load_wall_s": round(load_wall, 2),
        "config_load_peak_rss_mb": round(validate["peak_rss_mb"], 1),
        "config_load_cpu_us_per_membership": round(validate["cpu_s"] / memberships * 1e6, 2),
        "plan_cpu_s": round(plan["cpu_s"], 2),
        "plan_cpu_beyond_load_s": round(plan["cpu_s"] - validate["cpu_s"], 2),
        "plan_cpu_us_per_membership": round(plan["cpu_s"] / memberships * 1e6, 2),
        "plan_peak_rss_mb": round(plan["peak_rss_mb"], 1),
        "plan_peak_rss_bytes_per_membership": round(plan["peak_rss_mb"] * 2**20 / memberships),
        "plan_wall_s": round(plan["wall_s"], 2),
        "observe_floor_s": round(floor_s, 2),
        "observe_chain": chain,
        "plan_wall_vs_load_plus_floor": round(plan["wall_s"] / (load_wall + floor_s), 3),
        "emulator_cpu_during_plan_s": round(server_cpu, 2),
        "observe_calls": sum(observe.values()),
        "observe_calls_min": sum(mins.observe.values()),
        "rate_limit_errors": limited,
        "generate_s": round(generate_s, 1),
        "seed_s": round(seed_s, 1),
    }


def _line(r: dict) -> str:
    return (
        f"{r['memberships']:>9,} memberships {r['groups']:>6,} groups: "
        f"load {r['config_load_cpu_s']:6.2f} s cpu {r['config_load_peak_rss_mb']:6.0f} MB | "
        f"plan {r['plan_cpu_s']:6.2f} s cpu ({r['plan_cpu_us_per_membership']:5.2f} us/m), "
        f"{r['plan_peak_rss_mb']:6.0f} MB ({r['plan_peak_rss_bytes_per_membership']} B/m), "
        f"wall {r['plan_wall_s']:6.2f} s vs load {r['config_load_wall_s']:.2f} + observe floor "
        f"{r['observe_floor_s']:.2f} s = {r['plan_wall_vs_load_plus_floor']:.2f}x | "
        f"observe {r['observe_calls']:,} calls (min {r['observe_calls_min']:,}), emulator "
        f"{r['emulator_cpu_during_plan_s']:.1f} s cpu | "
        f"seed {r['seed_s']:.0f} s"
    )


def sweep(args: argparse.Namespace, launcher, workdir: Path) -> int:
    from benchmarks.scale import emit

    sizes = [int(s) for s in args.sweep_sizes.split(",")] if args.sweep_sizes else list(SIZES)
    print(
        f"Scale sweep (seed {args.seed}, drift {args.drift:g}, latency {args.latency_ms:g} ms, "
        f"{args.rate_limit:g} calls/s per API, profile {args.profile}); plan and config load "
        "only",
        flush=True,
    )
    results = []
    for members in sizes:
        where = workdir / f"m{members}"
        try:
            results.append(run_size(args, launcher, where, members))
        finally:
            shutil.rmtree(where, ignore_errors=True)  # a 3M-membership state is ~1 GB on disk
        print(_line(results[-1]), flush=True)
    summary: dict = {
        "benchmark": "scale-sweep",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "drift": args.drift,
        "latency_ms": args.latency_ms,
        "rate_limit": args.rate_limit,
        "seed": args.seed,
        "profile": args.profile,
        "sizes": results,
    }
    base = next((r for r in results if r["nominal"] == BASE), None)
    top = max(results, key=lambda r: r["nominal"])
    targets: list[tuple[str, bool, str]] = []
    if base is not None and top is not base:
        for key in (
            "plan_cpu_us_per_membership",
            "plan_peak_rss_bytes_per_membership",
            "config_load_cpu_us_per_membership",
        ):
            summary[f"ratio_{key}"] = round(top[key] / base[key], 3)
        summary["ratio_of"] = f"{top['memberships']:,} vs {base['memberships']:,} memberships"
        for key, what in (
            ("plan_cpu_us_per_membership", "plan CPU per membership"),
            ("plan_peak_rss_bytes_per_membership", "plan peak RSS per membership"),
        ):
            ratio = summary[f"ratio_{key}"]
            targets.append((f"{what} <= at {BASE:,}", ratio <= 1, f"{ratio:.2f}x"))
    size = f"at {top['memberships']:,}"
    targets.append((f"plan peak RSS <= {PLAN_PEAK_MAX_MB:,} MB {size}",
                    top["plan_peak_rss_mb"] <= PLAN_PEAK_MAX_MB,
                    f"{top['plan_peak_rss_mb']:,.0f} MB"))  # fmt: skip
    if top["nominal"] >= 10_000_000:
        targets.append((f"config load <= {LOAD_CPU_MAX_S:g} s CPU {size}",
                        top["config_load_cpu_s"] <= LOAD_CPU_MAX_S,
                        f"{top['config_load_cpu_s']:.1f} s"))  # fmt: skip
    targets.append((f"plan wall <= {PLAN_WALL_MAX} x (load + observe floor) {size}",
                     top["plan_wall_vs_load_plus_floor"] <= PLAN_WALL_MAX,
                     f"{top['plan_wall_vs_load_plus_floor']:.2f}x"))  # fmt: skip
    summary["targets"] = {name: ok for name, ok, _ in targets}
    for name, ok, figure in targets:
        print(f"  target {name}: {'met' if ok else 'MISSED'} ({figure})")
    emit(summary, args.json)
    return 0
