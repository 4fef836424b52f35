"""Bad answers from the server: non-JSON bodies, missing fields, HTTP errors, a closed
connection, a slow server. The CLI prints a clear error, exits 1, and never shows a Python
traceback."""

from __future__ import annotations

import asyncio
import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from conftest import SDKAPPID, SERVER_KEY, Run, cli_env, cli_in_process, dump_yaml, run_cli
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import reconciler.connect
import reconciler.tim.client
from reconciler.emulator.testing import serve_in_thread
from reconciler.state import LOCK_GROUP_ID
from reconciler.tim.client import TimClient

Responder = Callable[[dict[str, Any]], Response]
OK = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}


def group_info(body: dict[str, Any]) -> Response:
    items = [
        {
            "GroupId": gid,
            "ErrorCode": 0,
            "Type": "Public",
            "Name": "G",
            "Owner_Account": "boss",
            "MemberNum": 1,
            "MaxMemberNum": 100,
            "ApplyJoinOption": "FreeAccess",
            "InviteJoinOption": "FreeAccess",
            "MuteAllMember": "Off",
            "MemberList": [{"Member_Account": "boss", "Role": "Owner"}],
        }
        for gid in body["GroupIdList"]
    ]
    return JSONResponse({**OK, "GroupInfo": items})


def account_check(body: dict[str, Any]) -> Response:
    items = [
        {"UserID": i["UserID"], "AccountStatus": "Imported", "ResultCode": 0}
        for i in body["CheckItem"]
    ]
    return JSONResponse({**OK, "ResultItem": items})


DEFAULTS: dict[str, Responder] = {
    "get_group_info": group_info,
    "account_check": account_check,
}


def fake_app(overrides: dict[str, Responder]) -> Starlette:
    responders = {**DEFAULTS, **overrides}
    lock: dict[str, str] = {}  # the lock group's introduction (its lease) while it exists

    def lock_answer(command: str, body: dict[str, Any]) -> Response:
        """The app lock's calls answered as a server that keeps the lock group would."""
        if command == "get_group_info":
            if not lock:
                return missing(body)
            info = json.loads(group_info(body).body)
            info["GroupInfo"][0]["Introduction"] = lock["lease"]
            return JSONResponse(info)
        if command == "create_group" and lock:
            return JSONResponse({**OK, "ActionStatus": "FAIL", "ErrorCode": 10021})
        if command in ("create_group", "modify_group_base_info"):
            lock["lease"] = body.get("Introduction", "")
        elif command == "destroy_group":
            lock.clear()
        return JSONResponse(OK)

    async def handle(request: Request) -> Response:
        command = request.path_params["command"]
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = {}
        # The app lock's calls (reconciler.lock) get well-behaved answers: these tests are about
        # the calls a plan makes.
        if LOCK_GROUP_ID in (body.get("GroupId"), *(body.get("GroupIdList") or [])):
            return lock_answer(command, body)
        result = responders.get(command, lambda _b: JSONResponse(OK))(body)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    return Starlette(routes=[Route("/v4/{service}/{command}", handle, methods=["POST"])])


@contextmanager
def fake_server(**overrides: Responder) -> Iterator[str]:
    with serve_in_thread(fake_app(overrides)) as url:
        yield url


def write(cfg: Path, url: str, groups: list[dict[str, Any]] | None = None) -> Path:
    cfg.mkdir(parents=True, exist_ok=True)
    groups = groups or [{"id": "g1", "type": "Public", "name": "New", "members": ["boss", "a"]}]
    doc = {"app": {"sdkappid": SDKAPPID, "endpoint": url}, "groups": groups}
    (cfg / "groups.yaml").write_text(dump_yaml(doc))
    return cfg


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Quick retries and a short timeout, so retried failures end fast (in-process CLI)."""
    monkeypatch.setenv("TIM_SECRET_KEY", SERVER_KEY)
    monkeypatch.setattr(reconciler.tim.client, "BACKOFF_INITIAL_S", 0.001)
    monkeypatch.setattr(reconciler.tim.client, "BACKOFF_MAX_S", 0.002)
    monkeypatch.setattr(reconciler.tim.client, "BACKOFF_JITTER_S", 0.0)
    monkeypatch.setattr(
        reconciler.connect, "TimClient", partial(TimClient, timeout_s=0.5, max_attempts=3)
    )


def assert_clean_failure(run: Run, *needles: str) -> None:
    assert run.code == 1, run
    assert "Traceback" not in run.err, run
    assert "Error: unexpected" not in run.err, run  # understood, not caught as a last resort
    assert run.err.strip(), run
    for needle in needles:
        assert needle in run.err, (needle, run)


def plan_against(tmp_path: Path, **overrides: Responder) -> Run:
    with fake_server(**overrides) as url:
        return cli_in_process("plan", write(tmp_path / "cfg", url))


def apply_against(tmp_path: Path, groups=None, **overrides: Responder) -> Run:
    with fake_server(**overrides) as url:
        return cli_in_process("apply", write(tmp_path / "cfg", url, groups), "--auto-approve")


# --- while observing ----------------------------------------------------------------------------


def test_non_json_body(tmp_path: Path, fast: None) -> None:
    run = plan_against(
        tmp_path, get_group_info=lambda b: PlainTextResponse("<html>oops</html>", 200)
    )
    assert_clean_failure(run, "get_group_info", "not JSON")


def test_json_without_envelope(tmp_path: Path, fast: None) -> None:
    run = plan_against(tmp_path, get_group_info=lambda b: JSONResponse({"hello": "world"}))
    assert_clean_failure(run, "get_group_info", "envelope")


def test_json_that_is_not_an_object(tmp_path: Path, fast: None) -> None:
    run = plan_against(tmp_path, get_group_info=lambda b: JSONResponse([1, 2, 3]))
    assert_clean_failure(run, "get_group_info")


def test_answer_without_the_groups_asked_for_is_an_error_not_absent_groups(
    tmp_path: Path, fast: None
) -> None:
    """An OK envelope without GroupInfo must not read as "every group is missing" (that plan
    would create groups that exist)."""
    run = plan_against(tmp_path, get_group_info=lambda b: JSONResponse(OK))
    assert_clean_failure(run, "get_group_info: the answer has no GroupInfo list")
    assert "create" not in run.out


def test_group_item_missing_fields(tmp_path: Path, fast: None) -> None:
    def broken(body: dict[str, Any]) -> Response:
        return JSONResponse({**OK, "GroupInfo": [{"GroupId": "g1", "ErrorCode": 0}]})

    assert_clean_failure(plan_against(tmp_path, get_group_info=broken), "g1")


def test_member_item_missing_account(tmp_path: Path, fast: None) -> None:
    def broken(body: dict[str, Any]) -> Response:
        answer = json.loads(group_info(body).body)
        answer["GroupInfo"][0]["MemberList"] = [{"Role": "Owner"}]
        return JSONResponse(answer)

    assert_clean_failure(plan_against(tmp_path, get_group_info=broken), "g1")


def test_member_with_an_unknown_role_is_an_error_when_compared(tmp_path: Path, fast: None) -> None:
    """Members are checked when the plan compares them (the owner always is): an unknown role
    is a clean error naming the group and the API, not a traceback."""

    def broken(body: dict[str, Any]) -> Response:
        answer = json.loads(group_info(body).body)
        answer["GroupInfo"][0]["MemberList"] = [{"Member_Account": "boss", "Role": "Chief"}]
        return JSONResponse(answer)

    run = plan_against(tmp_path, get_group_info=broken)
    assert_clean_failure(run, "g1", "get_group_info", "role")


def test_field_of_the_wrong_type(tmp_path: Path, fast: None) -> None:
    def broken(body: dict[str, Any]) -> Response:
        answer = json.loads(group_info(body).body)
        answer["GroupInfo"][0]["MaxMemberNum"] = "lots"
        answer["GroupInfo"][0]["MemberList"] = "nobody"
        return JSONResponse(answer)

    assert_clean_failure(plan_against(tmp_path, get_group_info=broken), "g1")


def test_community_page_with_bad_members(tmp_path: Path, fast: None) -> None:
    def info(body: dict[str, Any]) -> Response:
        answer = json.loads(group_info(body).body)
        answer["GroupInfo"][0]["Type"] = "Community"
        return JSONResponse(answer)

    def page(body: dict[str, Any]) -> Response:
        return JSONResponse({**OK, "MemberList": [{"NoAccount": 1}], "Next": ""})

    with fake_server(get_group_info=info, get_group_member_info=page) as url:
        groups = [{"id": "@TGS#_c", "type": "Community", "members": ["boss"]}]
        run = cli_in_process("plan", write(tmp_path / "cfg", url, groups))
    assert_clean_failure(run, "@TGS#_c")


def test_account_check_without_results(tmp_path: Path, fast: None) -> None:
    run = plan_against(tmp_path, account_check=lambda b: JSONResponse(OK))
    assert_clean_failure(run, "account_check")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502, 503])
def test_http_errors(tmp_path: Path, fast: None, status: int) -> None:
    run = plan_against(
        tmp_path, get_group_info=lambda b: PlainTextResponse("no", status_code=status)
    )
    assert_clean_failure(run, f"HTTP {status}")


def test_api_error_code(tmp_path: Path, fast: None) -> None:
    answer = {"ActionStatus": "FAIL", "ErrorCode": 60006, "ErrorInfo": "SDKAppID invalid"}
    run = plan_against(tmp_path, get_group_info=lambda b: JSONResponse(answer))
    assert_clean_failure(run, "60006")


def test_slow_server_times_out(tmp_path: Path, fast: None) -> None:
    async def slow(body: dict[str, Any]) -> Response:
        await asyncio.sleep(2)
        return group_info(body)

    assert_clean_failure(plan_against(tmp_path, get_group_info=slow), "timed out")


class _Closer(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(65536)  # read the request, answer nothing, close


@contextmanager
def closing_server() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Closer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_connection_closed_without_answer(tmp_path: Path, fast: None) -> None:
    with closing_server() as url:
        run = cli_in_process("plan", write(tmp_path / "cfg", url))
    assert_clean_failure(run, "network error")


def test_nothing_listening(tmp_path: Path, fast: None) -> None:
    from reconciler.emulator.testing import free_port

    run = cli_in_process("plan", write(tmp_path / "cfg", f"http://127.0.0.1:{free_port()}"))
    assert_clean_failure(run, "network error")


# --- while applying -----------------------------------------------------------------------------


def missing(body: dict[str, Any]) -> Response:
    items = [
        {"GroupId": g, "ErrorCode": 10010, "ErrorInfo": "no group"} for g in body["GroupIdList"]
    ]
    return JSONResponse({**OK, "GroupInfo": items})


def test_apply_with_non_json_answers_reports_failures(tmp_path: Path, fast: None) -> None:
    run = apply_against(
        tmp_path,
        get_group_info=missing,
        create_group=lambda b: PlainTextResponse("garbage", 200),
    )
    assert_clean_failure(run, "FAILED group g1 create_group", "not JSON")


def test_apply_with_malformed_import_answer(tmp_path: Path, fast: None) -> None:
    groups = [
        {
            "id": "g1",
            "type": "Public",
            "name": "New",
            "owner": "boss",
            "members": [f"m{i}" for i in range(120)],
        }
    ]
    run = apply_against(
        tmp_path,
        groups,
        get_group_info=missing,
        import_group_member=lambda b: JSONResponse({**OK, "MemberList": "oops"}),
    )
    assert_clean_failure(run, "FAILED group g1 import_group_member")


def test_apply_create_taken_then_lookup_finds_nothing(tmp_path: Path, fast: None) -> None:
    taken = {"ActionStatus": "FAIL", "ErrorCode": 10021, "ErrorInfo": "group id used"}
    run = apply_against(
        tmp_path, get_group_info=missing, create_group=lambda b: JSONResponse(taken)
    )
    assert_clean_failure(run, "FAILED group g1 create_group", "10021")


# --- a real subprocess: what a user sees -------------------------------------------------------


def test_subprocess_bad_answer_prints_one_clear_error(tmp_path: Path) -> None:
    with fake_server(get_group_info=lambda b: PlainTextResponse("<html/>", 200)) as url:
        run = run_cli("plan", write(tmp_path / "cfg", url), env=cli_env(TIM_SECRET_KEY=SERVER_KEY))
    assert_clean_failure(run, "not JSON")


def test_subprocess_missing_fields_prints_one_clear_error(tmp_path: Path) -> None:
    def broken(body: dict[str, Any]) -> Response:
        return JSONResponse({**OK, "GroupInfo": [{"GroupId": "g1", "ErrorCode": 0}]})

    with fake_server(get_group_info=broken) as url:
        run = run_cli("plan", write(tmp_path / "cfg", url), env=cli_env(TIM_SECRET_KEY=SERVER_KEY))
    assert_clean_failure(run, "g1")
