"""The config format: what a file says and the normalized state it becomes."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.config import (
    AppConfig,
    Config,
    ConfigError,
    Issue,
    Location,
    Policy,
    load_config,
)
from reconciler.state import Group, GroupType, Member

FIXTURES = Path(__file__).parent / "fixtures" / "config"


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


APP = "app:\n  sdkappid: 1400000000\n"


def test_shipped_example_loads_and_normalizes() -> None:
    config = load_config(FIXTURES / "school")
    assert isinstance(config, Config)
    assert config.app == AppConfig(sdkappid=1400000000)
    assert config.policy == Policy(max_removal_fraction=0.25, min_group_size_for_guard=10)
    assert [g.id for g in config.groups] == [
        "class-7a",
        "staff",
        "live-assembly",
        "@TGS#_parents",
        "@TGS#2J4SZEAEL",
    ]
    assert config.base_dir == FIXTURES / "school"
    assert [p.name for p in config.files] == ["app.yaml", "classes.yaml", "live.yaml"]

    class7a = config.groups[0]
    assert isinstance(class7a, Group)
    assert class7a.type is GroupType.Public
    assert class7a.name == "Class 7A"
    assert class7a.max_members == 500
    assert class7a.apply_join == "NeedPermission"
    assert class7a.invite_join == "FreeAccess"
    assert class7a.mute_all is False
    assert class7a.custom == {"Grade": "7", "Legacy": None}
    assert list(class7a.members) == ["teacher10", "student9", "student10", "student11"]
    assert class7a.members["teacher10"] == Member(account="teacher10")
    assert class7a.members["student9"] == Member(
        account="student9",
        role="Admin",
        name_card="Nine",
        msg_flag="AcceptAndNotify",
        muted_until=int(datetime(2026, 12, 1, tzinfo=UTC).timestamp()),
        custom={"Seat": "A1"},
        join_time=1448357837,
        unread=5,
    )
    # An explicit null means "not muted"; an absent key means "not managed".
    assert class7a.members["student10"].muted_until == 0
    assert class7a.members["student11"].muted_until is None

    staff = config.groups[1]
    assert staff.type is GroupType.Private  # Work = Private
    assert staff.protect is True
    assert staff.members_mode == "additive"
    assert staff.introduction is None  # not declared = unmanaged

    live = config.groups[2]
    assert live.type is GroupType.AVChatRoom
    assert live.members is None
    assert live.marks == {500: ["guest1"], 1000: ["principal", "teacher10"]}
    assert config.groups[3].type is GroupType.Community
    assert config.groups[4].type is GroupType.ChatRoom  # Meeting = ChatRoom


def test_locations_point_at_each_group(tmp_path: Path) -> None:
    config = load_config(FIXTURES / "school")
    shown = str(FIXTURES / "school" / "classes.yaml")
    assert config.locations["class-7a"] == Location(shown, 3, 5)
    assert config.locations["staff"] == Location(shown, 31, 5)
    assert config.locations["@TGS#_parents"].line == 9


def test_members_absent_is_unmanaged_and_empty_list_is_managed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        APP
        + """\
groups:
  - {id: a, type: Public}
  - {id: b, type: Public, members: []}
  - {id: c, type: Public, members: null}
""",
    )
    groups = {g.id: g for g in load_config(path).groups}
    assert groups["a"].members is None
    assert groups["b"].members == {}
    assert groups["c"].members is None


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-12-01T00:00:00Z", 1796083200),
        ("2026-12-01T08:00:00+08:00", 1796083200),
        ("'2026-12-01T00:00:00Z'", 1796083200),
        # RFC 3339 (the schema's format: date-time) allows a lowercase t and z.
        ("2026-12-01t00:00:00z", 1796083200),
        ("2026-12-01T00:00:00z", 1796083200),
        ("2026-12-01t08:00:00+08:00", 1796083200),
        ("1796083200", 1796083200),
        ("0", 0),
        ("null", 0),
    ],
)
def test_muted_until_forms(tmp_path: Path, written: str, expected: int) -> None:
    path = write(
        tmp_path,
        APP
        + f"""\
groups:
  - id: g
    type: Public
    members:
      - account: a
        muted_until: {written}
""",
    )
    assert load_config(path).groups[0].members["a"].muted_until == expected


def test_validate_accepts_a_lowercase_t_and_z(tmp_path: Path, capsys) -> None:
    from reconciler.cli import main

    write(tmp_path, APP + "groups:\n  - id: g\n    type: AVChatRoom\n"
          "    muted: {a: 2030-01-01t00:00:00z}\n")  # fmt: skip
    with pytest.raises(SystemExit) as stop:
        main(["validate", str(tmp_path)])
    assert stop.value.code == 0, capsys.readouterr().err


@pytest.mark.parametrize("name", ["Work", "Private", "Public", "Meeting", "ChatRoom", "Community"])
def test_type_aliases(tmp_path: Path, name: str) -> None:
    gid = "@TGS#_x" if name == "Community" else "x"
    path = write(tmp_path, APP + f"groups:\n  - id: '{gid}'\n    type: {name}\n")
    expected = {
        "Work": "Private",
        "Private": "Private",
        "Public": "Public",
        "Meeting": "ChatRoom",
        "ChatRoom": "ChatRoom",
        "Community": "Community",
    }[name]
    assert load_config(path).groups[0].type.value == expected


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, APP))
    assert config.app.admin == "administrator"
    assert config.app.endpoint == "local"
    assert config.app.secret_key_env == "TIM_SECRET_KEY"
    assert config.app.rate_limit == 200
    assert config.app.create_missing_accounts is False
    assert config.app.local_db == ".reconciler/local.sqlite3"
    assert config.policy == Policy()
    assert config.groups == []
    assert config.base_dir == tmp_path


@pytest.mark.parametrize(
    "endpoint",
    [
        "local",
        "china",
        "singapore",
        "seoul",
        "tokyo",
        "frankfurt",
        "silicon-valley",
        "jakarta",
        "https://console.tim.qq.com",
        "https://proxy.example.com:8443/tim",
        "http://127.0.0.1:8080",
        "http://localhost:9000",
        "http://[::1]:9000",
    ],
)
def test_endpoint_accepted(tmp_path: Path, endpoint: str) -> None:
    path = write(tmp_path, f"app:\n  sdkappid: 1\n  endpoint: '{endpoint}'\n")
    assert load_config(path).app.endpoint == endpoint


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ("mars", "unknown endpoint 'mars'"),
        ("http://example.com", "plain http on a non-loopback host"),
        ("http://10.0.0.1:80", "plain http on a non-loopback host"),
        ("ftp://example.com", "unsupported URL scheme"),
        ("https://user:pw@example.com", "must not contain credentials"),
        # as the JSON Schema has them: names in lower case, no spaces, a port up to 65535
        ("Tokyo", "write the endpoint 'Tokyo' as 'tokyo'"),
        (" local", "write the endpoint ' local' as 'local'"),
        ("HTTPS://example.com", "the scheme in lower case"),
        ("https://example.com:65536", "Port out of range"),
        ("http://127.0.0.300", "plain http on a non-loopback host"),
    ],
)
def test_endpoint_rejected_with_location(tmp_path: Path, endpoint: str, fragment: str) -> None:
    path = write(tmp_path, f"app:\n  sdkappid: 1\n  endpoint: '{endpoint}'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    (issue,) = err.value.issues
    assert issue.location == Location(str(path), 3, 13)
    assert issue.message.startswith("app: endpoint: ")
    assert fragment in issue.message


def test_secret_key_is_never_echoed(tmp_path: Path) -> None:
    secret = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
    path = write(
        tmp_path, f"app:\n  sdkappid: 1\n  secret_key_env: {secret}\n  secret_key: {secret}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert secret not in text
    assert "looks like a secret key" in text
    assert "the secret key never goes in YAML" in text


def test_callback_token_is_never_echoed(tmp_path: Path) -> None:
    token = "3f9a0c1b7e2d4a5b8c6d9e0f1a2b3c4d5e6f7a8b"
    path = write(tmp_path, f"app:\n  sdkappid: 1\n  callback_token_env: {token}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert token not in str(err.value)
    assert "looks like a callback token" in str(err.value)


def test_policy_bounds(tmp_path: Path) -> None:
    path = write(tmp_path, APP + "policy:\n  max_removal_fraction: 1.5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    (issue,) = err.value.issues
    assert issue.location == Location(str(path), 4, 25)
    assert "less than or equal to 1" in issue.message


def test_digest_is_stable_and_tracks_content(tmp_path: Path) -> None:
    path = write(tmp_path, APP + "groups:\n  - {id: a, type: Public}\n")
    first = load_config(path).digest
    assert first == load_config(path).digest
    assert len(first) == 64
    write(tmp_path, APP + "groups:\n  - {id: b, type: Public}\n")
    assert load_config(path).digest != first


def test_issue_and_error_formatting() -> None:
    issue = Issue(Location("a.yaml", 3, 7), "something is wrong")
    assert str(issue) == "a.yaml:3:7: something is wrong"
    assert str(Issue(None, "no place")) == "no place"
    error = ConfigError([issue, Issue(None, "second")])
    assert error.issues == [issue, Issue(None, "second")]
    assert str(error) == "a.yaml:3:7: something is wrong\nsecond"


def test_export_style_output_loads(tmp_path: Path) -> None:
    """What `export` writes (yaml_rs.dumps of plain data) is a valid config."""
    import yaml_rs

    doc = {
        "app": {"sdkappid": 1400000000},
        "groups": [
            {
                "id": "g1",
                "type": "Public",
                "name": "G",
                "members": ["10001", {"account": "b", "muted_until": "2026-12-01T00:00:00Z"}],
            }
        ],
    }
    path = tmp_path / "export.yaml"
    path.write_text(yaml_rs.dumps(doc, compact=True).removeprefix("---\n"))
    group = load_config(path).groups[0]
    assert list(group.members) == ["10001", "b"]
    assert group.members["b"].muted_until == 1796083200


def test_loaded_members_equal_validated_ones_and_refuse_changes(tmp_path: Path) -> None:
    # Members are built without pydantic's second validation (a config of a million makes one
    # for each): they must still be exactly what Member(...) makes of the same entry.
    path = write(
        tmp_path,
        APP
        + textwrap.dedent(
            """\
        groups:
          - id: g1
            type: Public
            owner: boss
            members:
              - plain
              - {account: full, role: Admin, name_card: Card, msg_flag: Discard,
                 muted_until: 1900000000, custom: {Dept: d1, Old: null}, join_time: 5, unread: 2}
              - {account: nulls, role: null, custom: null}
              - {account: emptycustom, custom: {}}
        """
        ),
    )
    members = load_config(path).groups[0].members
    assert members is not None
    assert members["plain"] == Member(account="plain")
    assert members["full"] == Member(
        account="full",
        role="Admin",
        name_card="Card",
        msg_flag="Discard",
        muted_until=1900000000,
        custom={"Dept": "d1", "Old": None},
        join_time=5,
        unread=2,
    )
    assert members["nulls"] == Member(account="nulls")
    assert members["emptycustom"] == Member(account="emptycustom")
    dumped = members["full"].model_dump()
    assert dumped == Member.model_validate(dumped).model_dump()
    with pytest.raises(AttributeError):
        members["plain"].name_card = "changed"  # the loaded state is read-only
