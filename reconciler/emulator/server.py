"""Run the emulator as a real HTTP server (``reconciler emulator serve``)."""

from __future__ import annotations

import re
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .app import create_app

# Query parameters that carry a credential: never written to the access log.
SECRET_PARAMS = re.compile(r"(?i)\b(usersig|sign|token)=[^&]*")


def redact_query(query: str) -> str:
    return SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=***", query)


class AccessLog:
    """ASGI middleware: one line per request (time, client, method, path, query with secrets
    redacted, status, milliseconds) written to ``write``."""

    def __init__(self, app: Any, write: Callable[[str], None]) -> None:
        self.app, self.write = app, write

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            query = redact_query(scope.get("query_string", b"").decode("latin-1"))
            client = scope.get("client") or ("-", 0)
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            self.write(
                f"{stamp} {client[0]} {scope['method']} {scope['path']}"
                f"{'?' + query if query else ''} {status[0] or '-'} "
                f"{(time.perf_counter() - started) * 1000:.1f}ms"
            )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port), bound before the server
    starts so the address printed is the one that answers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def serve(
    host: str,
    port: int,
    db: str | Path,
    sdkappid: int,
    admin: str,
    secret_key: str,
    latency_ms: float = 0,
    rate_limit: float | None = None,
    fault_rate: float = 0.0,
    seed: int | None = None,
    profile: str = "default",
    access_log: bool = False,
    announce: Callable[[str], None] | None = None,
    callback_url: str | None = None,
    callback_token: str | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve the emulator with uvicorn on ``host:port`` (or ``sock``, from ``bind``) until
    interrupted.

    Any Tencent Chat REST client can use ``http://host:port`` as its domain; the state lives in
    the SQLite file ``db`` and survives restarts. ``secret_key`` verifies UserSigs. ``profile``:
    ``"default"`` or ``"latest"`` (``reconciler.emulator.profiles``). ``announce`` receives the
    address once it is bound; with ``access_log`` every request is a line on stderr.
    ``callback_url``: where to send the documented callbacks (signed with ``callback_token``
    when given).
    """
    import uvicorn

    app: Any = create_app(
        db,
        sdkappid=sdkappid,
        secret_key=secret_key,
        admin=admin,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        fault_rate=fault_rate,
        seed=seed,
        profile=profile,
        callback_url=callback_url,
        callback_token=callback_token,
    )
    if access_log:
        app = AccessLog(app, lambda line: print(line, file=sys.stderr, flush=True))
    sock = sock or bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    if announce is not None:
        announce(f"http://{shown}:{bound_port}")
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    uvicorn.Server(config).run(sockets=[sock])
