"""The walkthrough "Adopt an existing app" (docs/adopt.md), played command by command as a new user
would: an emulator server stands in for the live app, export, fmt --check, an empty plan, a
member joining by themselves, a change planned and applied."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import cli_env

from reconciler.emulator import EmulatorStore
from reconciler.emulator.testing import free_port

ROOT = Path(__file__).resolve().parent.parent


def walkthrough() -> str:
    """The shell block of the page "Adopt an existing app"."""
    text = (ROOT / "docs" / "adopt.md").read_text()
    found = re.search(r"```sh\n(.*?)```", text, re.S)
    assert found, "the walkthrough's ```sh block is missing"
    return found.group(1)


def test_the_adopt_walkthrough_works_as_written(tmp_path: Path) -> None:
    port = str(free_port())
    script = walkthrough().replace("8787", port).replace("examples/", f"{ROOT}/examples/")
    assert script.count("reconciler ") >= 8, script
    env = cli_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("TIM_SECRET_KEY", None)  # the walkthrough exports its own
    # -e: every command must succeed, so `plan --detailed-exitcode` proves "No changes"
    run = subprocess.run(
        ["bash", "-ec", f"{script}\nkill %1\nwait"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode in (0, 143), run.stdout + run.stderr  # 143: the server, stopped
    assert run.stdout.count("No changes.") == 2, run.stdout
    assert '~ name: "Dragon Realm players" -> "Dragon Realm"' in run.stdout, run.stdout
    store = EmulatorStore(tmp_path / "live.sqlite3", admin="administrator")
    try:
        live = store.dump()["groups"]
    finally:
        store.close()
    assert live["@TGS#_dragon-realm"]["Name"] == "Dragon Realm"
    joined = {m["Member_Account"] for m in live["guild-frost-voice"]["MemberList"]}
    assert "player.0005" in joined  # the additive config left them be
