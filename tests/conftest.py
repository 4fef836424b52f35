"""Shared fixtures for the end-to-end and reliability tests.

- ``ws``: a config directory using the embedded emulator (``endpoint: local``): write YAML, run
  the CLI in-process, read and steer the emulator's SQLite state (``/emulator/*`` controls).
- ``server``: ``reconciler emulator serve`` in a subprocess over real HTTP on loopback.
- ``run_cli``: the CLI in a real subprocess (``python -m reconciler``).
- ``plan_groups`` / ``apply_groups``: the library face (``reconciler.engine``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml_rs

from reconciler import engine
from reconciler.apply import ApplyResult
from reconciler.emulator import EmulatorStore, create_app
from reconciler.emulator.testing import free_port, serve_command, wait_for_port
from reconciler.lock import Lease
from reconciler.plan import Plan
from reconciler.state import LOCK_GROUP_ID, Group
from reconciler.tim.client import TimClient

SDKAPPID = 1400000000
ADMIN = "administrator"
LOCAL_KEY = "local-emulator-key"  # what the embedded emulator signs with when no key is set
SERVER_KEY = "e2e-secret-key-0123456789abcdef0123456789abcdef"  # for `emulator serve`
BASE_APP: dict[str, Any] = {"sdkappid": SDKAPPID, "create_missing_accounts": True}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: long reliability runs (skipped unless RECONCILER_LONG_TESTS=1)"
    )


@pytest.fixture(autouse=True)
def _isolate_logging():
    """The CLI configures logging for its whole process (levels, handlers); a test that runs it
    in-process must not change what the next test's caplog sees."""
    names = ("", "httpx", "httpcore", "reconciler", "reconciler.tim.client")
    saved = [(lg, lg.level, list(lg.handlers)) for lg in map(logging.getLogger, names)]
    yield
    for logger, level, handlers in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers


def dump_yaml(doc: dict[str, Any]) -> str:
    text = yaml_rs.dumps(doc).removeprefix("---\n")
    return text if text.endswith("\n") else text + "\n"


# --- CLI runs ---------------------------------------------------------------------------------


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def __repr__(self) -> str:  # readable assertion messages
        return f"Run(code={self.code}, out={self.out[-3000:]!r}, err={self.err[-3000:]!r})"


def cli_in_process(*args: str, cwd: Path | None = None) -> Run:
    """``reconciler ARGS`` in this process (fast); stdout/stderr captured, exit code returned."""
    from reconciler.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    code = 0
    # The CLI configures logging for its process; keep that from leaking into other tests.
    root = logging.getLogger()
    saved = [(root, root.level, list(root.handlers))] + [
        (lg, lg.level, list(lg.handlers))
        for lg in map(logging.getLogger, ("httpx", "httpcore", "reconciler"))
    ]
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([str(a) for a in args])
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
    finally:
        os.chdir(old)
        for logger, level, handlers in saved:
            logger.setLevel(level)
            logger.handlers[:] = handlers
    return Run(code, out.getvalue(), err.getvalue())


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TIM_SECRET_KEY"}
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> Run:
    """``python -m reconciler ARGS`` in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *map(str, args)],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def split_plan(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """A plan file's MAC line and its document."""
    from reconciler.planfile import unverified_document

    return data.partition(b"\n")[0], unverified_document(data)


def sign_plan(doc: dict[str, Any], key: str = LOCAL_KEY, sdkappid: int | None = None) -> bytes:
    """``doc`` as a plan file signed as ``planfile.write`` signs it, with ``key``."""
    from reconciler.planfile import mac_key

    body = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    app = sdkappid if sdkappid is not None else doc["app"]["sdkappid"]
    mac = hmac.new(mac_key(key, app), body, hashlib.sha256).hexdigest()
    head = orjson.dumps(
        {
            "mac": f"hmac-sha256:{mac}",
            "sdkappid": app,
            "secret_key_env": doc["app"]["secret_key_env"],
            "local": doc["endpoint"] == "local",
        }
    )
    return head[:-1] + b",\n" + body[2:] + b"\n"


# --- the embedded emulator's state ------------------------------------------------------------


def control(db: Path, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST /emulator/NAME on an emulator over ``db`` (state is all in SQLite)."""
    app = create_app(db, sdkappid=SDKAPPID, secret_key=LOCAL_KEY, admin=ADMIN)

    async def go() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as http:
            r = await http.post(f"/emulator/{name}", json=body or {})
            return r.json()

    try:
        answer = asyncio.run(go())
    finally:
        app.state.store.close()
    assert answer.get("ErrorCode") == 0, answer
    return answer


@dataclass
class Workspace:
    """A config directory with the embedded emulator's SQLite file inside it."""

    dir: Path
    app: dict[str, Any] = field(default_factory=lambda: dict(BASE_APP))
    policy: dict[str, Any] | None = None

    @property
    def db(self) -> Path:
        return self.dir / ".reconciler" / "local.sqlite3"

    def write(
        self,
        groups: list[dict[str, Any]],
        *,
        app: dict[str, Any] | None = None,
        policy: dict[str, Any] | None = None,
        name: str = "groups.yaml",
    ) -> Path:
        doc: dict[str, Any] = {"app": app if app is not None else self.app}
        if policy is not None or self.policy is not None:
            doc["policy"] = policy if policy is not None else self.policy
        doc["groups"] = groups
        path = self.dir / name
        path.write_text(dump_yaml(doc))
        return path

    def cli(self, *args: str) -> Run:
        return cli_in_process(*args, cwd=self.dir)

    def plan(self, *args: str) -> Run:
        return self.cli("plan", ".", *args)

    def apply(self, *args: str) -> Run:
        return self.cli("apply", ".", "--auto-approve", *args)

    def converge(self, *args: str) -> None:
        """apply, then plan --detailed-exitcode shows nothing to do."""
        run = self.apply(*args)
        assert run.code == 0, run
        self.assert_clean()

    def assert_clean(self) -> None:
        run = self.plan("--detailed-exitcode")
        assert run.code == 0, run
        assert "No changes." in run.out, run

    def store(self) -> EmulatorStore:
        self.db.parent.mkdir(parents=True, exist_ok=True)
        return EmulatorStore(self.db, admin=ADMIN)

    def seed(self, groups: list[dict[str, Any]], accounts: list[str] = ()) -> None:
        store = self.store()
        try:
            store.seed(groups=groups, accounts=list(accounts))
        finally:
            store.close()

    def dump(self) -> dict[str, Any]:
        if not self.db.exists():
            return {"accounts": [], "groups": {}}
        store = self.store()
        try:
            return store.dump()
        finally:
            store.close()

    def live(self, gid: str) -> dict[str, Any] | None:
        return self.dump()["groups"].get(gid)

    def members(self, gid: str) -> dict[str, dict[str, Any]]:
        group = self.live(gid)
        assert group is not None, f"group {gid} does not exist"
        return {m["Member_Account"]: m for m in group["MemberList"]}

    def control(self, name: str, **body: Any) -> dict[str, Any]:
        self.db.parent.mkdir(parents=True, exist_ok=True)
        return control(self.db, name, body)


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.delenv("TIM_SECRET_KEY", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    d = tmp_path / "cfg"
    d.mkdir()
    return Workspace(d)


# --- `reconciler emulator serve` in a subprocess -----------------------------------------------


@dataclass
class Server:
    url: str
    port: int
    db: Path
    key: str
    proc: subprocess.Popen

    def app(self, **extra: Any) -> dict[str, Any]:
        return {**BASE_APP, "endpoint": self.url, **extra}

    def get(self, path: str) -> dict[str, Any]:
        return httpx.get(f"{self.url}{path}", timeout=10).json()

    def control(self, name: str, **body: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.url}/emulator/{name}", json=body, timeout=10).json()
        assert answer.get("ErrorCode") == 0, answer
        return answer

    def stats(self) -> dict[str, Any]:
        return self.get("/emulator/stats")

    def dump(self) -> dict[str, Any]:
        store = EmulatorStore(self.db, admin=ADMIN)
        try:
            return store.dump()
        finally:
            store.close()

    def env(self, **extra: str) -> dict[str, str]:
        return cli_env(TIM_SECRET_KEY=self.key, **extra)


def start_server(
    db: Path,
    *,
    key: str = SERVER_KEY,
    latency_ms: float = 0,
    fault_rate: float = 0.0,
    seed: int | None = None,
    extra: tuple[str, ...] = (),
    env_extra: dict[str, str] | None = None,
) -> Server:
    port = free_port()
    args = serve_command(
        port, db, SDKAPPID, latency_ms=float(latency_ms), fault_rate=float(fault_rate), seed=seed
    )
    args += list(extra)
    proc = subprocess.Popen(
        args,
        env=cli_env(TIM_SECRET_KEY=key, **(env_extra or {})),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=20)
    except OSError:
        stop_process(proc)
        raise RuntimeError(f"emulator server did not start: {proc.stderr.read()!r}") from None
    return Server(f"http://127.0.0.1:{port}", port, db, key, proc)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stderr:
        proc.stderr.close()


@pytest.fixture
def server(tmp_path: Path):
    srv = start_server(tmp_path / "server.sqlite3")
    try:
        yield srv
    finally:
        stop_process(srv.proc)


# --- the Python API in-process ----------------------------------------------------------------


def seed_lease(db: Path, lease: Lease) -> None:
    """Another writer's lease on the app lock, put straight into the emulator's state."""
    store = EmulatorStore(db)
    try:
        store.seed(
            [
                {
                    "GroupId": LOCK_GROUP_ID,
                    "Type": "Private",
                    "Name": "lock",
                    "Introduction": lease.text(),
                }
            ]
        )
    finally:
        store.close()


def make_emulator(db: Path, **kw: Any):
    return create_app(db, sdkappid=SDKAPPID, secret_key=LOCAL_KEY, admin=ADMIN, **kw)


def client_for(app, **kw: Any) -> TimClient:
    """A client of the embedded emulator ``app`` (or of ``transport``, one wrapping it)."""
    kw.setdefault("max_retry_wait_s", 5.0)
    kw.setdefault("transport", httpx.ASGITransport(app=app))
    return TimClient(
        sdkappid=SDKAPPID,
        admin=ADMIN,
        secret_key=LOCAL_KEY,
        base_url="http://emulator.local",
        **kw,
    )


async def plan_groups(
    client: TimClient,
    groups: list[Group],
    *,
    max_removal_fraction: float = 1.0,
    min_group_size_for_guard: int = 10,
    create_missing_accounts: bool = True,
) -> Plan:
    options = engine.PlanOptions(
        admin=ADMIN,
        max_removal_fraction=max_removal_fraction,
        min_group_size_for_guard=min_group_size_for_guard,
        create_missing_accounts=create_missing_accounts,
    )
    return await engine.plan_groups(client, groups, options)


async def apply_groups(
    client: TimClient, groups: list[Group], **kw: Any
) -> tuple[Plan, ApplyResult]:
    plan = await plan_groups(client, groups, **kw)
    assert not plan.errors, plan.errors
    result = await engine.apply_operations(client, plan.operations)
    return plan, result


def wait_until(predicate, timeout: float = 20.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
