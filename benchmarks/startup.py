"""What `apply --plan` spends before its first call: process start, imports, reading the plan.

    python -m benchmarks.plan_timeline --members 1000000 --keep /tmp/big  # /tmp/big/plan.json
    python -m benchmarks.startup /tmp/big/plan.json --runs 9

Runs, each ``--runs`` times in a fresh process: ``reconciler --version`` (imports and exit), and
``reconciler apply --plan PLAN --auto-approve --allow-destroy`` until its first TCP connection
(the app lock's create_group, the call before the stale check), with the plan's endpoint pointed
at a local socket that only accepts; the process is then killed, so nothing is applied anywhere.
Prints the medians; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.scale import compile_bytecode
from reconciler import planfile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__)
    parser.add_argument("plan", type=Path, help="a plan file saved by plan --out")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)

    compile_bytecode()
    command = [sys.executable, "-m", "reconciler"]
    env = dict(os.environ, TIM_SECRET_KEY="startup-benchmark", NO_COLOR="1")
    versions: list[float] = []
    first_calls: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp, socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(120)
        # Pointed at the socket and signed again with this run's key (its MAC covers both).
        doc = planfile.unverified_document(args.plan.read_bytes())
        doc["app"]["endpoint"] = doc["endpoint"] = f"http://127.0.0.1:{listener.getsockname()[1]}"
        plan = Path(tmp) / "plan.json"
        planfile.write(plan, doc, env["TIM_SECRET_KEY"])
        del doc
        for _ in range(args.runs):
            started = time.monotonic()
            subprocess.run([*command, "--version"], env=env, capture_output=True, check=True)
            versions.append(time.monotonic() - started)
            with open(Path(tmp) / "out", "w") as out:
                started = time.monotonic()
                proc = subprocess.Popen(
                    [*command, "apply", "--plan", str(plan), "--auto-approve", "--allow-destroy"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
                try:
                    conn, _ = listener.accept()
                    first_calls.append(time.monotonic() - started)
                    conn.close()
                finally:
                    proc.kill()
                    proc.wait()

    summary = {
        "benchmark": "startup",
        "plan_bytes": args.plan.stat().st_size,
        "runs": args.runs,
        "version_s": round(statistics.median(versions), 3),
        "apply_plan_first_call_s": round(statistics.median(first_calls), 3),
    }
    print(f"reconciler --version: median {summary['version_s']:.3f} s")
    print(f"apply --plan to its first call: median {summary['apply_plan_first_call_s']:.3f} s")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
