"""The watch's two HTTP faces, each on its own port:

- the callback port answers ``POST`` on the callback path and nothing else; a body is refused
  (413) past ``MAX_BODY`` from its Content-Length or as it streams, before it is buffered;
- the health port serves ``/livez``, ``/readyz``, ``/metrics``, ``/status`` (JSON) and ``/``
  (the same, as a page), all ``GET``.

Both run on ``GuardedH11``: a connection that has not sent its request headers within
``HEADER_S`` is closed, and past ``MAX_CONNECTIONS`` a new one is closed at once. Nothing either
port serves holds config text or paths.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from html import escape
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from reconciler.tim.callbacks import (
    COMMAND_PARAM,
    GROUP_COMMANDS,
    OK_ANSWER,
    CallbackMalformed,
    parse_group_event,
)
from reconciler.watch.auth import CallbackAuth, Refused
from reconciler.watch.controller import Controller
from reconciler.watch.metrics import Metrics

log = logging.getLogger("reconciler.watch")

JSON = "application/json"
MAX_BODY = 1 << 20  # bytes; the vendor's callbacks are a few KB
HEADER_S = 10.0  # a connection sends its request line and headers within this
BODY_S = 10.0  # and its body within this once the headers are in
IDLE_S = 5  # a kept-alive connection with no new request is closed after this
MAX_CONNECTIONS = 512  # per port; well below the file-descriptor limit
OTHER_COMMAND = "other"  # the metric label of every command watch does not act on
NOTE_EVERY_S = 60.0  # one log line per condition (connections over the cap) per minute


def _json(doc: Any, status: int = 200, close: bool = False) -> Response:
    """``close``: the connection is closed after this answer (the rest of a refused body is
    never read)."""
    headers = {"connection": "close"} if close else None
    return Response(orjson.dumps(doc), status_code=status, media_type=JSON, headers=headers)


class TooLarge(Exception):
    pass


async def read_body(request: Request) -> bytes:
    """The body, refused (TooLarge) past ``MAX_BODY`` bytes before more is read; TimeoutError
    when it takes longer than ``BODY_S``."""
    limit = MAX_BODY
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async with asyncio.timeout(BODY_S):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge
            chunks.append(chunk)
    return b"".join(chunks)


def command_label(command: str | None) -> str:
    """Metric labels come from a fixed set: the commands watch acts on, and one for the rest."""
    return command if command in GROUP_COMMANDS else OTHER_COMMAND


def callback_app(
    path: str, controller: Callable[[], Controller], auth: CallbackAuth, metrics: Metrics
) -> Starlette:
    """``controller`` gives the controller in use (it is made after the app, which the embedded
    emulator needs first to deliver its callbacks to)."""

    async def callback(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        try:
            body = await read_body(request)
        except TooLarge:
            metrics.refusals.labels("too_large").inc()
            log.warning("refused a callback from %s: its body is over %d bytes", client, MAX_BODY)
            return _json({"error": "too_large"}, 413, close=True)
        except TimeoutError:
            metrics.refusals.labels("slow").inc()
            log.warning("refused a callback from %s: its body took over %g s", client, BODY_S)
            return _json({"error": "slow"}, 408, close=True)
        except ClientDisconnect:
            return Response(status_code=400)
        query = request.query_params
        command = command_label(query.get(COMMAND_PARAM))
        try:
            auth.check(query, body)
        except Refused as refused:
            metrics.refusals.labels(refused.reason).inc()
            metrics.callbacks.labels(command, "refused").inc()
            log.warning("refused a callback from %s: %s (%s)", client, refused.reason, refused)
            return _json({"error": refused.reason}, refused.status)
        try:
            event = parse_group_event(query.get(COMMAND_PARAM) or "", body)
        except CallbackMalformed as err:
            metrics.callbacks.labels(command, "malformed").inc()
            log.warning("a %s callback could not be read: %s", command, err)
            return _json({"error": "malformed", "detail": str(err)}, 400)
        outcome = controller().on_callback(event)
        metrics.callbacks.labels(command, outcome).inc()
        # The work happens after this answer: the vendor waits at most 2 s for it.
        return Response(OK_ANSWER, media_type=JSON)

    return Starlette(routes=[Route(path, callback, methods=["POST"])])


def health_app(controller: Callable[[], Controller], metrics: Metrics) -> Starlette:
    async def livez(request: Request) -> Response:
        alive, detail = controller().alive()
        return _json({"alive": alive, **detail}, 200 if alive else 503)

    async def readyz(request: Request) -> Response:
        reason, checks = controller().ready()
        if reason is None:
            return _json({"ready": True, "checks": checks})
        return _json({"ready": False, "reason": reason, "checks": checks}, 503)

    async def metrics_text(request: Request) -> Response:
        return Response(metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def status(request: Request) -> Response:
        return _json(controller().status())

    async def page(request: Request) -> Response:
        return Response(status_page(controller().status()), media_type="text/html; charset=utf-8")

    return Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/livez", livez, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_text, methods=["GET"]),
            Route("/status", status, methods=["GET"]),
        ]
    )


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>tim-reconciler watch</title>
<meta http-equiv="refresh" content="5"><style>body{{font:14px sans-serif;margin:1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}
.in-sync{{color:#070}}.drifted{{color:#a60}}.failing,.backing-off{{color:#b00}}</style></head>
<body><h1>tim-reconciler watch</h1><p id="summary">{summary}</p>
<table id="groups"><tr><th>group</th><th>state</th><th>last reconcile</th><th>outcome</th>
<th>pending marks</th><th>last error</th></tr>{rows}</table></body></html>
"""


def status_page(status: dict) -> str:
    """``/``: the ``/status`` data for people, no external assets, refreshed every 5 s."""
    summary = (
        f"role: {status['role']} · revision: {status['revision']} · last resync: "
        f"{status['last_resync'] or 'none yet'} ({status['last_resync_outcome'] or '-'})"
    )
    if status["reload_refused_at"]:
        summary += (
            f" · an invalid config ({status['refused_revision'] or 'edited files'}) was refused "
            f"at {status['reload_refused_at']}: the last good one runs on"
        )
    rows = "".join(
        f'<tr class="{g["state"].replace(" ", "-")}"><td>{escape(gid)}</td>'
        + "".join(
            f"<td>{escape(str(v if v is not None else '-'))}</td>"
            for v in (g["state"], g["last_reconcile"], g["outcome"], g["pending_marks"])
        )
        + f"<td>{escape(g['last_error'] or '')}</td></tr>"
        for gid, g in status["per_group"].items()
    )
    return PAGE.format(summary=escape(summary), rows=rows)


class GuardedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for the request headers (uvicorn has a
    keep-alive timeout but none for a connection that sends nothing, or its headers one byte at
    a time) and a cap on open connections."""

    _noted: dict[str, float] = {}

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        if len(self.connections) > MAX_CONNECTIONS:
            _note("connections", f"over {MAX_CONNECTIONS} connections open: new ones are closed")
            transport.close()
            return
        self._arm()

    def _arm(self) -> None:
        """Close the connection unless a new request's headers are in within HEADER_S."""
        if self._deadline is not None:
            self._deadline.cancel()
        waiting_since = self.cycle
        self._deadline = self.loop.call_later(HEADER_S, self._expire, waiting_since)

    def _expire(self, waiting_since: object) -> None:
        if self.cycle is waiting_since and not self.transport.is_closing():
            _note("headers", f"closed connections that sent no request within {HEADER_S:g} s")
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if (deadline := getattr(self, "_deadline", None)) is not None:
            deadline.cancel()
        super().connection_lost(exc)


def _note(condition: str, text: str) -> None:
    """Log a condition at most once per NOTE_EVERY_S, not once per connection."""
    now = time.monotonic()
    if now - GuardedH11._noted.get(condition, -NOTE_EVERY_S) >= NOTE_EVERY_S:
        GuardedH11._noted[condition] = now
        log.warning("%s", text)
