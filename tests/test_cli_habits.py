"""Terraform's command-line habits and output for machines and quiet runs: the app is named
before any prompt, only `yes` approves on a terminal, per-group results, `show` of a saved plan,
`apply --format json`, `-q`, `--no-color`, `--log-format`, and `emulator serve`'s address."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import (
    SDKAPPID,
    SERVER_KEY,
    Workspace,
    cli_env,
    cli_in_process,
    run_cli,
    sign_plan,
    split_plan,
)
from test_reliability_bad_server import fast  # noqa: F401 - a fixture

from reconciler import __version__
from reconciler.emulator.testing import free_port


def _group(gid: str, *members: str, **extra) -> dict:
    return (
        {"id": gid, "type": "Public", "name": gid, "owner": "boss"}
        | {"members": ["boss", *members]}
        | extra
    )


def test_apply_names_the_app_and_endpoint_then_reports_each_group(ws: Workspace) -> None:
    ws.write([_group("a", "m1"), _group("b", "m2")])
    run = ws.apply()
    assert run.code == 0, run
    lines = run.out.splitlines()
    assert lines[0] == f"App {SDKAPPID} at embedded emulator (.reconciler/local.sqlite3)"
    assert lines.index("+ group a (Public)") > 0
    done = [x for x in lines if re.fullmatch(r"group [ab]: done, \d+ call\(s\)", x)]
    assert len(done) == 2, lines
    assert lines[-1].startswith("Apply complete: ")


def _taken_then_missing(tmp_path: Path, *args: str):
    """An apply whose create_group answers 10021 (ID taken) and whose look-up then finds
    nothing: the group fails, with its error code."""
    from starlette.responses import JSONResponse
    from test_reliability_bad_server import cli_in_process, fake_server, missing, write

    taken = {"ActionStatus": "FAIL", "ErrorCode": 10021, "ErrorInfo": "group id used"}
    with fake_server(get_group_info=missing, create_group=lambda b: JSONResponse(taken)) as url:
        return cli_in_process("apply", write(tmp_path / "cfg", url), "--auto-approve", *args)


@pytest.mark.usefixtures("fast")
def test_apply_text_names_the_failed_group_and_call(tmp_path: Path) -> None:
    run = _taken_then_missing(tmp_path)
    assert run.code == 1, run
    failed = [x for x in run.out.splitlines() if x.startswith("group g1: FAILED at create_group")]
    assert len(failed) == 1 and "10021" in failed[0]


@pytest.mark.usefixtures("fast")
def test_apply_format_json_records_the_failure(tmp_path: Path) -> None:
    run = _taken_then_missing(tmp_path, "--format", "json")
    assert run.code == 1, run
    doc = json.loads(run.out)
    assert doc["ok"] is False and doc["failed"] == 1
    outcomes = {op["api"]: op for op in doc["operations"]}
    create = outcomes["create_group"]
    assert create["outcome"] == "failed" and create["error_code"] == 10021
    assert "10021" in create["error_message"]


def test_quiet_prints_only_the_summary_line(ws: Workspace) -> None:
    ws.write([_group("a", "m1")])
    run = ws.cli("-q", "plan", ".")
    assert run.code == 0, run
    assert run.out.splitlines() == [
        "Plan: 1 group(s) to create, 0 to update, 0 to destroy; members 2 to add, 0 to modify, "
        "0 to remove; 2 API call(s)."
    ]
    run = ws.cli("-q", "apply", ".", "--auto-approve")
    assert run.code == 0, run
    out = run.out.splitlines()
    assert len(out) == 1 and out[0].startswith("Apply complete")
    assert "group a: done" not in run.out and run.err == ""


def test_show_renders_a_saved_plan_without_the_api(ws: Workspace, tmp_path: Path) -> None:
    ws.write([_group("a", "m1", members=[{"account": "m1", "name_card": "One"}, "boss"])])
    planned = ws.plan("-o", "plan.json")
    assert planned.code == 0, planned
    ws.db.rename(tmp_path / "elsewhere.sqlite3")  # no API at all: the emulator's file is gone
    shown = ws.cli("show", "plan.json")
    assert shown.code == 0, shown
    assert shown.out == planned.out
    assert '+ member m1 (name_card "One")' in shown.out
    doc = json.loads(ws.cli("show", "plan.json", "--format", "json").out)
    assert doc["app"] == SDKAPPID and doc["tool_version"] == __version__
    assert doc["endpoint"].startswith("embedded emulator")
    added = {m["account"]: m for m in doc["changes"][0]["members"]}
    assert added["m1"]["attributes"] == {"name_card": "One"}
    md = ws.cli("show", "plan.json", "--format", "markdown").out
    assert md.startswith("## tim-reconciler plan") and f"App `{SDKAPPID}`" in md
    assert not ws.db.exists()


def test_show_refuses_what_is_not_a_plan(ws: Workspace) -> None:
    (ws.dir / "x.json").write_text("{}")
    run = ws.cli("show", "x.json")
    assert run.code == 1 and "x.json" in run.err and "not a tim-reconciler plan" in run.err


def test_apply_of_a_saved_plan_shows_what_it_applies(ws: Workspace) -> None:
    ws.write([_group("a", "m1")])
    assert ws.plan("-o", "plan.json").code == 0
    run = ws.cli("apply", "--plan", "plan.json")
    assert run.code == 0, run
    assert run.out.startswith(f"App {SDKAPPID} at embedded emulator")
    assert "+ group a (Public)" in run.out and "group a: done" in run.out


def _tty_run(args: list[str], cwd: Path, answer: str | None) -> tuple[int, str]:
    """The CLI on a pseudo-terminal: type ``answer`` when the prompt appears."""
    leader, follower = pty.openpty()
    env = cli_env(TERM="dumb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    seen, answered = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if answer is not None and not answered and b"Enter a value" in seen:
            os.write(leader, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    code = proc.wait(timeout=30)
    os.close(leader)
    return code, seen.decode(errors="replace").replace("\r\n", "\n")


def test_on_a_terminal_only_yes_approves(ws: Workspace) -> None:
    ws.write([_group("a", "m1")])
    for answer in ("y", "YES please", ""):
        code, text = _tty_run(["apply", "."], ws.dir, answer)
        assert code == 1, text
        assert f"Apply these changes to app {SDKAPPID} at embedded emulator" in text
        assert "Only 'yes' will be accepted" in text and "Not applied" in text
        assert ws.live("a") is None
    code, text = _tty_run(["apply", "."], ws.dir, "yes")
    assert code == 0, text
    # The app, the endpoint and the plan come before the question.
    assert text.index(f"App {SDKAPPID} at") < text.index("+ group a") < text.index("Enter a value")
    assert ws.live("a") is not None


def test_a_quiet_prompt_still_names_the_app_and_the_summary(ws: Workspace) -> None:
    ws.write([_group("a", "m1")])
    code, text = _tty_run(["-q", "apply", "."], ws.dir, "no")
    assert code == 1, text
    assert text.index(f"App {SDKAPPID} at") < text.index("Plan: 1 group(s) to create")
    assert "+ group a" not in text and "Enter a value" in text


def test_no_color_even_on_a_terminal(ws: Workspace) -> None:
    ws.write([_group("a", "m1")])
    env_color = {k: v for k, v in cli_env().items() if k != "NO_COLOR"}

    def plan_on_tty(*flags: str) -> str:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *flags, "plan", "."],
            cwd=ws.dir,
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env_color | {"TERM": "xterm-256color"},
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        proc.wait(timeout=60)
        os.close(leader)
        return seen.decode(errors="replace")

    assert "\x1b[" in plan_on_tty()  # coloured by default on a terminal
    assert "\x1b[" not in plan_on_tty("--no-color")


def test_log_format_json_and_text_carry_timestamps(ws: Workspace) -> None:
    ws.write([_group("a", "m1")])
    run = run_cli("--log-format", "json", "--debug", "plan", ".", cwd=ws.dir)
    assert run.code == 0, run
    records = [json.loads(line) for line in run.err.splitlines() if line.startswith("{")]
    assert records and all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]) for r in records
    )
    assert {"time", "level", "logger", "message"} == set(records[0])
    assert "usersig=" not in run.err.lower().replace("usersig=***", "")
    run = run_cli("--debug", "plan", ".", cwd=ws.dir)
    first = run.err.splitlines()[0]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z DEBUG ", first), first


def test_emulator_serve_prints_its_address_and_logs_requests_without_secrets(tmp_path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulator", "serve", "--sdkappid", str(SDKAPPID)]
        + ["--port", str(port), "--db", str(tmp_path / "e.sqlite3"), "--access-log"],
        env=cli_env(TIM_SECRET_KEY=SERVER_KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"listening on http://127.0.0.1:{port}" in line
        url = f"http://127.0.0.1:{port}"
        secret = "abc-secret-usersig"
        answer = httpx.post(
            f"{url}/v4/group_open_http_svc/get_group_info",
            params={"sdkappid": SDKAPPID, "identifier": "administrator", "usersig": secret}
            | {"random": 1, "contenttype": "json"},
            json={"GroupIdList": ["x"]},
        )
        assert answer.status_code == 200
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    logged = [x for x in err.splitlines() if "/v4/group_open_http_svc/get_group_info" in x]
    assert len(logged) == 1, err
    assert "usersig=***" in logged[0] and secret not in err
    assert " POST " in logged[0] and " 200 " in logged[0]


def test_shell_completion_as_the_docs_document_it(tmp_path) -> None:
    reconciler = Path(sys.executable).parent / "reconciler"
    env = cli_env(_RECONCILER_COMPLETE="bash_complete", COMP_WORDS="reconciler sh", COMP_CWORD="1")
    done = subprocess.run([str(reconciler)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.splitlines() == ["plain,show"], done
    page = (Path(__file__).resolve().parent.parent / "docs" / "commands.md").read_text()
    assert 'eval "$(_RECONCILER_COMPLETE=bash_source reconciler)"' in page


def test_a_plan_file_without_a_stored_view_shows_and_applies(ws: Workspace) -> None:
    """The view is made from the operations: the stored one is for other tools only."""
    ws.write([_group("a", "m1")])
    assert ws.plan("-o", "plan.json").code == 0
    _, doc = split_plan((ws.dir / "plan.json").read_bytes())
    doc["view"] = None
    (ws.dir / "plan.json").write_bytes(sign_plan(doc))
    shown = ws.cli("show", "plan.json")
    assert shown.code == 0 and "+ group a (Public)" in shown.out, shown
    run = ws.cli("apply", "--plan", "plan.json")
    assert run.code == 0, run
    assert ws.live("a") is not None


# --- flags that were accepted or misread (issue 25, item 18) -----------------------------------


@pytest.mark.parametrize(
    ("var", "said"),
    [("=prod", "the key is empty"), ("a.=1", "the key has an empty part"), (".a=1", "the key has")],
)
def test_a_var_with_an_empty_key_is_a_usage_error(tmp_path: Path, var: str, said: str) -> None:
    (tmp_path / "app.yaml").write_text(f"app:\n  sdkappid: {SDKAPPID}\ngroups: []\n")
    run = run_cli("plan", tmp_path, "--var", var)
    assert run.code == 1, run.out + run.err
    assert f"--var {var!r}: {said}" in run.err
    assert not (tmp_path / ".reconciler").exists()  # no call was made


@pytest.mark.parametrize(
    "head", [b"\xef\xbb\xbfapp:\n", b'"app":\n', b"'app' :\n"], ids=["bom", "double", "single"]
)
def test_discover_finds_an_app_key_written_any_valid_way(tmp_path: Path, head: bytes) -> None:
    config = tmp_path / "cfg"
    config.mkdir()
    body = f"  sdkappid: {SDKAPPID}\ngroups:\n  - id: g1\n    type: Public\n    nmae: G\n"
    (config / "app.yaml").write_bytes(head + body.encode())
    whole = run_cli("validate", "cfg", cwd=tmp_path)
    found = run_cli("validate", "--discover", "cfg/app.yaml", cwd=tmp_path)
    assert whole.code == found.code == 1, found.out + found.err
    assert "cfg/app.yaml:6:5: group 'g1': nmae: unknown key 'nmae'" in found.err
    assert found.err == whole.err


def test_discover_takes_a_type_directory_as_part_of_its_config(tmp_path: Path) -> None:
    """A changed file in community/ (export --layout per-group) belongs to the config above it,
    which reads it; so does one there that declares a second app section, which that config
    reports."""
    config = tmp_path / "cfg"
    (config / "community").mkdir(parents=True)
    (config / "app.yaml").write_text(f"app:\n  sdkappid: {SDKAPPID}\n")
    typo = "groups:\n  - id: '@TGS#_c'\n    type: Community\n    nmae: C\n"
    (config / "community" / "c.yaml").write_text(typo)
    whole = run_cli("validate", "cfg", cwd=tmp_path)
    found = run_cli("validate", "--discover", "cfg/community/c.yaml", cwd=tmp_path)
    assert whole.code == found.code == 1, found.out + found.err
    assert "cfg/community/c.yaml:4:5: group '@TGS#_c': nmae: unknown key 'nmae'" in found.err
    assert found.err == whole.err
    (config / "community" / "c.yaml").write_text(f"app:\n  sdkappid: {SDKAPPID}\n")
    found = run_cli("validate", "--discover", "cfg/community/c.yaml", cwd=tmp_path)
    assert found.code == 1 and "`app` is declared twice" in found.err, found.out + found.err


def test_emulator_serve_on_a_port_in_use_names_the_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        db = tmp_path / "e.sqlite3"
        run = run_cli(
            *("emulator", "serve", "--sdkappid", SDKAPPID, "--port", port, "--db", db),
            env=cli_env(TIM_SECRET_KEY=SERVER_KEY),
        )
    assert run.code == 1, run.out + run.err
    assert f"Error: cannot listen on 127.0.0.1:{port} (Address already in use)" in run.err
    assert "--port" in run.err and "This is a bug" not in run.err
    assert not db.exists()


def test_plan_never_says_nothing_was_applied(ws: Workspace) -> None:
    ws.write([_group("club", *(f"m{i:02d}" for i in range(12)))])
    ws.converge()
    ws.write([_group("club", "m00")])  # over the removal guard
    run = ws.plan()
    assert run.code == 3 and "Plan refused" in run.err, run
    assert "applied" not in run.text.lower(), run
    ws.write([{"id": "x", "type": "AVChatRoom", "name": "X", "owner": "boss"}])
    ws.apply()
    ws.write([{"id": "x", "type": "AVChatRoom", "name": "X", "owner": "other"}])  # a plan error
    run = ws.plan()
    assert run.code == 1 and "error(s)" in run.err and "applied" not in run.text.lower(), run


def test_the_apply_time_leaves_out_the_prompt(ws: Workspace, monkeypatch) -> None:
    import click

    ws.write([_group("a", "m1")])

    def slow_yes(*args, **kwargs) -> str:
        time.sleep(2)
        return "yes"

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(click, "prompt", slow_yes)
    run = ws.cli("apply", ".")
    assert run.code == 0, run
    seconds = float(re.search(r"call\(s\) in ([0-9.]+) s", run.out)[1])
    assert seconds < 2, run


def test_a_lock_held_too_long_names_the_whole_command_that_breaks_it(ws: Workspace) -> None:
    from conftest import seed_lease

    from reconciler.lock import Lease

    ws.write([_group("a", "m1")])
    (ws.dir / "v").mkdir()
    (ws.dir / "v" / "prod.yaml").write_text("x: 1\n")
    now = int(time.time())
    ws.store().close()
    seed_lease(ws.db, Lease("ci@runner (apply)", "runner", 7, "t" * 16, now, now + 600))
    run = ws.cli("apply", ".", "--values", "v/prod.yaml", "--lock-timeout", "0", "--auto-approve")
    assert run.code == 1, run
    assert "break the lock with: reconciler lock . --values v/prod.yaml --break" in run.err, run


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "infinity"])
@pytest.mark.parametrize(
    "args",
    [
        ("watch", ".", "--resync"),
        ("watch", ".", "--lock-timeout"),
        ("watch", ".", "--ready-factor"),
        ("watch", ".", "--stop-grace"),
        ("apply", ".", "--lock-timeout"),
        ("emulator", "serve", "--sdkappid", "1", "--latency-ms"),
        ("emulator", "serve", "--sdkappid", "1", "--rate-limit"),
        ("emulator", "serve", "--sdkappid", "1", "--fault-rate"),
    ],
)
def test_numeric_flags_refuse_nan_and_infinity(tmp_path: Path, args: tuple, value: str) -> None:
    run = cli_in_process(*args, value, cwd=tmp_path)
    assert run.code == 1, run
    assert f"Invalid value for '{args[-1]}'" in run.err, run
    assert "not a finite number" in run.err or "not in the range" in run.err, run
