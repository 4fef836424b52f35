"""export, end to end: live groups of every type -> YAML (a file, a directory, stdout), and a
plan on the exported config is empty."""

from __future__ import annotations

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


def test_export_all_to_a_directory_then_plan_is_empty(adopted: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "adopted"
    run = adopted.cli("export", ".", "--all", "-o", str(out))
    assert run.code == 0, run
    files = sorted(p.name for p in out.iterdir())
    assert "app.yaml" in files and "groups-community.yaml" in files, files
    assert len(files) == 6  # app + one file per type
    run = cli_in_process("plan", str(out), "--detailed-exitcode")
    assert run.code == 0, run


def test_export_to_stdout_and_selected_groups(adopted: Workspace, tmp_path: Path) -> None:
    run = adopted.cli("export", ".", "--group", "pub-1", "--group", "av-1")
    assert run.code == 0, run
    target = adopted.dir / "two.yaml.out"
    target.write_text(run.out)
    assert "work-1" not in run.out
    run = cli_in_process("plan", str(target), "--detailed-exitcode")
    assert run.code == 0, run
    run = adopted.cli("export", ".", "--group", "missing-group")
    assert run.code == 1 and "missing-group" in run.err, run
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
