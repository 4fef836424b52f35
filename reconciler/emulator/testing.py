"""Helpers for tests and benchmarks: a loopback server in a thread, a minimal REST caller."""

from __future__ import annotations

import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from starlette.applications import Starlette

from ..tim.usersig import generate


@contextmanager
def serve_in_thread(app: Starlette, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yield its base URL."""
    import uvicorn

    # proto=IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections (no 40 ms stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the emulator server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class RestCaller:
    """A minimal Tencent Chat REST caller built from the vendor docs: httpx + UserSig only.

    ``await caller("group_open_http_svc/get_group_info", {...})`` returns the decoded answer.
    Keyword overrides replace query parameters (``None`` drops one); ``raw`` sends bytes as the
    body. Works with any ``httpx.AsyncClient`` (in-process ASGITransport or real HTTP).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        sdkappid: int,
        key: str,
        identifier: str = "administrator",
    ) -> None:
        self.http = http
        self.sdkappid = sdkappid
        self.identifier = identifier
        self.usersig = generate(sdkappid, key, identifier)

    def params(self, **overrides: object) -> dict[str, str]:
        params: dict[str, object] = {
            "sdkappid": self.sdkappid,
            "identifier": self.identifier,
            "usersig": self.usersig,
            "random": secrets.randbelow(1 << 32),
            "contenttype": "json",
        }
        params.update(overrides)
        return {k: str(v) for k, v in params.items() if v is not None}

    async def __call__(
        self, api: str, body: object = None, *, raw: bytes | None = None, **overrides: object
    ) -> dict:
        content = raw if raw is not None else json.dumps({} if body is None else body).encode()
        response = await self.http.post(
            f"/v4/{api}",
            params=self.params(**overrides),
            content=content,
            headers={"content-type": "application/json"},
        )
        if response.status_code != 200:
            raise AssertionError(f"HTTP {response.status_code} from {api}")
        return response.json()


def serve_command(port: int, db: object, sdkappid: int, **options: object) -> list[str]:
    """The argv of `reconciler emulator serve` in a child process of this Python.

    ``options`` become flags (``latency_ms=20`` -> ``--latency-ms 20``); None values are left out.
    """
    argv = [sys.executable, "-m", "reconciler", "emulator", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--db", str(db), "--sdkappid", str(sdkappid)]
    for name, value in options.items():
        if value is not None:
            argv += [
                f"--{name.replace('_', '-')}",
                f"{value:g}" if isinstance(value, float) else str(value),
            ]
    return argv
