"""Every validation rule: its message, and the line:col it points at."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.config import ConfigError, load_config

HEAD = "app:\n  sdkappid: 1400000000\ngroups:\n"  # groups start on line 4


def text_of(groups: str) -> str:
    """Group items indented by two spaces (triple-quoted blocks are dedented first)."""
    text = textwrap.dedent(groups)
    return text if text.startswith("  ") else textwrap.indent(text, "  ")


def problems(tmp_path: Path, groups: str) -> list[tuple[int, int, str]]:
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + text_of(groups), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    out = []
    for issue in err.value.issues:
        assert issue.location is not None and issue.location.file == str(path)
        assert str(issue).startswith(f"{path}:{issue.location.line}:{issue.location.col}: ")
        out.append((issue.location.line, issue.location.col, issue.message))
    return out


def only(tmp_path: Path, groups: str) -> tuple[int, int, str]:
    found = problems(tmp_path, groups)
    assert len(found) == 1, found
    return found[0]


def loads(tmp_path: Path, groups: str):
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + text_of(groups), encoding="utf-8")
    return load_config(path)


# --- keys and types -------------------------------------------------------------------------


def test_unknown_group_key_suggests(tmp_path: Path) -> None:
    assert only(tmp_path, "  - id: g\n    type: Public\n    nme: x\n") == (
        6,
        5,
        "group 'g': nme: unknown key 'nme'; did you mean 'name'?",
    )


def test_unknown_member_key_suggests(tmp_path: Path) -> None:
    found = only(
        tmp_path,
        "  - id: g\n    type: Public\n    members:\n      - account: a\n        rol: Admin\n",
    )
    assert found == (8, 9, "group 'g': members[0].rol: unknown key 'rol'; did you mean 'role'?")


def test_unknown_key_without_a_close_match_lists_allowed(tmp_path: Path) -> None:
    line, col, message = only(tmp_path, "  - id: g\n    type: Public\n    zzz: 1\n")
    assert (line, col) == (6, 5)
    assert message.startswith("group 'g': zzz: unknown key 'zzz'; allowed keys: id, type, state")


def test_wrong_type_says_what_was_found(tmp_path: Path) -> None:
    assert only(tmp_path, "  - id: g\n    type: Public\n    name: 123\n") == (
        6,
        11,
        "group 'g': name: expected a string, got a number 123; quote it if you meant the text: "
        "'123'",
    )


def test_numeric_member_must_be_quoted(tmp_path: Path) -> None:
    assert only(tmp_path, "  - id: g\n    type: Public\n    members:\n      - 10001\n") == (
        7,
        9,
        "group 'g': members[0]: a member is an account ID or a mapping with `account:`; got a "
        "number 10001; quote it if you meant the text: '10001'",
    )


def test_choice_suggests(tmp_path: Path) -> None:
    assert only(tmp_path, "  - id: g\n    type: Public\n    apply_join: FreeAcess\n") == (
        6,
        17,
        "group 'g': apply_join: 'FreeAcess' is not allowed; expected 'FreeAccess', "
        "'NeedPermission' or 'DisableApply'; did you mean 'FreeAccess'?",
    )


def test_missing_required_keys(tmp_path: Path) -> None:
    assert problems(tmp_path, "  - name: x\n  - id: g\n") == [
        (4, 5, "groups[0]: missing required key 'id'"),
        (4, 5, "groups[0]: missing required key 'type'"),
        (5, 5, "group 'g': missing required key 'type'"),
    ]


def test_member_mapping_needs_account(tmp_path: Path) -> None:
    assert only(tmp_path, "  - id: g\n    type: Public\n    members:\n      - role: Admin\n") == (
        7,
        9,
        "group 'g': members[0]: missing required key 'account'",
    )


def test_custom_values_are_strings(tmp_path: Path) -> None:
    assert only(tmp_path, "  - id: g\n    type: Public\n    custom: {Level: 3}\n") == (
        6,
        21,
        "group 'g': custom.Level: expected a string, got a number 3; quote it if you meant the "
        "text: '3'",
    )


def test_groups_must_be_a_list(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("app: {sdkappid: 1}\ngroups:\n  id: g\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert [str(i) for i in err.value.issues] == [
        f"{path}:3:3: groups: expected a list of groups (each item starting with `- id:`)"
    ]


# --- duplicates -----------------------------------------------------------------------------


def test_duplicate_group_id_in_one_file(tmp_path: Path) -> None:
    assert only(tmp_path, "  - id: g\n    type: Public\n  - id: g\n    type: Work\n") == (
        6,
        9,
        "group ID 'g' is declared twice: here and at line 4; group IDs must be unique across all "
        "files",
    )


def test_duplicate_member(tmp_path: Path) -> None:
    found = only(
        tmp_path,
        "  - id: g\n    type: Public\n    members:\n      - a\n      - b\n      - account: a\n",
    )
    assert found == (
        9,
        9,
        "group 'g': member 'a' is listed twice (first at line 7); keep one entry",
    )


def test_duplicate_account_in_a_mark(tmp_path: Path) -> None:
    found = only(
        tmp_path, "  - id: live\n    type: AVChatRoom\n    marks:\n      1000: [a, b, a]\n"
    )
    assert found == (
        7,
        20,
        "group 'live': 'a' is listed twice under mark 1000 (first at line 7); keep one",
    )


# --- byte limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "limit", "text"),
    [
        ("name", 30, "班" * 11),  # 33 bytes, 11 characters
        ("introduction", 240, "x" * 241),
        ("notification", 300, "é" * 151),  # 302 bytes
        ("face_url", 100, "https://e.com/" + "x" * 90),
    ],
)
def test_group_text_limits_are_utf8_bytes(tmp_path: Path, key: str, limit: int, text: str) -> None:
    size = len(text.encode())
    line, col, message = only(tmp_path, f"  - id: g\n    type: Public\n    {key}: {text}\n")
    assert (line, col) == (6, len(key) + 7)
    assert message.startswith(f"group 'g': {key} is {size} bytes; at most {limit} bytes (UTF-8")


def test_text_at_the_limit_is_fine(tmp_path: Path) -> None:
    config = loads(tmp_path, f"  - id: g\n    type: Public\n    name: {'班' * 10}\n")
    assert config.groups[0].name == "班" * 10


def test_name_card_limit(tmp_path: Path) -> None:
    line, col, message = only(
        tmp_path,
        "  - id: g\n    type: Public\n    members:\n      - account: a\n"
        f"        name_card: {'名' * 17}\n",
    )
    assert (line, col) == (8, 20)
    assert message == "group 'g': members[0] ('a'): name_card is 51 bytes; at most 50 bytes (UTF-8)"


def test_account_limits(tmp_path: Path) -> None:
    long = "u" * 33
    found = problems(
        tmp_path,
        f"  - id: g\n    type: Public\n    owner: {long}\n    members:\n"
        f"      - ok\n      - {long}\n"
        "      - account: ''\n",
    )
    assert found == [
        (6, 12, f"group 'g': owner: account ID '{long}' is 33 bytes; at most 32"),
        (9, 9, f"group 'g': members[1]: account ID '{long}' is 33 bytes; at most 32"),
        (10, 18, "group 'g': members[2]: account ID is empty"),
    ]


def test_group_id_rules(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        f"""\
          - id: {"x" * 49}
            type: Public
          - id: 班级
            type: Public
          - id: '@TGS#_c1'
            type: Public
          - id: plain
            type: Community
          - id: '@TGS#2J4SZEAEL'
            type: Public
          - id: '@TGS#_ok'
            type: Community
        """,
    )
    assert found == [
        (4, 9, f"group '{'x' * 49}': group ID '{'x' * 49}' is 49 bytes; at most 48"),
        (
            6,
            9,
            "group '班级': group ID '班级' contains '班' (U+73ED): IDs are printable ASCII "
            "(0x20-0x7e: letters, digits, punctuation, space); remove other characters",
        ),
        (
            8,
            9,
            "group '@TGS#_c1': IDs starting with @TGS#_ are Community IDs; this group's type "
            "is Public",
        ),
        (10, 9, "group 'plain': Community group IDs must start with @TGS#_ (e.g. '@TGS#_plain')"),
    ]


# --- group types ----------------------------------------------------------------------------


def test_avchatroom_rules(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
          - id: live
            type: AVChatRoom
            max_members: 100
            invite_join: FreeAccess
            members: [a]
        """,
    )
    assert found == [
        (
            6,
            5,
            "group 'live': AVChatRoom groups have no member limit (max_members is ignored by "
            "the API); remove it",
        ),
        (7, 5, "group 'live': invite_join does not apply to AVChatRoom groups; remove it"),
        (
            8,
            5,
            "group 'live': AVChatRoom groups have no member list (members join through the "
            "client SDK); remove `members` (use `marks` to mark online members)",
        ),
    ]


def test_marks_only_on_avchatroom(tmp_path: Path) -> None:
    assert only(tmp_path, "  - id: g\n    type: Meeting\n    marks: {1000: [a]}\n") == (
        6,
        5,
        "group 'g': marks are for AVChatRoom groups only (this group is Meeting); remove `marks`",
    )


def test_no_apply_join_on_community(tmp_path: Path) -> None:
    assert only(
        tmp_path, "  - id: '@TGS#_c'\n    type: Community\n    apply_join: FreeAccess\n"
    ) == (6, 5, "group '@TGS#_c': apply_join does not apply to Community groups; remove it")


def test_no_muting_in_work_groups(tmp_path: Path) -> None:
    found = only(
        tmp_path,
        "  - id: w\n    type: Work\n    members:\n      - account: a\n"
        "        muted_until: 2026-12-01T00:00:00Z\n"
        "      - account: b\n        muted_until: null\n",
    )
    assert found == (
        8,
        22,
        "group 'w': members[0] ('a'): members of Work groups cannot be muted; remove muted_until "
        "(or use a Public or Meeting group)",
    )


# --- marks ----------------------------------------------------------------------------------


def test_mark_values(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "  - id: live\n    type: AVChatRoom\n    marks:\n      999: [a]\n      500: [b]\n"
        "      600: [c]\n      1000: [d]\n",
    )
    assert found == [
        (
            7,
            7,
            "group 'live': mark 999 is not valid: custom marks are numbers >= 1000; 500 and "
            "600 are the special marks",
        ),
    ]


def test_at_most_ten_marks(tmp_path: Path) -> None:
    marks = "".join(f"      {1000 + i}: [a]\n" for i in range(11))
    assert only(tmp_path, f"  - id: live\n    type: AVChatRoom\n    marks:\n{marks}") == (
        7,
        7,
        "group 'live': 11 distinct marks; at most 10 per group - merge or drop some",
    )


def test_at_most_a_thousand_accounts_per_mark(tmp_path: Path) -> None:
    accounts = ", ".join(f"u{i}" for i in range(1001))
    assert only(
        tmp_path, f"  - id: live\n    type: AVChatRoom\n    marks:\n      1000: [{accounts}]\n"
    ) == (
        7,
        7,
        "group 'live': mark 1000 has 1001 accounts; at most 1000 per mark",
    )


# --- counts, owner, protection, time ---------------------------------------------------------


def test_max_members_below_declared_members_plus_owner(tmp_path: Path) -> None:
    assert only(
        tmp_path,
        "  - id: g\n    type: Public\n    owner: t\n    max_members: 2\n    members: [a, b]\n",
    ) == (
        7,
        18,
        "group 'g': max_members 2 is below the 3 members declared (2 listed + the owner); raise "
        "it to at least 3 or list fewer members",
    )
    # The owner listed among the members counts once.
    config = loads(
        tmp_path,
        "  - id: g\n    type: Public\n    owner: t\n    max_members: 2\n    members: [t, b]\n",
    )
    assert config.groups[0].max_members == 2


def test_owner_with_another_role(tmp_path: Path) -> None:
    assert only(
        tmp_path,
        "  - id: g\n    type: Public\n    owner: t\n    members:\n"
        "      - account: t\n        role: Admin\n",
    ) == (
        9,
        15,
        "group 'g': members[0] ('t'): this account is the group owner (`owner:` at line 6); "
        "remove `role` or set it to Owner",
    )
    config = loads(
        tmp_path,
        "  - id: g\n    type: Public\n    owner: t\n    members:\n"
        "      - account: t\n        role: Owner\n",
    )
    assert config.groups[0].members["t"].role == "Owner"


def test_role_owner_points_at_owner(tmp_path: Path) -> None:
    assert only(
        tmp_path,
        "  - id: g\n    type: Public\n    owner: t\n    members:\n"
        "      - account: s\n        role: Owner\n",
    ) == (
        9,
        15,
        "group 'g': members[0] ('s'): role Owner is set with the group's `owner:` field (at line "
        "6, now 't'); change `owner:` to transfer ownership and remove this role",
    )
    assert only(
        tmp_path,
        "  - id: g\n    type: Public\n    members:\n      - account: s\n        role: Owner\n",
    ) == (
        8,
        15,
        "group 'g': members[0] ('s'): role Owner is set with the group's `owner:` field, not in "
        "members; write `owner: s` and remove the role",
    )


def test_protected_group_cannot_be_absent(tmp_path: Path) -> None:
    assert only(
        tmp_path, "  - id: g\n    type: Public\n    protect: true\n    state: absent\n"
    ) == (
        7,
        12,
        "group 'g': a protected group cannot be absent; set protect: false first if the group "
        "must really be destroyed",
    )


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("2026-12-01T00:00:00", "has no time zone; add one, e.g. 2026-12-01T00:00:00Z"),
        ("2026-12-01", "is a date; muted_until needs a date-time with a zone"),
        ("'next friday'", "is not a date-time; write it like 2026-12-01T00:00:00Z"),
        ("-5", "is before 1970"),
    ],
)
def test_muted_until_errors(tmp_path: Path, written: str, fragment: str) -> None:
    line, col, message = only(
        tmp_path,
        "  - id: g\n    type: Public\n    members:\n      - account: a\n"
        f"        muted_until: {written}\n",
    )
    assert (line, col) == (8, 22)
    assert message.startswith("group 'g': members[0].muted_until: ")
    assert fragment in message


# --- all issues at once ---------------------------------------------------------------------


def test_every_issue_is_reported_even_inside_a_group_with_type_errors(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
          - id: g
            type: Public
            name: 这个名字对于一个群来说实在是太长了
            max_members: lots
            members:
              - account: a
                role: Admn
              - b
              - b
          - id: h
            type: Work
            nme: x
        """,
    )
    assert [(line, col) for line, col, _ in found] == [(6, 11), (7, 18), (10, 15), (12, 9), (15, 5)]
    assert "name is 51 bytes" in found[0][2]
    assert "max_members: expected a whole number" in found[1][2]
    assert "did you mean 'Admin'?" in found[2][2]
    assert "member 'b' is listed twice (first at line 11)" in found[3][2]
    assert "did you mean 'name'?" in found[4][2]
