"""The watch's HTTP face: callbacks on any POST path, ``GET /healthz``, ``GET /metrics``, and,
for ``endpoint: local``, the embedded emulator's ``/emulator/...`` controls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from reconciler.tim.callbacks import (
    COMMAND_PARAM,
    OK_ANSWER,
    CallbackMalformed,
    parse_group_event,
)
from reconciler.watch.auth import CallbackAuth, Refused
from reconciler.watch.controller import Controller
from reconciler.watch.metrics import Metrics

log = logging.getLogger("reconciler.watch")

JSON = "application/json"


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type=JSON)


def make_app(
    controller: Callable[[], Controller],
    auth: CallbackAuth,
    metrics: Metrics,
    emulator: Any | None = None,
) -> Starlette:
    """``controller`` gives the controller in use (it is made after the app, which the embedded
    emulator needs first to deliver its callbacks to)."""

    async def callback(request: Request) -> Response:
        body = await request.body()
        query = request.query_params
        command = query.get(COMMAND_PARAM) or "(none)"
        try:
            auth.check(query, body)
        except Refused as refused:
            metrics.refusals.labels(refused.reason).inc()
            metrics.callbacks.labels(command, "refused").inc()
            client = request.client.host if request.client else "?"
            log.warning("refused a callback from %s: %s (%s)", client, refused.reason, refused)
            return _json({"error": refused.reason}, refused.status)
        try:
            event = parse_group_event(command, body)
        except CallbackMalformed as err:
            metrics.callbacks.labels(command, "malformed").inc()
            log.warning("a %s callback could not be read: %s", command, err)
            return _json({"error": "malformed", "detail": str(err)}, 400)
        outcome = "ignored" if event is None else controller().on_event(event)
        metrics.callbacks.labels(command, outcome).inc()
        # The work happens after this answer: the vendor waits at most 2 s for it.
        return Response(OK_ANSWER, media_type=JSON)

    async def healthz(request: Request) -> Response:
        return _json(controller().health())

    async def metrics_text(request: Request) -> Response:
        return Response(metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    routes: list = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
    ]
    if emulator is not None:
        routes.append(Mount("/emulator", app=_EmulatorControls(emulator)))
    routes.append(Route("/{path:path}", callback, methods=["POST"]))
    return Starlette(routes=routes)


class _EmulatorControls:
    """Pass ``/emulator/...`` to the embedded emulator (its controls, not its /v4 API)."""

    def __init__(self, emulator: Any) -> None:
        self._emulator = emulator

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        scope = dict(scope)
        path = scope.get("path", "")
        if not path.startswith("/emulator/"):  # Starlette versions differ on a Mount's path
            scope["path"] = "/emulator" + path
        scope["root_path"] = ""
        await self._emulator(scope, receive, send)
