"""Security: secrets never leave the process; templates stay in their sandbox and their
directory; remote endpoints are https; the emulator checks every UserSig."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import httpx
import pytest
from conftest import (
    ADMIN,
    SDKAPPID,
    Run,
    Server,
    cli_env,
    cli_in_process,
    dump_yaml,
    run_cli,
    start_server,
    stop_process,
)

from reconciler.emulator import EmulatorStore
from reconciler.emulator.testing import RestCaller
from reconciler.tim.usersig import generate

# A UserSig is base64url of zlib data: it starts with "eJ" and is long.
USERSIG_LIKE = re.compile(r"eJ[A-Za-z0-9_*\-]{60,}")
USERSIG_PARAM = re.compile(r"usersig=(?!\*\*\*)[^&\s\"'<>]+", re.IGNORECASE)


def scan(text: str, key: str, where: str) -> None:
    assert key not in text, f"secret key in {where}"
    assert not USERSIG_PARAM.search(text), f"usersig in {where}: {USERSIG_PARAM.search(text)}"
    assert not USERSIG_LIKE.search(text), f"UserSig-like token in {where}"
    # The UserSig made now (and in the last minute) for the admin: not anywhere.
    import time

    for delta in range(0, 120):
        sig = generate(SDKAPPID, key, ADMIN, expire=86400, now=int(time.time()) - delta)
        assert sig not in text, f"current UserSig in {where}"
        assert sig[:40] not in text


def groups_doc() -> list[dict]:
    return [
        {
            "id": "sec-pub",
            "type": "Public",
            "name": "Sec",
            "owner": "boss",
            "members": ["boss", {"account": "a", "name_card": "A"}, "b"],
        },
        {"id": "@TGS#_sec", "type": "Community", "name": "C", "members": ["a"]},
        {"id": "sec-av", "type": "AVChatRoom", "name": "AV", "marks": {1000: ["a"]}},
        {"id": "sec-old", "type": "Work", "state": "absent"},
    ]


def test_no_secret_or_usersig_in_any_output_or_file(server: Server, tmp_path: Path) -> None:
    store = EmulatorStore(server.db)
    store.seed([{"GroupId": "sec-old", "Type": "Private", "Name": "Old", "Owner_Account": "x"}])
    store.close()
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    app = {"sdkappid": SDKAPPID, "endpoint": server.url, "create_missing_accounts": True}
    (cfg / "groups.yaml").write_text(dump_yaml({"app": app, "groups": groups_doc()}))
    env = server.env()
    plan_file = tmp_path / "plan.json"
    export_file = tmp_path / "export.yaml"
    export_dir = tmp_path / "exported"
    schema_file = tmp_path / "schema.json"
    runs: dict[str, Run] = {}
    commands = {
        "validate": ["validate", cfg],
        "plan-text": ["plan", cfg],
        "plan-json": ["plan", cfg, "--format", "json"],
        "plan-markdown": ["plan", cfg, "--format", "markdown"],
        "plan-o": ["plan", cfg, "-o", plan_file],
        "apply-plan": ["apply", "--plan", plan_file, "--allow-destroy"],
        "apply": ["apply", cfg, "--auto-approve", "--allow-destroy"],
        "export-file": ["export", cfg, "--all", "-o", export_file],
        "export-dir": ["export", cfg, "--all", "-o", export_dir],
        "export-stdout": ["export", cfg, "--group", "sec-pub"],
        "schema": ["schema", "-o", schema_file],
        "schema-stdout": ["schema"],
    }
    for name, args in commands.items():
        runs[name] = run_cli("--debug", *args, env=env)
        assert runs[name].code == 0, (name, runs[name])
    # Failing runs say more: a wrong key (70009 from the server) and a dead endpoint.
    runs["wrong-key"] = run_cli("--debug", "plan", cfg, env=cli_env(TIM_SECRET_KEY="wrong-key-1"))
    assert runs["wrong-key"].code == 1 and "70009" in runs["wrong-key"].err
    assert "DEBUG" in runs["plan-text"].err  # --debug really logs the calls
    assert "usersig=***" in runs["plan-text"].err
    for name, run in runs.items():
        scan(run.out, server.key, f"{name} stdout")
        scan(run.err, server.key, f"{name} stderr")
    scan(runs["wrong-key"].err, "wrong-key-1", "wrong-key stderr")
    files = [plan_file, export_file, schema_file, *export_dir.iterdir()]
    for file in files:
        scan(file.read_text(), server.key, str(file))
    plan = json.loads(plan_file.read_text())
    assert plan["app"]["secret_key_env"] == "TIM_SECRET_KEY"  # the name, never the value


def test_no_secret_in_outputs_when_the_server_fails(tmp_path: Path) -> None:
    """Transport errors, retries and faults, logged with --debug, carry no secrets."""
    server = start_server(tmp_path / "f.sqlite3", fault_rate=0.4, seed=133)  # no stalls early
    try:
        cfg = tmp_path / "cfg"
        cfg.mkdir()
        app = {"sdkappid": SDKAPPID, "endpoint": server.url, "create_missing_accounts": True}
        groups = [{"id": "x", "type": "Public", "name": "X", "members": ["a", "b"]}]
        (cfg / "groups.yaml").write_text(dump_yaml({"app": app, "groups": groups}))
        run = run_cli("--debug", "apply", cfg, "--auto-approve", env=server.env(), timeout=120)
        assert "Traceback" not in run.err
        assert "retrying" in run.err
        scan(run.out + run.err, server.key, "faulty apply")
    finally:
        stop_process(server.proc)


# --- templates ---------------------------------------------------------------------------------

SECRET_FILE_TEXT = "top-secret-content-1234"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET_FILE_TEXT)
    return secret


def template_run(tmp_path: Path, body: str) -> Run:
    cfg = tmp_path / "tpl"
    cfg.mkdir(exist_ok=True)
    head = dump_yaml({"app": {"sdkappid": SDKAPPID}}).rstrip("\n") + "\n"
    (cfg / "groups.yaml.j2").write_text(head + body)
    return cli_in_process("validate", cfg)


@pytest.mark.parametrize(
    "expression",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.environ }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ self.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ [].append.__self__ }}",
        "{% set x = [] %}{{ x.append(1) }}",
        "{{ range(10**9) | list | length }}",
    ],
)
def test_template_cannot_reach_python_internals(tmp_path: Path, expression: str) -> None:
    run = template_run(
        tmp_path, f'groups:\n  - id: g\n    type: Public\n    name: "{expression}"\n'
    )
    assert run.code == 1, run
    assert "Traceback" not in run.err
    assert "groups.yaml.j2:" in run.err  # located
    assert "YAML syntax" not in run.err, run  # refused by the sandbox, not by the parser
    assert "uid=" not in run.text and "<class" not in run.text and "environ" not in run.out


@pytest.mark.parametrize(
    "include",
    ["../secret.txt", "/etc/passwd", "{{ '../secret.txt' }}", "link.txt", "sub/../../secret.txt"],
)
def test_template_cannot_read_files_outside_the_config_dir(
    tmp_path: Path, outside: Path, include: str
) -> None:
    cfg = tmp_path / "tpl"
    cfg.mkdir()
    (cfg / "link.txt").symlink_to(outside)
    if include.startswith("{{"):
        statement = f"{{% include {include[3:-3]} %}}"
    else:
        statement = f"{{% include '{include}' %}}"
    run = template_run(tmp_path, f"# {statement}\ngroups: []\n")
    assert run.code == 1, run
    assert SECRET_FILE_TEXT not in run.text
    assert "root:" not in run.text
    assert "not found" in run.err, run
    assert "Traceback" not in run.err


def test_template_can_include_inside_the_config_dir(tmp_path: Path) -> None:
    cfg = tmp_path / "tpl"
    (cfg / "partials").mkdir(parents=True)
    (cfg / "partials" / "members.j2").write_text("[a, b]")
    run = template_run(
        tmp_path,
        "groups:\n  - {id: g, type: Public, members: {% include 'partials/members.j2' %}}\n",
    )
    assert run.code == 0, run


def test_template_sees_no_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIM_SECRET_KEY", "env-secret-9876")
    run = template_run(tmp_path, "groups:\n  - {id: g, type: Public, name: '{{ env }}'}\n")
    assert run.code == 1 and "env-secret-9876" not in run.text, run


# --- endpoints -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://example.com",
        "http://chat.example.com:8080/",
        "http://0.0.0.0:8787",
        "http://10.0.0.1",
        "http://127.0.0.1.nip.io",
        "http://localhost.example.com",
        "ftp://127.0.0.1",
        "https://user:pass@example.com",
        "https://example.com/?usersig=x",
    ],
)
def test_remote_endpoints_must_be_https(tmp_path: Path, endpoint: str) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    doc = {"app": {"sdkappid": SDKAPPID, "endpoint": endpoint}, "groups": []}
    (cfg / "groups.yaml").write_text(dump_yaml(doc))
    run = cli_in_process("validate", cfg)
    assert run.code == 1, run
    assert "endpoint" in run.err


@pytest.mark.parametrize(
    "endpoint",
    [
        "local",
        "singapore",
        "https://adminapisgp.im.qcloud.com",
        "http://127.0.0.1:8787",
        "http://localhost:8787",
        "http://[::1]:8787",
    ],
)
def test_https_regions_and_loopback_http_are_accepted(tmp_path: Path, endpoint: str) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    doc = {"app": {"sdkappid": SDKAPPID, "endpoint": endpoint}, "groups": []}
    (cfg / "groups.yaml").write_text(dump_yaml(doc))
    assert cli_in_process("validate", cfg).code == 0


def test_secret_key_pasted_into_yaml_is_refused_without_echoing_it(tmp_path: Path) -> None:
    key = "a3f5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5"
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    doc = {"app": {"sdkappid": SDKAPPID, "secret_key_env": key}, "groups": []}
    (cfg / "groups.yaml").write_text(dump_yaml(doc))
    run = cli_in_process("validate", cfg)
    assert run.code == 1 and key not in run.text, run


def test_remote_endpoint_without_key_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    doc = {
        "app": {"sdkappid": SDKAPPID, "endpoint": "http://127.0.0.1:9"},
        "groups": [{"id": "g", "type": "Public"}],
    }
    (cfg / "groups.yaml").write_text(dump_yaml(doc))
    run = run_cli("plan", cfg, env=cli_env())
    assert run.code == 1 and "TIM_SECRET_KEY" in run.err and "Traceback" not in run.err, run


# --- the emulator checks every UserSig ------------------------------------------------------------


def test_emulator_rejects_requests_without_a_valid_admin_usersig(server: Server) -> None:
    async def go() -> dict[str, int]:
        async with httpx.AsyncClient(base_url=server.url) as http:
            body = {"GroupIdList": ["x"]}
            api = "group_open_http_svc/get_group_info"
            good = RestCaller(http, SDKAPPID, server.key)
            codes = {"valid": (await good(api, body))["ErrorCode"]}
            codes["no usersig"] = (await good(api, body, usersig=None))["ErrorCode"]
            codes["no identifier"] = (await good(api, body, identifier=None))["ErrorCode"]
            codes["garbage"] = (await good(api, body, usersig="not-a-sig"))["ErrorCode"]
            wrong_key = RestCaller(http, SDKAPPID, "another-key")
            codes["wrong key"] = (await wrong_key(api, body))["ErrorCode"]
            other_app = generate(1400000001, server.key, ADMIN)
            codes["other app"] = (await good(api, body, usersig=other_app))["ErrorCode"]
            bob_sig = generate(SDKAPPID, server.key, "bob")
            codes["sig of another user"] = (await good(api, body, usersig=bob_sig))["ErrorCode"]
            bob = RestCaller(http, SDKAPPID, server.key, identifier="bob")
            codes["not the admin"] = (await bob(api, body))["ErrorCode"]
            old = generate(SDKAPPID, server.key, ADMIN, expire=60, now=1_600_000_000)
            codes["expired"] = (await good(api, body, usersig=old))["ErrorCode"]
            create = {"Type": "Public", "GroupId": "hack", "Name": "hack"}
            codes["write, no sig"] = (
                await good("group_open_http_svc/create_group", create, usersig=None)
            )["ErrorCode"]
            return codes

    codes = asyncio.run(go())
    assert codes == {
        "valid": 0,
        "no usersig": 60004,
        "no identifier": 60004,
        "garbage": 70003,
        "wrong key": 70009,
        "other app": 70014,
        "sig of another user": 70013,
        "not the admin": 60010,
        "expired": 70001,
        "write, no sig": 60004,
    }
    assert "hack" not in server.dump()["groups"]


def test_debug_log_of_the_embedded_emulator_has_no_secret(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    doc = {
        "app": {"sdkappid": SDKAPPID, "create_missing_accounts": True},
        "groups": [{"id": "g", "type": "Public", "name": "G", "members": ["a"]}],
    }
    (cfg / "groups.yaml").write_text(dump_yaml(doc))
    key = "embedded-key-0123456789abcdef"
    env = cli_env(TIM_SECRET_KEY=key)
    for args in (["plan", cfg], ["apply", cfg, "--auto-approve"]):
        run = run_cli("--debug", *args, env=env)
        assert run.code == 0, run
        scan(run.out + run.err, key, " ".join(map(str, args)))
    assert os.path.exists(cfg / ".reconciler" / "local.sqlite3")
