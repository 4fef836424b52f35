"""One config revision across writers: a CI apply of a newer revision is not reverted by a watch
running an older one; the watch holds its writes until it runs that revision; an apply of an
older revision is refused unless forced."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx
from conftest import ADMIN, LOCAL_KEY, SDKAPPID, Workspace, client_for, run_cli, wait_until
from test_watch import GROUPS, start_watch, stop

from reconciler import engine, revision
from reconciler.config import load_config
from reconciler.emulator.testing import RestCaller
from reconciler.lock import break_lock, current_lease
from reconciler.tim.callbacks import INFO_CHANGED, GroupEvent
from reconciler.watch.controller import Controller
from reconciler.watch.metrics import Metrics

T0 = 1_800_000_000  # commit times, apart enough to order


def git(cwd: Path, *args: str, when: int = T0) -> str:
    env = {"GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        env={**env, "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def checkout(cfg: Path) -> None:
    git(cfg, "init", "-q", "-b", "main")
    git(cfg, "add", "-A")
    git(cfg, "commit", "-q", "-m", "the config")


def test_a_newer_ci_apply_is_not_reverted_and_the_watch_resumes_on_that_revision(tmp_path):
    w = start_watch(tmp_path, GROUPS[:1], prepare=checkout)
    try:
        old = git(w.cfg, "rev-parse", "HEAD")
        assert wait_until(lambda: w.health()["recorded_revision"], 10), w.text()
        assert w.health()["recorded_revision"].startswith(old[:12])  # the watch recorded it
        # CI applies its checkout: one commit later, carol removed from club.
        ci = tmp_path / "ci"
        git(tmp_path, "clone", "-q", str(w.cfg), str(ci))
        path = ci / "groups.yaml"
        path.write_text(path.read_text().replace("- carol\n", ""))
        git(ci, "commit", "-q", "-am", "carol leaves", when=T0 + 100)
        new = git(ci, "rev-parse", "HEAD")
        run = run_cli("apply", ci, "--auto-approve", env=w.server.env())
        assert run.code == 0, run
        assert "carol" not in w.members("club")
        # The removal's callback reaches the watch, which runs the old revision: no revert.
        assert wait_until(lambda: w.health()["superseded"], 10), w.text()
        time.sleep(2)
        assert "carol" not in w.members("club"), w.text()
        assert w.metric("reconciler_watch_superseded") == 1
        assert f"revision {new[:12]}" in w.text() and "not writing" in w.text()
        assert w.get("/status").json()["recorded_revision"].startswith(new[:12])
        # An apply of the older revision is refused; nothing changes.
        older = run_cli("apply", w.cfg, "--auto-approve", env=w.server.env())
        assert older.code == 3 and "older than revision" in older.err, older
        assert "carol" not in w.members("club")
        # The watch's checkout reaches that revision: it writes again.
        git(w.cfg, "pull", "-q", "--ff-only", str(ci), "main")
        assert wait_until(lambda: not w.health()["superseded"], 10), w.text()
        assert w.metric("reconciler_watch_superseded") == 0
        w.rest("group_open_http_svc/modify_group_base_info", {"GroupId": "club", "Name": "X"})
        assert wait_until(lambda: w.server.dump()["groups"]["club"]["Name"] == "Club", 5)
        assert "carol" not in w.members("club")
        # --force applies an older revision anyway, and records it.
        git(w.cfg, "checkout", "-q", old)
        forced = run_cli("apply", w.cfg, "--auto-approve", "--force", env=w.server.env())
        assert forced.code == 0, forced
        assert "carol" in w.members("club")
    finally:
        stop(w)


async def test_the_record_is_read_once_per_taking_of_the_lock(ws: Workspace, monkeypatch) -> None:
    """Only a holder of the app lock writes the revision record, so a watch that holds the
    lock reads the record when it takes it, not before each batch; once the lock is lost and
    taken again, it reads it again."""
    ws.seed([{"GroupId": "club", "Type": "Public", "Name": "Club", "Owner_Account": "o"}], ["o"])
    ws.write([{"id": "club", "type": "Public", "name": "Club", "owner": "o", "members": ["o"]}])
    config = load_config(ws.dir)
    emulator = engine.embedded_emulator(config.app, config.base_dir)
    reads: list[str] = []
    recorded = revision.recorded

    async def counted(client):
        found = await recorded(client)
        reads.append(found.id if found else "")
        return found

    monkeypatch.setattr(revision, "recorded", counted)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url="http://e")
    console = RestCaller(http, SDKAPPID, LOCAL_KEY, ADMIN)
    bound = time.monotonic() + 60  # a hang guard, far beyond what any step takes

    async def until(predicate) -> None:
        while not predicate():
            assert time.monotonic() < bound, "gave up"
            await asyncio.sleep(0.02)

    async def edited_and_reverted(name: str) -> None:  # in the console, then its callback
        body = {"GroupId": "club", "Name": name}
        assert (await console("group_open_http_svc/modify_group_base_info", body))["ErrorCode"] == 0
        controller.on_event(GroupEvent(INFO_CHANGED, "info", "club"))
        await until(lambda: ws.live("club")["Name"] == "Club")

    async with (
        engine.Session(config.app, config.base_dir, lock=False, emulator=emulator) as s,
        client_for(emulator) as other,
    ):
        metrics = Metrics(stats=lambda: s.client.stats, depth=lambda: 0)
        controller = Controller(config, s, metrics, resync_s=3600, coalesce_s=0.05)
        worker = asyncio.create_task(controller.run())
        try:
            await until(lambda: controller.last_resync is not None)
            for n in range(3):  # three batches under one taking of the lock
                await edited_and_reverted(f"Edited {n}")
            assert reads == [""]  # none recorded yet when it was read; this watch records it
            lease = await current_lease(other)
            await break_lock(other, lock_id=lease.token, force=True)
            await until(lambda: len(reads) == 2)  # lost, taken again: read again
            assert reads[1] == controller.revision.id
            await edited_and_reverted("Edited again")
            assert len(reads) == 2
        finally:
            controller.stop()
            await worker
            await http.aclose()
