"""`apply --plan` does only what a saved plan needs before its first write: no config loader,
YAML parsers, templates or httpx (a real endpoint's calls go through aiohttp) are imported, and
a bad plan file is still refused clearly."""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Server, Workspace, cli_env, dump_yaml, run_cli

from reconciler import engine

# What only config-reading commands, or the embedded emulator, use; `apply --plan` against a
# real endpoint reads a plan file, not a config.
NOT_NEEDED = {
    "jinja2",
    "yaml_rs",
    "ruamel.yaml",
    "deepdiff",
    "reconciler.config.loader",
    "reconciler.config.templating",
    "reconciler.emulator",
    "reconciler.fmt",
    "reconciler.export",
    "httpx",
}


def _imported(importtime_log: str) -> set[str]:
    """The modules a ``python -X importtime`` run imported (its stderr)."""
    found = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$", importtime_log, re.M)
    return set(found)


def test_apply_plan_runs_without_the_config_stack_or_httpx(server: Server, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    group = {"id": "club", "type": "Public", "name": "Club", "owner": "boss"}
    doc = {"app": server.app(), "groups": [{**group, "members": ["boss", "ann", "bob"]}]}
    (cfg / "groups.yaml").write_text(dump_yaml(doc))
    env = cli_env(TIM_SECRET_KEY=server.key)
    assert run_cli("plan", cfg, "-o", tmp_path / "plan.json", env=env).code == 0

    apply = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reconciler", "apply", "--plan", "plan.json"]
        + ["--auto-approve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert apply.returncode == 0, apply.stdout + apply.stderr[-2000:]
    assert "Apply complete" in apply.stdout
    members = {m["Member_Account"] for m in server.dump()["groups"]["club"]["MemberList"]}
    assert members == {"boss", "ann", "bob"}
    imported = _imported(apply.stderr)
    assert "reconciler.planfile" in imported  # the log is read right
    assert sorted(imported & NOT_NEEDED) == []


def _corrupt(path: Path, how: str) -> None:
    text = path.read_text()
    if how == "truncated":
        path.write_text(text[: len(text) // 2])
    elif how == "old format":
        doc = json.loads(text)
        path.write_text(json.dumps({**doc, "format_version": 4}))
    elif how == "operation edited":
        doc = json.loads(text)
        doc["operations"][0]["request"] = {"no_such_field": 1}
        path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("how", "needle"),
    [
        ("truncated", "changed after plan made it"),
        ("old format", "format_version 4 is not"),
        ("operation edited", "MAC line is missing or was changed"),
    ],
)
def test_a_bad_plan_file_is_refused_naming_it_and_nothing_is_applied(
    ws: Workspace, how: str, needle: str
) -> None:
    ws.write([{"id": "club", "type": "Public", "name": "C", "owner": "boss", "members": ["a"]}])
    assert ws.plan("-o", "plan.json").code == 0
    _corrupt(ws.dir / "plan.json", how)
    before = ws.dump()
    run = ws.cli("apply", "--plan", "plan.json", "--auto-approve")
    assert run.code == 1, run
    assert "plan.json" in run.err and needle in run.err, run
    assert "Traceback" not in run.err
    assert ws.dump() == before


@pytest.mark.parametrize("enabled", [True, False])
def test_reading_a_plan_leaves_the_collector_as_it_was(ws: Workspace, enabled: bool) -> None:
    ws.write([{"id": "club", "type": "Public", "name": "C", "owner": "boss", "members": ["a"]}])
    assert ws.plan("-o", "plan.json").code == 0
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        saved = engine.read_plan(ws.dir / "plan.json")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert "club" in {op.group for op in saved.operations}
