"""Config loading at scale: a Jinja2 template of G groups and M memberships, rendered and loaded.

    python -m benchmarks.config                               # quick: 1,000 groups, 100,000 members
    python -m benchmarks.config --groups 10000 --members 1000000

Every measurement runs in a fresh child process (so peak RSS is that of the load alone, read with
resource.getrusage): a clean load (phases: read, render, parse, validate, finish), and a load of
the same template with three injected errors (time until every error has its line:col). The last
line printed is one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = """\
# yaml-language-server: $schema=../../schemas/reconciler.schema.json
groups:
{%- for g in range(groups) %}
{%- set type = types[g % types|length] %}
  - id: "{{ '@TGS#_' if type == 'Community' else '' }}grp-{{ '%06d' % g }}"
    type: {{ type }}
    name: Group {{ g }}
    owner: t{{ '%07d' % g }}
    introduction: Generated group {{ g }} for the load benchmark
    custom: {Level: '{{ g % 9 }}'}
    members:
{%- for m in range(per_group + (1 if g < extra else 0)) %}
{%- set account = 'u%07d' % ((g * 37 + m * 1009) % 2000000) %}
{%- if m % admin_every == 0 %}
      - account: {{ account }}
        role: {{ 'Admn' if inject_errors and g == groups // 2 and m == 0 else 'Admin' }}
        name_card: Card {{ m }}
{%- else %}
      - {{ account }}
{%- endif %}
{%- endfor %}
{%- if inject_errors and g == groups - 1 %}
      - u0000001
      - u0000001
    max_members: 1
{%- endif %}
{%- endfor %}
"""

APP = """\
app:
  sdkappid: 1400000000
  admin: administrator
  endpoint: local
policy:
  max_removal_fraction: 0.25
"""


def write_config(root: Path, groups: int, members: int, inject_errors: bool) -> Path:
    """A config directory (app.yaml + groups.yaml.j2) and a values file outside it."""
    config = root / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "app.yaml").write_text(APP)
    (config / "groups.yaml.j2").write_text(TEMPLATE)
    values = {
        "groups": groups,
        "per_group": members // groups if groups else 0,
        "extra": members % groups if groups else 0,
        "admin_every": 10,
        "types": ["Public", "Work", "Meeting", "Community"],
        "inject_errors": inject_errors,
    }
    (root / "values.yaml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    return config


def _vm_hwm_kb(fallback: int) -> int:
    """Peak RSS of this process image in KiB. Linux's ru_maxrss survives fork+exec (a child
    inherits its parent's peak), so prefer VmHWM from /proc, which starts afresh at exec."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return fallback


def child(config: str, values: str) -> dict:
    """Runs in the child process: load once, report timings, counts and peak RSS."""
    from reconciler.config import ConfigError
    from reconciler.config.loader import _Loader

    base = _vm_hwm_kb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    started = time.perf_counter()
    loader = _Loader(Path(config), {}, [Path(values)])
    out: dict = {}
    try:
        result = loader.load()
        out["groups"] = len(result.groups)
        out["memberships"] = sum(g.member_count() for g in result.groups)
        out["issues"] = []
    except ConfigError as err:
        out["issues"] = [str(i) for i in err.issues]
    out["total_s"] = time.perf_counter() - started
    out["phases_s"] = loader.timings
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["peak_rss_mb"] = _vm_hwm_kb(usage.ru_maxrss) / 1024
    out["baseline_rss_mb"] = base / 1024
    out["cpu_user_s"], out["cpu_sys_s"] = usage.ru_utime, usage.ru_stime
    return out


def run_child(config: Path, values: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = (
        str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    )
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.config", "--child", str(config), str(values)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rendered_size(config: Path, values: Path) -> int:
    from reconciler.config import render_sources

    return sum(len(t.encode()) for t in render_sources(config, None, [values]).values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.config", description=__doc__)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--members", type=int, default=100_000, help="total memberships")
    parser.add_argument("--runs", type=int, default=1, help="clean loads (the best is kept)")
    parser.add_argument("--child", nargs=2, metavar=("CONFIG", "VALUES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-config-") as tmp:
        clean_cfg = write_config(Path(tmp) / "clean", args.groups, args.members, False)
        bad_cfg = write_config(Path(tmp) / "errors", args.groups, args.members, True)
        clean_values = clean_cfg.parent / "values.yaml"
        size = rendered_size(clean_cfg, clean_values)
        runs = [run_child(clean_cfg, clean_values) for _ in range(max(1, args.runs))]
        clean = min(runs, key=lambda r: r["total_s"])
        bad = run_child(bad_cfg, bad_cfg.parent / "values.yaml")

    if clean["issues"]:
        raise SystemExit("the clean config did not load:\n" + "\n".join(clean["issues"][:10]))
    phases = clean["phases_s"]
    rows = [
        ("groups", f"{clean['groups']:,}"),
        ("memberships", f"{clean['memberships']:,}"),
        ("rendered YAML", f"{size / 1e6:.1f} MB"),
        ("read", f"{phases['read']:.2f} s"),
        ("render (Jinja2 sandbox)", f"{phases['render']:.2f} s"),
        ("parse (yaml_rs)", f"{phases['parse']:.2f} s"),
        ("validate + normalize", f"{phases['validate']:.2f} s"),
        ("finish (app, locations, digest)", f"{phases['finish']:.2f} s"),
        ("load_config total", f"{clean['total_s']:.2f} s"),
        ("  cpu user / sys", f"{clean['cpu_user_s']:.2f} s / {clean['cpu_sys_s']:.2f} s"),
        ("peak RSS (process)", f"{clean['peak_rss_mb']:.0f} MB"),
        ("  of which before loading", f"{clean['baseline_rss_mb']:.0f} MB"),
        ("with 3 injected errors: total", f"{bad['total_s']:.2f} s"),
        ("  issues reported", f"{len(bad['issues'])}"),
        ("  peak RSS", f"{bad['peak_rss_mb']:.0f} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"Config load benchmark ({args.groups:,} groups, {args.members:,} memberships)")
    for key, value in rows:
        print(f"  {key:<{width}}  {value:>14}")
    for issue in bad["issues"]:
        print(f"  error: {issue[:150]}")
    summary = {
        "groups": clean["groups"],
        "memberships": clean["memberships"],
        "rendered_bytes": size,
        "read_s": round(phases["read"], 3),
        "render_s": round(phases["render"], 3),
        "parse_s": round(phases["parse"], 3),
        "validate_s": round(phases["validate"], 3),
        "finish_s": round(phases["finish"], 3),
        "load_total_s": round(clean["total_s"], 3),
        "peak_rss_mb": round(clean["peak_rss_mb"], 1),
        "baseline_rss_mb": round(clean["baseline_rss_mb"], 1),
        "errors_total_s": round(bad["total_s"], 3),
        "errors_reported": len(bad["issues"]),
        "errors_peak_rss_mb": round(bad["peak_rss_mb"], 1),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
