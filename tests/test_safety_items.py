"""The safety findings, one test each: exit code, the place named in the message, and no API
call (the emulator's state file is neither created nor changed)."""

import hashlib
import os
import sqlite3

import pytest
from test_safety_hostile import run, write

from reconciler.emulator import rules as R
from reconciler.emulator.errors import ApiError

APP = "app:\n  sdkappid: 1400000000\n"
STATE = ".reconciler/local.sqlite3"
# Configs that are applied first need their accounts made (one line more than APP).
APPLIED_APP = APP + "  create_missing_accounts: true\n"


def state(tmp_path):
    path = tmp_path / STATE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def group(members: str, gid: str = "g1", extra: str = "") -> str:
    head = f"{APPLIED_APP}groups:\n  - id: {gid}\n    type: Public\n    name: A\n"
    return f"{head}{extra}    members: {members}\n"


def applied(tmp_path, capsys, text):
    (tmp_path / "c.yaml").write_text(text)
    code, out, err = run(capsys, "apply", str(tmp_path), "--auto-approve")
    assert code == 0, err
    return state(tmp_path)


def refused(tmp_path, capsys, where, message, *args, command="apply"):
    before = state(tmp_path)
    extra = ["--auto-approve"] if command == "apply" else []
    code, out, err = run(capsys, command, str(tmp_path), *extra, *args)
    assert code == 1, out + err
    lines = err.replace(f"{tmp_path}/", "").splitlines()
    assert any(line.startswith(where) and message in line for line in lines), err
    assert "unexpected" not in err and "Traceback" not in err
    assert state(tmp_path) == before  # nothing was written: no API call was made
    return err


# 1. A NUL byte no longer hides the members after it.
def test_1_nul_byte_is_refused_and_nobody_is_removed(tmp_path, capsys):
    applied(tmp_path, capsys, group("[a, b, c, d]"))
    (tmp_path / "c.yaml").write_bytes(group("[a, b\x00, c, d]").encode())
    refused(tmp_path, capsys, "c.yaml:8:19", "a NUL byte (0x00) is not allowed")
    code, out, err = run(capsys, "validate", str(tmp_path))
    assert code == 1 and "OK" not in out


# 3. A template cannot hang CI.
def test_3_exploding_arithmetic_is_refused(tmp_path, capsys):
    write(
        tmp_path,
        {"c.yaml.j2": group("[a]", extra='    introduction: "{{ (7 ** 123456789) % 10 }}"\n')},
    )
    refused(tmp_path, capsys, "c.yaml.j2:8:20", "too large for a template")


def test_3_render_time_is_budgeted(tmp_path, capsys, monkeypatch):
    from reconciler.config import templating

    monkeypatch.setattr(templating, "RENDER_SECONDS", 0.5)
    loops = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    write(tmp_path, {"c.yaml.j2": APP + loops + "\n"})
    refused(tmp_path, capsys, "c.yaml.j2:3:", "the template ran for more than 0.5 s")


def test_3_render_output_is_budgeted(tmp_path, capsys, monkeypatch):
    from reconciler.config import templating

    monkeypatch.setattr(templating, "RENDER_MAX_CHARS", 1000)
    write(tmp_path, {"c.yaml.j2": APP + "# {% for i in range(1000) %}xx{% endfor %}\n"})
    refused(tmp_path, capsys, "c.yaml.j2:", "output is over 1,000 characters")


# 4. Two spellings of one mark are not merged silently.
def test_4_duplicate_marks_are_refused(tmp_path, capsys):
    text = (
        APP
        + 'groups:\n  - id: live\n    type: AVChatRoom\n    marks: {1000: [alice], "1000": [bob]}\n'
    )
    (tmp_path / "c.yaml").write_text(text)
    refused(tmp_path, capsys, "c.yaml:6:12", "group 'live': marks: mark 1000 is declared twice")


# 5. Values past the API's bounds fail in validate, not after API calls.
@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ("  - id: g1\n    type: Public\n    max_members: 7000\n", "c.yaml:6:18", "(6,000)"),
        (
            "  - id: g1\n    type: Public\n    max_members: 99999999999999999999\n",
            "c.yaml:6:18",
            "less than or equal to 100000",
        ),
        (
            "  - id: g1\n    type: Public\n    members:\n      - account: a\n"
            "        join_time: 99999999999999999999\n",
            "c.yaml:8:20",
            "4294967295",
        ),
        (
            "  - id: g1\n    type: Public\n    members:\n      - account: a\n"
            "        muted_until: 99999999999999999999\n",
            "c.yaml:8:22",
            "after 2106",
        ),
        (
            "  - id: live\n    type: AVChatRoom\n    marks: {99999999999999999999: [a]}\n",
            "c.yaml:6:13",
            "marks are whole numbers",
        ),
    ],
)
def test_5_values_beyond_the_api_bounds(tmp_path, capsys, body, where, message):
    (tmp_path / "c.yaml").write_text(APP + "groups:\n" + body)
    refused(tmp_path, capsys, where, message)


@pytest.mark.parametrize(
    ("app", "where", "message"),
    [
        ("  sdkappid: 99999999999999999999\n", "c.yaml:2:13", "9223372036854775807"),
        ("  sdkappid: true\n", "c.yaml:2:13", "expected a whole number, got a boolean"),
        ("  sdkappid: 1400000000\n  rate_limit: .inf\n", "c.yaml:3:15", "finite"),
    ],
)
def test_5_app_bounds(tmp_path, capsys, app, where, message):
    (tmp_path / "c.yaml").write_text("app:\n" + app)
    refused(tmp_path, capsys, where, message)


# 6. One group ID rule: "space " is a valid custom ID (printable ASCII) and converges.
def test_6_group_id_with_a_trailing_space_converges(tmp_path, capsys):
    applied(tmp_path, capsys, group("[a, b]", gid='"space "'))
    code, out, err = run(capsys, "plan", str(tmp_path), "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes" in out


def test_6_invalid_group_ids_are_refused_in_config_and_emulator(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(group("[a]", gid='"tab\\there"'))
    refused(tmp_path, capsys, "c.yaml:5:9", "group ID 'tab\\there' contains '\\t'")
    for bad in ("tab\there", "é", "x" * 49, ""):
        assert not R.well_formed_group_id(bad)
        with pytest.raises(ApiError):
            R.group_id_param({"GroupId": bad})
        with pytest.raises(ApiError):
            R.check_custom_group_id(bad, R.PUBLIC)
    assert R.group_id_param({"GroupId": "space "}) == "space "


# 7. Accounts follow the documented UserID rule in config and emulator alike.
def test_7_non_ascii_and_control_accounts(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(group('[ok, "jos\u00e9", "bel\\u0007"]'))
    err = refused(tmp_path, capsys, "c.yaml:8:19", "account ID 'josé' contains 'é'")
    assert "c.yaml:8:27:" in err.replace(f"{tmp_path}/", "")
    for bad in ("josé", "bel\x07", "a" * 33):
        assert not R.valid_user_id(bad)
        with pytest.raises(ApiError):
            R.check_user_id(bad)


# 8. Types are exactly the schema's.
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('protect: "off"', "expected true or false, got a string 'off'"),
        ('mute_all: "yes"', "expected true or false, got a string 'yes'"),
        ("protect: 1", "expected true or false, got a number 1"),
        ('max_members: "50"', "expected a whole number, got a string '50'"),
        ("max_members: 50.0", "expected a whole number, got a number 50.0"),
    ],
)
def test_8_no_lax_coercion(tmp_path, capsys, line, message):
    (tmp_path / "c.yaml").write_text(group("[a]", extra=f"    {line}\n"))
    refused(tmp_path, capsys, "c.yaml:8:", message)


def test_8_sdkappid_string(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text('app:\n  sdkappid: "1400000001"\n')
    refused(tmp_path, capsys, "c.yaml:2:13", "expected a whole number, got a string")


# 9. Symlinks and special files.
def test_9_symlink_out_of_the_directory_is_not_read(tmp_path, capsys):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2\n")
    write(
        cfg, {"app.yaml": APP, "a.yaml": ("link", str(secret)), "b.yaml.j2": ("link", str(secret))}
    )
    code, out, err = run(capsys, "plan", str(cfg))
    assert code == 1
    assert f"{cfg}/a.yaml:1:1: a symlink to a file outside the config directory" in err
    assert f"{cfg}/b.yaml.j2:1:1: a symlink to a file outside the config directory" in err
    assert "hunter2" not in err + out and "unexpected" not in err
    assert not (cfg / ".reconciler").exists()


def test_9_special_files_and_values(tmp_path, capsys):
    write(tmp_path, {"c.yaml": APP, "dangling.yaml": ("link", "gone.yaml")})
    refused(tmp_path, capsys, "dangling.yaml:1:1", "dangling symlink", command="plan")
    code, _, err = run(capsys, "validate", "/dev/null")
    assert code == 1 and "/dev/null:1:1: a device, not a regular file" in err
    (tmp_path / "dangling.yaml").unlink()
    fifo = tmp_path / "values.fifo"
    os.mkfifo(fifo)
    for values, where, what in (
        ("/dev/zero", "/dev/zero:1:1", "a device"),
        (str(fifo), "values.fifo:1:1", "a FIFO"),
    ):
        refused(tmp_path, capsys, where, what, "--values", values, command="plan")


def test_9_values_file_size_cap(tmp_path, capsys, monkeypatch):
    from reconciler.config import loader

    monkeypatch.setattr(loader, "VALUES_MAX_BYTES", 100)
    (tmp_path / "c.yaml").write_text(APP)
    big = tmp_path.parent / f"{tmp_path.name}-values.yaml"
    big.write_text("x: " + "y" * 200 + "\n")
    refused(tmp_path, capsys, f"{big}:1:1", "at most 100 bytes", "--values", str(big))


# 10. local_db is the emulator's own file or a new one.
@pytest.mark.parametrize("kind", ["text", "foreign-sqlite", "directory", "devnull", "no-dir"])
def test_10_local_db_must_be_the_emulators(tmp_path, capsys, kind):
    target = tmp_path / "target"
    if kind == "text":
        target.write_text("root:x:0:0:root:/root:/bin/sh\n")
    elif kind == "foreign-sqlite":
        conn = sqlite3.connect(target)
        conn.execute("CREATE TABLE t(x)")
        conn.commit()
        conn.close()
    elif kind == "directory":
        target.mkdir()
    elif kind == "devnull":
        target = "/dev/null"
    else:
        target = tmp_path.parent / f"{tmp_path.name}-absent" / "dir" / "x.sqlite3"
    (tmp_path / "c.yaml").write_text(f"{APP}  local_db: {target}\ngroups: []\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    data = target.read_bytes() if kind in ("text", "foreign-sqlite") else None
    code, out, err = run(capsys, "plan", str(tmp_path))
    assert code == 1
    assert f"Error: local_db {target}:" in err and "This is a bug" not in err
    if data is not None:
        assert target.read_bytes() == data
    after = sorted(p.name for p in tmp_path.rglob("*"))
    assert after == before  # no -wal/-shm beside it, no directories made
    assert not (tmp_path.parent / f"{tmp_path.name}-absent").exists()


def test_10_a_new_store_is_marked_and_reopened(tmp_path, capsys):
    applied(tmp_path, capsys, group("[a]"))
    conn = sqlite3.connect(tmp_path / STATE)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x54494D52
    conn.close()
    code, out, _ = run(capsys, "plan", str(tmp_path))
    assert code == 0 and "No changes" in out


# 11. Aliases are limited by the bytes they produce.
def test_11_alias_amplification(tmp_path, capsys):
    big = "x" * 100_000
    text = (
        APP
        + f"big: &b {big}\ngroups:\n  - id: g\n    type: Public\n    custom:\n"
        + "".join(f"      k{i}: *b\n" for i in range(5000))
    )
    (tmp_path / "c.yaml").write_text(text)
    refused(tmp_path, capsys, "c.yaml:", "too much alias expansion")


def test_11_small_aliases_still_work(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(
        APP + "groups:\n  - id: a\n    type: Public\n    members: &staff [t1, t2]\n"
        "  - id: b\n    type: Public\n    members: *staff\n"
    )
    code, out, _ = run(capsys, "validate", str(tmp_path))
    assert code == 0 and "4 membership(s)" in out


# 12. Every tag is refused, wherever it is.
@pytest.mark.parametrize(
    ("line", "col"), [("name: &n !foo bar", 14), ('"a#b": !foo bar', 12), ("name: !!str x", 11)]
)
def test_12_tags_in_config(tmp_path, capsys, line, col):
    (tmp_path / "c.yaml").write_text(f"{APP}groups:\n  - id: g\n    type: Public\n    {line}\n")
    refused(tmp_path, capsys, f"c.yaml:6:{col}", "is not allowed: configs are plain data")


def test_12_tags_in_values_files(tmp_path, capsys):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "c.yaml.j2").write_text(APP + "# {{ school }}\n")
    values = tmp_path / "values.yaml"
    values.write_text("school: &s !secret Hillside\n")
    refused(cfg, capsys, f"{values}:1:12", "tag !secret", "--values", str(values))


# 13. Errors at the right place.
@pytest.mark.parametrize(
    ("name", "text", "where", "message"),
    [
        ("c.yaml", APP + "groups: []\n---\ngroups: []\n", "c.yaml:4:1", "second YAML document"),
        (
            "c.yaml",
            APP + "groups:\n  - id: g\n    type: Public\n    ? [a]\n    : 1\n",
            "c.yaml:6:7",
            "a key must be a plain value",
        ),
        (
            "c.yaml",
            APP + "groups:\n  - id: g\n    type: AVChatRoom\n    marks: {1000: [a], 1000.0: [b]}\n",
            "c.yaml:6:24",
            "duplicate key '1000.0' (first at line 6)",
        ),
        (
            "c.yaml.j2",
            APP + "groups:\n  - id: g\n    type: Public\n    name: '{{ 10 ** 5000 }}'\n",
            "c.yaml.j2:6:12",
            "too large for a template",
        ),
        (
            "c.yaml.j2",
            APP + "groups:\n  - id: g\n    type: Public\n    name: \"{{ '\\ud800' }}\"\n",
            "c.yaml.j2:6:12",
            "lone surrogate",
        ),
    ],
)
def test_13_located_errors(tmp_path, capsys, name, text, where, message):
    (tmp_path / name).write_text(text)
    refused(tmp_path, capsys, where, message)


def test_13_plan_out_directory_is_checked_before_observing(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(group("[a]"))
    code, out, err = run(capsys, "plan", str(tmp_path), "--out", str(tmp_path / "no" / "p.json"))
    assert code == 1 and f"the directory {tmp_path / 'no'} does not exist" in err
    assert not (tmp_path / ".reconciler").exists()  # no observe happened


# Issue 25, 13: bans are removals. Banning the owner or the app admin identifier is refused like
# removing them; a protected room never bans.
def room(extra: str) -> str:
    head = f"{APPLIED_APP}groups:\n  - id: live1\n    type: AVChatRoom\n    name: Live\n"
    return head + extra


BAN = "      {}: 2030-01-01T00:00:00Z\n"


@pytest.mark.parametrize(
    ("extra", "where", "message"),
    [
        (
            "    owner: host1\n    banned:\n" + BAN.format("host1"),
            "c.yaml:10:7",
            "group 'live1': bans its own owner 'host1' (`owner:` at line 8)",
        ),
        (
            "    banned:\n" + BAN.format("spam") + BAN.format("administrator"),
            "c.yaml:10:7",
            "group 'live1': bans the app admin identifier 'administrator' (app.admin)",
        ),
    ],
)
def test_25_13_validate_refuses_a_room_banning_its_owner_or_the_admin(
    tmp_path, capsys, extra, where, message
):
    applied(tmp_path, capsys, room("    owner: host1\n"))
    (tmp_path / "c.yaml").write_text(room(extra))
    refused(tmp_path, capsys, where, message)
    refused(tmp_path, capsys, where, message, "--force")
    refused(tmp_path, capsys, where, message, command="validate")


def guarded(tmp_path, capsys, command, message, *args):
    """``command`` exits 3 with ``message`` and the emulator's file is unchanged."""
    before = state(tmp_path)
    extra = ["--auto-approve"] if command == "apply" else []
    code, out, err = run(capsys, command, str(tmp_path), *extra, *args)
    assert code == 3, out + err
    assert message in out + err
    # apply says that nothing was applied; plan, which applies nothing anyway, does not
    assert ("Nothing was applied" in err) == (command == "apply"), err
    assert state(tmp_path) == before


def test_25_13_banning_the_live_owner_is_refused_unless_forced(tmp_path, capsys):
    applied(tmp_path, capsys, room("    owner: host1\n"))
    (tmp_path / "c.yaml").write_text(room("    banned:\n" + BAN.format("host1")))  # no owner:
    message = "Refused: group live1: would ban the group owner 'host1' (override with --force)"
    guarded(tmp_path, capsys, "plan", message)
    guarded(tmp_path, capsys, "apply", message)
    code, out, err = run(capsys, "plan", str(tmp_path), "--force")
    assert code == 0 and "- ban host1 until 2030-01-01T00:00:00Z" in out, out + err


def test_25_13_a_protected_room_never_bans(tmp_path, capsys):
    applied(tmp_path, capsys, room("    owner: host1\n    protect: true\n"))
    (tmp_path / "c.yaml").write_text(
        room("    owner: host1\n    protect: true\n    banned:\n" + BAN.format("spam"))
    )
    message = "Refused: group live1: group is protected (protect: true): 1 ban(s) refused"
    guarded(tmp_path, capsys, "plan", message)
    guarded(tmp_path, capsys, "apply", message, "--force")
