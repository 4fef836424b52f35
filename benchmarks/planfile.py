"""What authenticating a plan file costs: a plan that creates every one of N memberships.

    python -m benchmarks.planfile --members 1000000

Builds, offline, the plan file of an app of N/100 new Public groups of 100 members each (every
membership is in the file: the largest plan N memberships make), then times, each the median of
``--runs``: writing it (``planfile.write``: JSON, MAC, atomic rename), reading it
(``planfile.read``: MAC, strict validation, typed requests), and the MAC alone as each of them
computes it (HMAC-SHA256 over the file's bytes), the figure the plan-integrity target is about.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import tempfile
import time
from pathlib import Path

from reconciler import planfile
from reconciler.config import AppConfig
from reconciler.plan import Operation, Plan, Scope
from reconciler.revision import Revision
from reconciler.state import Group, GroupType
from reconciler.tim.calls import CreateGroup, ImportMembers, Joiner

KEY = "benchmark-secret-key"


def _plan(members: int) -> tuple[Plan, list[Group]]:
    groups = [
        Group(id=f"g{i:06d}", type=GroupType.Public, name=f"G{i}", owner=f"u{i}_0")
        for i in range(max(1, members // 100))
    ]
    ops = []
    for g in groups:
        ops.append(Operation(g.id, "create", CreateGroup(g.id, GroupType.Public, g.name or "")))
        joiners = [Joiner(f"{g.id}-m{j:03d}") for j in range(100)]
        ops.append(Operation(g.id, "import_members", ImportMembers(g.id, joiners)))
    plan = Plan([], ops, fingerprints={g.id: "absent" for g in groups})
    plan.scopes = {g.id: Scope() for g in groups}
    return plan, groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.planfile", description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    plan, groups = _plan(args.members)
    doc = planfile.document(
        plan,
        app=AppConfig(sdkappid=1400000000).model_dump(),
        endpoint="local",
        inputs=planfile.record_inputs([], {}),
        desired=groups,
        selection=planfile.Selection(),
        forced=False,
        before={},
        revision=Revision("sha256:test", 0),
    )
    writes, reads, macs = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-planfile-") as tmp:
        path = Path(tmp) / "plan.json"
        for _ in range(args.runs):
            started = time.perf_counter()
            planfile.write(path, doc, KEY)
            writes.append(time.perf_counter() - started)
            started = time.perf_counter()
            saved = planfile.read(path, lambda app: KEY)
            reads.append(time.perf_counter() - started)
            assert len(saved.operations) == len(plan.operations)
            data = path.read_bytes()
            started = time.perf_counter()
            hmac.new(planfile.mac_key(KEY, 1400000000), data, hashlib.sha256).hexdigest()
            macs.append(time.perf_counter() - started)
        size = path.stat().st_size
    summary = {
        "benchmark": "planfile",
        "members": args.members,
        "plan_bytes": size,
        "runs": args.runs,
        "write_s": round(statistics.median(writes), 3),
        "read_s": round(statistics.median(reads), 3),
        "mac_s": round(statistics.median(macs), 3),
        "sign_and_verify_s": round(2 * statistics.median(macs), 3),
    }
    print(
        f"{args.members:,} memberships, {size / 1e6:.1f} MB: write {summary['write_s']:.3f} s, "
        f"read {summary['read_s']:.3f} s; the MAC {summary['mac_s']:.3f} s each way "
        f"({summary['sign_and_verify_s']:.3f} s signed and verified)"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
