"""One order of checks before any write (``engine.Session.approve``), for ``apply``,
``apply --plan`` and watch: the plan's errors, the removal guards, destroys, the stale check of a
saved plan, then the confirmation. The CLI refuses the whole plan at the first check that holds
anything; watch leaves out what a check holds and reconciles the rest, never forcing a guard and
never destroying."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from conftest import SDKAPPID, Workspace

from reconciler import engine
from reconciler.config import load_config
from reconciler.errors import PlanRefused, StalePlanError
from reconciler.watch.controller import Controller
from reconciler.watch.metrics import Metrics

KEEP = ["t1", "s00", "s01", "s02", "s03"]  # of big's 12 members: removes 7, over the 25% guard


def big_group() -> dict[str, Any]:
    members = [{"Member_Account": f"s{i:02d}"} for i in range(11)]
    return {
        "GroupId": "big",
        "Type": "Public",
        "Name": "Big",
        "Owner_Account": "t1",
        "MemberList": members,
    }


def group(gid: str, name: str, members: list[str] = ()) -> dict[str, Any]:
    return {
        "GroupId": gid,
        "Type": "Public",
        "Name": name,
        "Owner_Account": "t1",
        "MemberList": [{"Member_Account": m} for m in members],
    }


def watch_one_resync(ws: Workspace) -> Controller:
    """Watch in process until its first resync (which takes the app lock and writes) is done."""

    async def go() -> Controller:
        config = load_config(ws.dir)
        emulator = engine.embedded_emulator(config.app, config.base_dir)
        async with engine.Session(config.app, config.base_dir, lock=False, emulator=emulator) as s:
            metrics = Metrics(stats=lambda: s.client.stats, depth=lambda: 0)
            controller = Controller(config, s, metrics, resync_s=3600)
            worker = asyncio.create_task(controller.run())
            try:
                deadline = time.monotonic() + 20
                while controller.last_resync is None:
                    assert time.monotonic() < deadline, "no resync in 20 s"
                    await asyncio.sleep(0.02)
            finally:
                controller.stop()
                await worker
        return controller

    return asyncio.run(go())


def test_a_guard_refuses_the_same_change_in_apply_and_in_watch(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    ws.seed([big_group(), group("small", "Small")])
    ws.write(
        [
            {"id": "big", "type": "Public", "name": "Bigger", "members": KEEP},
            {"id": "small", "type": "Public", "name": "Smaller"},
        ]
    )
    reason = "group big: would remove 7 of 12 members"
    before = ws.dump()
    caplog.set_level(logging.INFO, logger="reconciler.watch")
    controller = watch_one_resync(ws)
    assert controller.last_resync_outcome == "partial"
    assert f"refused: {reason}" in caplog.text
    assert "big" in controller.refused
    # Watch holds the refused group whole (not even its rename) and reconciles the others.
    assert ws.live("big") == before["groups"]["big"]
    assert ws.live("small")["Name"] == "Smaller"

    ws.write(
        [
            {"id": "big", "type": "Public", "name": "Bigger", "members": KEEP},
            {"id": "small", "type": "Public", "name": "Smallest"},
        ]
    )
    before = ws.dump()
    run = ws.apply()
    assert run.code == 3, run
    assert f"Refused: {reason}" in run.out
    assert "Nothing was applied" in run.err
    assert ws.dump() == before  # apply refuses the plan whole: small is not renamed either


class NotApproved(Exception):
    pass


def test_the_checks_run_in_one_order_and_the_confirmation_last(ws: Workspace) -> None:
    ws.seed([big_group(), group("old", "Old"), group("small", "Small")])
    ws.write(
        [
            {"id": "big", "type": "Public", "members": KEEP},
            {"id": "old", "type": "Public", "state": "absent"},
            {"id": "small", "type": "Public", "name": "Smaller"},
        ]
    )
    before = ws.dump()
    seen: list[dict[str, Any]] = []  # the live state at each confirmation

    async def confirm() -> None:
        seen.append(ws.dump())

    async def refuse() -> None:
        seen.append(ws.dump())
        raise NotApproved

    async def go() -> None:
        config = load_config(ws.dir)
        async with engine.Session(config.app, config.base_dir) as s:
            plan = await s.plan(config.groups, engine.PlanOptions.of(config))
            # Whole, as the CLI: the guard before the destroy, both before the confirmation.
            with pytest.raises(PlanRefused, match="guard"):
                await s.approve(plan, engine.Approval(confirm=confirm))
            with pytest.raises(PlanRefused, match="--allow-destroy"):
                await s.approve(plan, engine.Approval(force=True, confirm=confirm))
            assert seen == []
            # Group by group, as watch: the same checks hold the same things, in that order.
            approved = await s.approve(plan, engine.Approval(), per_group=True)
            held = [(h.group, h.check) for h in approved.held]
            assert held == [("big", "guard"), ("old", "destroy")]
            assert {op.group for op in approved.operations} == {"small"}
            # Everything allowed: asked once, before any write; a refusal writes nothing.
            everything = engine.Approval(force=True, allow_destroy=True, confirm=refuse)
            with pytest.raises(NotApproved):
                await s.approve(plan, everything)
            everything = engine.Approval(force=True, allow_destroy=True, confirm=confirm)
            approved = await s.approve(plan, everything)
            assert approved.operations == plan.operations and approved.held == []
            result = await s.apply(approved.operations)
            assert result.ok

    asyncio.run(go())
    assert [_groups(d) for d in seen] == [_groups(before)] * 2
    assert ws.live("old") is None and ws.live("small")["Name"] == "Smaller"
    assert set(ws.members("big")) == set(KEEP)


def _groups(dump: dict[str, Any]) -> dict[str, Any]:
    """The declared groups' state, without the app lock's own group."""
    return {g: v for g, v in dump["groups"].items() if g in ("big", "old", "small")}


def test_a_stale_saved_plan_is_refused_before_the_confirmation_and_any_write(
    ws: Workspace,
) -> None:
    ws.seed([group("b", "B")], accounts=["t1"])
    ws.write(
        [
            {"id": "a", "type": "Public", "name": "A", "owner": "t1"},
            {"id": "b", "type": "Public", "name": "B2"},
        ]
    )
    assert ws.plan("-o", "p.json").code == 0
    ws.seed([group("a", "Someone else's")])  # the plan creates a: made meanwhile by another
    before = ws.dump()
    asked: list[str] = []

    async def confirm() -> None:
        asked.append("asked")

    async def go() -> None:
        saved = engine.read_plan(ws.dir / "p.json")
        async with engine.Session(saved.app, saved.base_dir) as s:
            for per_group in (False, True):  # a saved plan is stale or fresh as a whole
                with pytest.raises(StalePlanError, match=r"changed since it was made \(a\)"):
                    await s.approve(saved, engine.Approval(confirm=confirm), per_group=per_group)

    asyncio.run(go())
    assert asked == []
    run = ws.cli("apply", "--plan", "p.json")
    assert run.code == 1 and "changed since it was made (a)" in run.err, run
    assert ws.dump() == before  # b, which did not change, is not renamed either


def test_an_error_of_the_app_holds_every_group_in_watch_as_in_apply(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    """Accounts missing from the app hold the whole plan, in watch too, even when a group also
    has an error of its own (watch used to apply the other groups then)."""
    ws.seed(
        [group("tight", "Tight", ["s00", "s01"]), group("fine", "Fine")],
        accounts=["t1", "s00", "s01"],
    )
    app = {"sdkappid": SDKAPPID, "create_missing_accounts": False}
    ws.write(
        [
            # max_members below the 3 members it keeps (not managed here): its own error
            {"id": "tight", "type": "Public", "max_members": 2},
            # ghost is no account of the app: the app's error
            {"id": "fine", "type": "Public", "name": "Finer", "members": ["t1", "ghost"]},
        ],
        app=app,
    )
    before = ws.dump()
    caplog.set_level(logging.INFO, logger="reconciler.watch")
    controller = watch_one_resync(ws)
    assert controller.last_resync_outcome == "invalid"
    assert "do not exist in the app" in caplog.text and "max_members 2" in caplog.text
    assert _groups_of(ws.dump()) == _groups_of(before)
    run = ws.apply()
    assert run.code == 1, run
    assert "do not exist in the app" in run.out and "nothing was applied" in run.err
    assert ws.dump() == before


def _groups_of(dump: dict[str, Any]) -> dict[str, Any]:
    return {g: v for g, v in dump["groups"].items() if g in ("tight", "fine")}
