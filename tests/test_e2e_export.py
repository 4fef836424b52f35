"""export, end to end: live groups of every type -> YAML (a file, a directory, stdout), and a
plan on the exported config is empty."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from conftest import Workspace, cli_in_process

FUTURE = int(time.time()) + 10 * 86400


def live_groups() -> list[dict]:
    def members(prefix: str) -> list[dict]:
        return [
            {"Member_Account": f"{prefix}a", "Role": "Admin", "NameCard": "Ädmin 名片"},
            {"Member_Account": f"{prefix}b", "MsgFlag": "Discard", "MuteUntil": FUTURE},
            {
                "Member_Account": f"{prefix}c",
                "AppMemberDefinedData": [{"Key": "lvl", "Value": "3"}],
                "MsgFlag": "AcceptNotNotify",
            },
            {"Member_Account": "0123"},  # looks like a number
            {"Member_Account": "true"},  # looks like a boolean
        ]

    work_members = members("w")
    work_members[1].pop("MuteUntil")  # Work groups cannot mute
    return [
        {
            "GroupId": "work-1",
            "Type": "Private",
            "Name": "工作群",
            "Owner_Account": "boss",
            "Introduction": "multi\nline: yes",
            "AppDefinedData": [{"Key": "k", "Value": "null"}],
            "MemberList": work_members,
        },
        {
            "GroupId": "pub-1",
            "Type": "Public",
            "Name": "Public: one",
            "Owner_Account": "boss",
            "Notification": "# not a comment",
            "FaceUrl": "https://example.com/x.png",
            "MaxMemberNum": 300,
            "ApplyJoinOption": "FreeAccess",
            "MuteAllMember": "On",
            "MemberList": members("p"),
        },
        {"GroupId": "meet-1", "Type": "ChatRoom", "Name": "Meet", "MemberList": members("m")},
        {
            "GroupId": "@TGS#_comm-1",
            "Type": "Community",
            "Name": "Comm",
            "Owner_Account": "boss",
            "MemberList": [{"Member_Account": f"c{i:03d}"} for i in range(450)],
        },
        {
            "GroupId": "av-1",
            "Type": "AVChatRoom",
            "Name": "Live",
            "Owner_Account": "boss",
            "MemberList": [{"Member_Account": "viewer", "Online": True, "Marks": [1000]}],
        },
        {"Type": "Public", "Name": "server assigned"},  # an @TGS#2... ID
    ]


@pytest.fixture
def adopted(ws: Workspace) -> Workspace:
    ws.seed(live_groups())
    ws.write([])
    return ws


def test_export_all_to_a_file_then_plan_is_empty(adopted: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "exported" / "all.yaml"
    run = adopted.cli("export", ".", "--all", "-o", str(out))
    assert run.code == 0, run
    assert "wrote 6 group(s)" in run.err
    text = out.read_text()
    assert "@TGS#2" in text and "工作群" in text
    run = cli_in_process("plan", str(out), "--detailed-exitcode", cwd=tmp_path)
    assert run.code == 0, run
    assert "No changes" in run.out
    run = cli_in_process("fmt", "--check", str(out))
    assert run.code == 0 and "0 of 1 file(s) to reformat" in run.out, run


def test_export_all_to_a_directory_then_plan_is_empty(adopted: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "adopted"
    run = adopted.cli("export", ".", "--all", "-o", str(out))
    assert run.code == 0, run
    files = sorted(p.name for p in out.iterdir())
    assert "app.yaml" in files and "groups-community.yaml" in files, files
    assert len(files) == 6  # app + one file per type
    run = cli_in_process("plan", str(out), "--detailed-exitcode")
    assert run.code == 0, run
    run = cli_in_process("fmt", "--check", *sorted(map(str, out.iterdir())))
    assert run.code == 0 and "0 of 6 file(s) to reformat" in run.out, run


def test_export_to_stdout_and_selected_groups(adopted: Workspace, tmp_path: Path) -> None:
    run = adopted.cli("export", ".", "--group", "pub-1", "--group", "av-1")
    assert run.code == 0, run
    target = adopted.dir / "two.yaml.out"
    target.write_text(run.out)
    assert "work-1" not in run.out
    run = cli_in_process("plan", str(target), "--detailed-exitcode")
    assert run.code == 0, run
    run = adopted.cli("export", ".", "--group", "missing-group")
    assert run.code == 1, run
    assert "--group 'missing-group': no group of the app matches; nothing was written" in run.err
    assert adopted.cli("export", ".").code == 1  # says which groups


def test_exported_config_is_then_managed_normally(adopted: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "managed.yaml"
    assert adopted.cli("export", ".", "--all", "-o", str(out)).code == 0
    text = out.read_text().replace("name: Meet", "name: Meet renamed")
    out.write_text(text)
    run = cli_in_process("apply", str(out), "--auto-approve")
    assert run.code == 0, run
    assert adopted.live("meet-1")["Name"] == "Meet renamed"
    assert cli_in_process("plan", str(out), "--detailed-exitcode").code == 0


def test_export_after_apply_round_trips(ws: Workspace, tmp_path: Path) -> None:
    groups = [
        {"id": "g-work", "type": "Work", "name": "W", "owner": "o", "members": ["a", "b"]},
        {
            "id": "g-meet",
            "type": "Meeting",
            "name": "M",
            "members": [
                {"account": "a", "muted_until": FUTURE, "custom": {"x": "y"}, "name_card": "A"}
            ],
        },
        {"id": "@TGS#_g", "type": "Community", "name": "C", "owner": "o", "members": ["o", "z"]},
        {
            "id": "g-av",
            "type": "AVChatRoom",
            "name": "AV",
            "owner": "o",
            "custom": {"topic": "news"},
        },
    ]
    ws.write(groups)
    ws.converge()
    out = tmp_path / "rt"
    assert ws.cli("export", ".", "--all", "-o", str(out)).code == 0
    assert cli_in_process("plan", str(out), "--detailed-exitcode").code == 0


# Issue 25, 12: export writes over nothing it did not write.
HAND_APP = (
    "# ours\napp:\n  sdkappid: 1400000000\n  rate_limit: 50\npolicy:\n  max_removal_fraction: 0.5\n"
)
OWN = "# Written by reconciler export; it replaces this file only while unchanged. sha256: "


def snapshot(ws: Workspace, *paths: Path) -> tuple:
    """The config directory's files, ``paths``, and the emulator's state."""
    files = sorted((p, p.read_bytes()) for p in [*ws.dir.iterdir(), *paths] if p.is_file())
    return files, ws.dump()


def test_export_into_its_config_keeps_app_yaml_and_never_declares_a_group_twice(
    adopted: Workspace,
) -> None:
    (adopted.dir / "groups.yaml").unlink()
    (adopted.dir / "app.yaml").write_text(HAND_APP)
    teams = adopted.dir / "teams.yaml"
    teams.write_text("groups:\n  - id: pub-1\n    type: Public\n    name: 'Public: one'\n")
    before = snapshot(adopted)
    for force in ([], ["--force"]):
        run = adopted.cli("export", ".", "--all", "-o", ".", *force)
        assert run.code == 1, run
        assert "teams.yaml already declares group 'pub-1'; the export would declare it twice" in (
            run.err
        )
        assert snapshot(adopted) == before
    teams.unlink()
    run = adopted.cli("export", ".", "--all", "-o", ".")
    assert run.code == 0, run
    assert "kept app.yaml as it is: export never replaces an app.yaml" in run.err
    assert (adopted.dir / "app.yaml").read_text() == HAND_APP  # comments, policy, 50 kept
    assert (adopted.dir / "groups-public.yaml").read_text().startswith(OWN)
    adopted.assert_clean()


def test_export_replaces_only_its_own_unchanged_files(adopted: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "all.yaml"
    out.write_text("# mine\n")
    export = ("export", ".", "--group", "pub-1", "-o", str(out))
    before = snapshot(adopted, out)
    run = adopted.cli(*export)
    assert run.code == 1, run
    assert f"{out} exists and was not written by export (or was edited since)" in run.err
    assert "add --force to replace it" in run.err and snapshot(adopted, out) == before
    assert adopted.cli(*export, "--force").code == 0
    assert out.read_text().startswith(OWN)
    assert adopted.cli(*export).code == 0  # its own file, unchanged: replaced
    out.write_text(out.read_text().replace("Public: one", "Public: 1"))  # edited since
    before = snapshot(adopted, out)
    run = adopted.cli(*export)
    assert run.code == 1 and "was not written by export (or was edited since)" in run.err, run
    assert snapshot(adopted, out) == before
    app = tmp_path / "app.yaml"
    app.write_text(HAND_APP)
    before = snapshot(adopted, app)
    run = adopted.cli("export", ".", "--group", "pub-1", "-o", str(app), "--force")
    assert run.code == 1, run
    assert f"{app} exists; export never replaces an app.yaml (even with --force)" in run.err
    assert snapshot(adopted, app) == before


def test_export_into_a_directory_with_an_app_section_writes_no_second_one(
    adopted: Workspace, tmp_path: Path
) -> None:
    target = tmp_path / "cfg2"
    target.mkdir()
    (target / "app.yaml").write_text(HAND_APP)
    run = adopted.cli("export", ".", "--group", "pub-1", "-o", str(target / "pub.yaml"))
    assert run.code == 0, run
    assert f"wrote no app section: {target / 'app.yaml'} has the directory's" in run.err
    assert "app:" not in (target / "pub.yaml").read_text()
    assert cli_in_process("validate", str(target)).code == 0


# Issue 27, onboarding.
async def _join(ws: Workspace, gid: str, account: str) -> None:
    """Someone joins a live group by themselves (an add_group_member on the emulator)."""
    from conftest import client_for, make_emulator

    from reconciler.tim import wire

    async with client_for(make_emulator(ws.db)) as client:
        await wire.accounts.multiaccount_import(client, [account])
        body = {"GroupId": gid, "MemberList": [{"Member_Account": account}]}
        await client.call(wire.SERVICE_OF["add_group_member"], "add_group_member", body)


def test_additive_export_keeps_members_who_join_by_themselves(
    adopted: Workspace, tmp_path: Path
) -> None:
    additive, exact = tmp_path / "additive", tmp_path / "exact"
    run = adopted.cli("export", ".", "--all", "--members-mode", "additive", "-o", str(additive))
    assert run.code == 0, run
    assert adopted.cli("export", ".", "--all", "-o", str(exact)).code == 0
    public = (additive / "groups-public.yaml").read_text()
    listed = public.count("\n    members:")  # the server-assigned group lists nobody
    assert public.count("    members_mode: additive\n    members:") == listed == 2, public
    assert "members_mode" not in (additive / "groups-avchatroom.yaml").read_text()
    assert "members_mode" not in (exact / "groups-public.yaml").read_text()
    files = sorted(map(str, additive.iterdir()))
    assert cli_in_process("fmt", "--check", *files).code == 0
    asyncio.run(_join(adopted, "pub-1", "walk-in"))
    run = cli_in_process("plan", str(additive), "--detailed-exitcode")
    assert run.code == 0 and "No changes" in run.out, run
    run = cli_in_process("plan", str(exact), "--detailed-exitcode")
    assert run.code == 2 and "walk-in" in run.out, run  # authoritative: would remove them


def test_export_group_patterns_list_and_skip_what_matches_nothing(
    adopted: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "picked.yaml"
    names = ["--group", "p*", "--group", "*comm-?", "--group", "nope-*", "--group", "gone"]
    run = adopted.cli("export", ".", *names, "-o", str(out))
    assert run.code == 0, run
    assert "skipped --group 'nope-*', 'gone': no group of the app matches" in run.err
    text = out.read_text()
    assert "id: pub-1" in text and 'id: "@TGS#_comm-1"' in text and "work-1" not in text
    assert cli_in_process("plan", str(out), "--detailed-exitcode").code == 0
    run = adopted.cli("export", ".", "--group", "pub-1", "--group", "gone", "-o", str(out))
    assert run.code == 0 and "skipped --group 'gone'" in run.err, run
    assert "pub-1" in out.read_text() and "comm-1" not in out.read_text()
    before = snapshot(adopted, out)
    for extra in (["--group", "gone"], ["--group", "nope-*"]):
        run = adopted.cli("export", ".", "--group", "p*", *extra, "--strict", "-o", str(out))
        assert run.code == 1, run
        assert f"--group '{extra[1]}': no group of the app matches; nothing was written" in run.err
        assert snapshot(adopted, out) == before


def test_export_one_file_per_group(adopted: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "per-group"
    export = ("export", ".", "--all", "--layout", "per-group", "-o", str(out))
    run = adopted.cli(*export)
    assert run.code == 0, run
    assert f"wrote 6 group(s) to {out}, one file each in its type's directory" in run.err
    names = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    named = {"avchatroom/av-1", "community/@TGS#_comm-1", "meeting/meet-1", "public/pub-1"}
    assert {"app.yaml", "work/work-1.yaml"} | {f"{n}.yaml" for n in named} < names, names
    assert len(names) == 7 and any(n.startswith("public/@TGS#2") for n in names), names
    assert (out / "work" / "work-1.yaml").read_text().startswith(OWN)
    assert cli_in_process("plan", str(out), "--detailed-exitcode").code == 0
    assert cli_in_process("fmt", "--check", str(out)).code == 0
    assert cli_in_process("validate", "--discover", str(out / "work" / "work-1.yaml")).code == 0
    assert adopted.cli(*export).code == 0  # its own files, unchanged: replaced
    run = adopted.cli("export", ".", "--all", "--layout", "per-group", "-o", str(out / "a.yaml"))
    assert run.code == 1 and "give --output a directory, not the file" in run.err, run


async def _destroy(ws: Workspace, gid: str) -> None:
    """Someone destroys a live group in the console (a destroy_group on the emulator)."""
    from conftest import client_for, make_emulator

    from reconciler.tim import wire

    async with client_for(make_emulator(ws.db)) as client:
        await client.call(wire.SERVICE_OF["destroy_group"], "destroy_group", {"GroupId": gid})


def test_export_all_again_removes_its_files_of_groups_gone_live(
    adopted: Workspace, tmp_path: Path
) -> None:
    """A group destroyed since the last export must not keep its file: the next plan would
    create it again. Only the export's own unchanged files go; an edited one is the user's."""
    out = tmp_path / "per-group"
    export = ("export", ".", "--all", "--layout", "per-group", "-o", str(out))
    assert adopted.cli(*export).code == 0
    edited = out / "meeting" / "meet-1.yaml"
    edited.write_text(edited.read_text().replace("\n", "\n# reviewed\n", 1))
    asyncio.run(_destroy(adopted, "work-1"))
    asyncio.run(_destroy(adopted, "meet-1"))
    run = adopted.cli(*export)
    assert run.code == 0, run
    assert not (out / "work" / "work-1.yaml").exists()
    assert f"removed {out / 'work' / 'work-1.yaml'}: an earlier export's unchanged file" in run.err
    assert edited.exists() and "# reviewed" in edited.read_text()  # the user's now
    plan = cli_in_process("plan", str(out))
    assert "+ group work-1" not in plan.out and "+ group meet-1" in plan.out, plan
    # a change of layout replaces the per-group files with per-type ones (not declared twice)
    edited.unlink()
    run = adopted.cli("export", ".", "--all", "-o", str(out))
    assert run.code == 0, run
    assert not list(out.glob("*/*.yaml")), list(out.rglob("*.yaml"))
    assert cli_in_process("plan", str(out), "--detailed-exitcode").code == 0
    # with a --group selection the other groups' files are left alone
    other = tmp_path / "other"
    assert adopted.cli("export", ".", "--all", "--layout", "per-group", "-o", str(other)).code == 0
    before = sorted(other.rglob("*.yaml"))
    run = adopted.cli("export", ".", "--group", "pub-1", "--layout", "per-group", "-o", str(other))
    assert run.code == 0 and "removed" not in run.err, run
    assert sorted(other.rglob("*.yaml")) == before
