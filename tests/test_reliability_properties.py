"""Property-based: random live and desired states across every group type and member attribute.

Through the library face (load_config -> engine.plan_groups -> engine.apply_operations)
in-process on a temp SQLite file:

- apply, then plan shows no changes;
- executing the same operations again fails nothing and changes nothing;
- no member is removed that additive mode, unmanaged members, a guard or protect keeps.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from conftest import (
    ADMIN,
    SDKAPPID,
    cli_in_process,
    client_for,
    dump_yaml,
    make_emulator,
    plan_groups,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config import load_config
from reconciler.emulator import EmulatorStore
from reconciler.engine import apply_operations

NOW = int(time.time())
POOL = [f"u{i}" for i in range(8)]
API_TYPES = ["Private", "Public", "ChatRoom", "AVChatRoom", "Community"]
SHOWN = {"Private": "Work", "ChatRoom": "Meeting"}

texts = st.text(alphabet="ab名 -", min_size=1, max_size=6).map(str.strip).filter(bool)
custom_keys = st.sampled_from(["k1", "k2", "k3"])
custom_values = st.sampled_from(["v1", "v2", "值"])
roles = st.sampled_from(["Member", "Admin"])
flags = st.sampled_from(["AcceptAndNotify", "AcceptNotNotify", "Discard"])
mutes = st.sampled_from([0, NOW - 3600, NOW + 3600, NOW + 86400])


@st.composite
def live_member(draw, account: str, gtype: str) -> dict[str, Any]:
    m: dict[str, Any] = {"Member_Account": account, "Role": draw(roles)}
    if draw(st.booleans()):
        m["NameCard"] = draw(texts)
    m["MsgFlag"] = draw(flags)
    if gtype != "Private":
        m["MuteUntil"] = draw(mutes)
    data = draw(st.dictionaries(custom_keys, custom_values, max_size=2))
    m["AppMemberDefinedData"] = [{"Key": k, "Value": v} for k, v in data.items()]
    return m


@st.composite
def live_group(draw, gid: str, gtype: str) -> dict[str, Any]:
    g: dict[str, Any] = {"GroupId": gid, "Type": gtype, "Name": draw(texts)}
    owner = draw(st.sampled_from([None, *POOL[:3]]))
    if owner:
        g["Owner_Account"] = owner
    g["Introduction"] = draw(st.sampled_from(["", "intro"]))
    data = draw(st.dictionaries(custom_keys, custom_values, max_size=2))
    g["AppDefinedData"] = [{"Key": k, "Value": v} for k, v in data.items()]
    g["MuteAllMember"] = draw(st.sampled_from(["On", "Off"]))
    if gtype == "AVChatRoom":
        online = draw(st.lists(st.sampled_from(POOL), unique=True, max_size=4))
        g["MemberList"] = [
            {
                "Member_Account": a,
                "Online": True,
                "Marks": draw(st.lists(st.sampled_from([1000, 1001, 600]), unique=True)),
            }
            for a in online
        ]
        return g
    accounts = draw(st.lists(st.sampled_from([*POOL, ADMIN]), unique=True, max_size=6))
    accounts = [a for a in accounts if a != owner]
    g["MemberList"] = [draw(live_member(a, gtype)) for a in accounts]
    g["MaxMemberNum"] = draw(st.sampled_from([20, 50]))
    return g


@st.composite
def desired_member(draw, account: str, gtype: str, owner: str | None) -> str | dict[str, Any]:
    if draw(st.booleans()):
        return account
    m: dict[str, Any] = {"account": account}
    if account != owner and draw(st.booleans()):
        m["role"] = draw(roles)
    if draw(st.booleans()):
        m["name_card"] = draw(st.one_of(st.just(""), texts))
    if draw(st.booleans()):
        m["msg_flag"] = draw(flags)
    if gtype != "Private" and draw(st.booleans()):
        m["muted_until"] = draw(mutes)
    if draw(st.booleans()):
        m["custom"] = draw(
            st.dictionaries(custom_keys, st.one_of(st.none(), st.just(""), custom_values))
        )
    return m


@st.composite
def desired_group(draw, gid: str, gtype: str, live: dict[str, Any] | None) -> dict[str, Any]:
    g: dict[str, Any] = {"id": gid, "type": SHOWN.get(gtype, gtype)}
    if live is not None and draw(st.integers(0, 9)) == 0:
        g["state"] = "absent"
        return g
    if live is None or draw(st.booleans()):
        g["name"] = draw(texts)
    live_owner = (live or {}).get("Owner_Account")
    if gtype == "AVChatRoom":
        owner = live_owner if live is not None else draw(st.sampled_from([None, *POOL[:3]]))
    else:
        owner = draw(st.sampled_from([None, live_owner, *POOL[:4]]))
    if owner:
        g["owner"] = owner
    for key, values in (
        ("introduction", ["", "intro", "新"]),
        ("notification", ["", "note"]),
        ("mute_all", [True, False]),
    ):
        if draw(st.booleans()):
            g[key] = draw(st.sampled_from(values))
    if gtype != "Community" and draw(st.booleans()):
        g["apply_join"] = draw(st.sampled_from(["FreeAccess", "NeedPermission", "DisableApply"]))
    if gtype != "AVChatRoom" and draw(st.booleans()):
        g["invite_join"] = draw(st.sampled_from(["FreeAccess", "NeedPermission", "DisableInvite"]))
    if draw(st.booleans()):
        g["custom"] = draw(
            st.dictionaries(custom_keys, st.one_of(st.none(), st.just(""), custom_values))
        )
    if live is None or draw(st.booleans()):
        g["protect"] = draw(st.booleans())
    if gtype == "AVChatRoom":
        online = [m["Member_Account"] for m in (live or {}).get("MemberList", [])]
        if draw(st.integers(0, 3)) > 0:
            g["marks"] = draw(
                st.dictionaries(
                    st.sampled_from([1000, 1001, 600, 500]),
                    st.lists(st.sampled_from([*online, *online, "u7"]), unique=True, max_size=3),
                    max_size=3,
                )
            )
        return g
    if draw(st.integers(0, 4)) > 0:
        accounts = draw(st.lists(st.sampled_from([*POOL, "fresh1", "fresh2"]), unique=True))
        g["members"] = [draw(desired_member(a, gtype, owner)) for a in accounts]
        g["members_mode"] = draw(st.sampled_from(["authoritative", "additive"]))
    if draw(st.booleans()):
        declared = {m if isinstance(m, str) else m["account"] for m in g.get("members", [])}
        if owner:
            declared.add(owner)
        g["max_members"] = max(len(declared), 1) + draw(st.sampled_from([0, 3, 40]))
    return g


@st.composite
def scenarios(draw) -> tuple[list[dict], list[dict], float]:
    live: list[dict] = []
    desired: list[dict] = []
    n = draw(st.integers(1, 4))
    for i in range(n):
        gtype = draw(st.sampled_from(API_TYPES))
        gid = f"@TGS#_g{i}" if gtype == "Community" else f"g{i}"
        exists = draw(st.integers(0, 3)) > 0
        live_g = draw(live_group(gid, gtype)) if exists else None
        if live_g is not None:
            live.append(live_g)
        desired.append(draw(desired_group(gid, gtype, live_g)))
    fraction = draw(st.sampled_from([0.25, 1.0]))
    return live, desired, fraction


def _norm_dump(dump: dict[str, Any]) -> dict[str, Any]:
    """State to compare across runs: drop counters and round mute deadlines (relative MuteTime)."""
    groups = {}
    for gid, g in dump["groups"].items():
        g = {k: v for k, v in g.items() if k not in ("InfoSeq",)}
        g["MemberList"] = sorted(
            (
                {
                    **{k: v for k, v in m.items() if k not in ("JoinTime", "MuteUntil")},
                    "Muted": m["MuteUntil"] > NOW + 60,
                }
                for m in g["MemberList"]
            ),
            key=lambda m: m["Member_Account"],
        )
        groups[gid] = g
    return {"accounts": dump["accounts"], "groups": groups}


def _members(dump: dict[str, Any], gid: str) -> set[str]:
    g = dump["groups"].get(gid)
    return {m["Member_Account"] for m in g["MemberList"]} if g else set()


async def _scenario(live, desired, fraction, workdir: Path) -> None:
    cfg = workdir / "cfg"
    cfg.mkdir()
    app = make_emulator(workdir / "emu.sqlite3")
    store = app.state.store
    store.seed(live, accounts=POOL)
    doc = {"app": {"sdkappid": SDKAPPID}, "policy": {"max_removal_fraction": fraction}}
    (cfg / "groups.yaml").write_text(dump_yaml({**doc, "groups": desired}))
    config = load_config(cfg)
    groups = config.groups
    before = store.dump()

    async with client_for(app) as client:
        plan = await plan_groups(client, groups, max_removal_fraction=fraction)
        assert not any("members the group keeps" in e for e in plan.errors) or plan.errors
        if plan.errors or any(not r.overridable for r in plan.refusals):
            # Nothing may be applied: apply refuses such a plan as a whole.
            return
        # With --force: overridable refusals (removal fraction, admin) are overridden.
        result = await apply_operations(client, plan.operations)
        assert result.ok, (result.failures, result.item_failures)
        after = store.dump()

        # 1. The next plan is empty.
        again = await plan_groups(client, groups, max_removal_fraction=1.0)
        assert not again.errors, again.errors
        assert again.operations == [], [(o.group, o.request) for o in again.operations]

        # 2. Executing the same operations again fails nothing and changes nothing.
        replay = await apply_operations(client, plan.operations)
        assert replay.ok, (replay.failures, replay.item_failures)
        assert _norm_dump(store.dump()) == _norm_dump(after)

    # 3. Nobody is removed whom the config keeps.
    for want in groups:
        if want.state == "absent":
            assert want.id not in after["groups"]
            continue
        had, has = _members(before, want.id), _members(after, want.id)
        if want.type.value == "AVChatRoom":
            continue  # online presence, not membership
        lost = had - has
        if want.members is None or want.members_mode == "additive" or want.protect:
            assert not lost, (want.id, lost)
        else:
            old_owner = (
                before["groups"][want.id]["Owner_Account"] if want.id in before["groups"] else ""
            )
            allowed = had - set(want.members) - ({want.owner} if want.owner else set())
            assert lost <= allowed, (want.id, lost, allowed)
            if old_owner in lost:
                assert want.owner and want.owner != old_owner
        if want.members is not None:
            assert set(want.members) <= has
        if want.owner:
            assert after["groups"][want.id]["Owner_Account"] == want.owner


@settings(
    max_examples=int(os.environ.get("RECONCILER_PROPERTY_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios())
def test_apply_converges_is_idempotent_and_keeps_what_config_keeps(scenario) -> None:
    live, desired, fraction = scenario
    with tempfile.TemporaryDirectory() as d:
        asyncio.run(_scenario(live, desired, fraction, Path(d)))


@settings(
    max_examples=int(os.environ.get("RECONCILER_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios(), st.booleans())
def test_cli_apply_refuses_whole_or_converges(scenario, force: bool) -> None:
    """Through the CLI (embedded emulator): a guarded plan changes nothing at all; otherwise
    apply converges; protect and additive keep every member either way."""
    live, desired, fraction = scenario
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d)
        (cfg / ".reconciler").mkdir()
        store = EmulatorStore(cfg / ".reconciler" / "local.sqlite3", admin=ADMIN)
        try:
            store.seed(live, accounts=POOL)
            before = store.dump()
            doc = {
                "app": {"sdkappid": SDKAPPID, "create_missing_accounts": True},
                "policy": {"max_removal_fraction": fraction},
                "groups": desired,
            }
            (cfg / "groups.yaml").write_text(dump_yaml(doc))
            args = ["apply", ".", "--auto-approve", "--allow-destroy"] + ["--force"] * force
            run = cli_in_process(*args, cwd=cfg)
            after = store.dump()
            if run.code in (1, 3):
                assert "Traceback" not in run.err
                assert "Nothing was applied" in run.err or "error(s)" in run.err, run
                assert after == before, run
                return
            assert run.code == 0, run
            check = cli_in_process("plan", ".", "--detailed-exitcode", cwd=cfg)
            assert check.code == 0, check
            for g in desired:
                kept = g.get("protect") or g.get("members_mode") == "additive" or "members" not in g
                if kept and g.get("type") != "AVChatRoom" and g.get("state") != "absent":
                    assert _members(before, g["id"]) <= _members(after, g["id"]), g["id"]
        finally:
            store.close()
