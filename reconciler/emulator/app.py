"""The emulator's HTTP face: an ASGI (Starlette) app over :class:`EmulatorStore`.

``POST /v4/<service>/<command>?sdkappid=&identifier=&usersig=&random=&contenttype=json`` is
answered like the real service; see ``reconciler.emulator`` for the rules and the choices on
unconfirmed points. A /v4 request goes through, in order:

1. counting (``GET /emulator/stats``) and the configured latency (``latency_ms``);
2. the fault draw (``fault_rate``, ``seed``): two numbers from one ``random.Random(seed)`` per
   /v4 request, so the same sequence of requests meets the same faults;
3. the path (60009 bad path / unknown service, 10003 unknown command of a known service), the
   method (60002 unless POST) and the five query parameters: sdkappid (60012 missing, 60006
   wrong), identifier and usersig (60004 missing), random (60002 unless a uint32),
   contenttype (60002 unless ``json``);
4. the UserSig (70001 expired, 70003 unparseable, 70009 wrong key, 70013 made for another
   identifier, 70014 made for another app) and the admin check (60010 when the identifier,
   with a valid UserSig of its own, is not the app admin);
5. the rate limit (``rate_limit`` calls/s per API over a sliding 1 s window, never above the
   API's documented rate in ``tim/limits.RATES``: 1/s for get_appid_group_list, 100/s for the
   account APIs): 60007, HTTP 200;
6. the body: 60003 if it is not JSON (an empty body included; a trailing comma before ] or }
   is forgiven), 10011 (account service: 70402) if it is JSON but not an object;
7. the command, in one SQLite transaction (rolled back when it fails), under the app's
   ``profile`` (``reconciler.emulator.profiles``).

Every /v4 answer, failures included, carries a ``RequestId`` (``Id-<hex>-O-Seq-<n>``).

Steps 1-5 run on the event loop; 6-7 on worker threads (writes on one, one at a time; reads
on threads of their own per API), so a command that takes long (an answer of tens of thousands
of members) does not hold up the timing and admission of the requests that arrive meanwhile.
Reads whose answers are small by the request's own bounds (a member page of at most 200, up
to 50 named members, up to 500 roles) run on the loop: the hand-off to a thread costs more
CPU than they do.

Faults, drawn at step 2 and affecting a ``fault_rate`` fraction of /v4 requests (valid or
not), come in four kinds with equal odds. One happens before the command, three after it (the
command HAS been applied; the client sees a failure for a write that happened, which is what
idempotent retries must handle):

* ``error``  - before: ``{"ErrorCode": 10002}`` with HTTP 200 instead of any other check or
  answer, nothing applied;
* ``http502`` - after: HTTP 502 with a non-JSON body;
* ``drop``   - after: the connection is cut mid-answer (in-process: ``httpx.RemoteProtocolError``);
* ``stall``  - after: nothing is answered for ``stall_s`` seconds, then the connection is cut
  (in-process: ``httpx.ReadTimeout``); set ``stall_s`` above the client's timeout.

Controls, outside /v4, need no UserSig (the emulator is a local test fixture; bind it to
loopback) and never see latency, faults or rate limits. Bodies and answers are JSON with the
usual envelope:

* ``POST /emulator/online {"GroupId", "Account", "Online": true|false}``: the account connects
  to / disconnects from an AVChatRoom (connecting joins it; disconnecting leaves it and drops
  its marks unless mark 500 keeps it online) or sets a Community member's online flag.
  ``"Accounts": [...]`` (1-500) instead of ``Account`` does it for several at once, in one
  transaction, with one state-change callback naming them all.
* ``POST /emulator/join {"GroupId", "Account"}``: the account joins a Public, Meeting or
  Community group by itself (10007 if ApplyJoinOption is DisableApply or the type is Work;
  10014 when full); answers ``{"Result": 1}`` or ``{"Result": 2}`` (already a member).
* ``POST /emulator/leave {"GroupId", "Account"}``: the member leaves (10009 for the owner).
* ``POST /emulator/clock {"Advance": seconds}`` or ``{"Now": unix_seconds}``: move the
  emulator's clock (mute deadlines, mark 500, UserSig expiry); answers ``{"Now": ...}``.
* ``POST /emulator/reset``: forget all groups, members and accounts, statistics, rate windows
  and the clock offset; restart the fault sequence from ``seed``.
* ``GET /emulator/stats``: ``{"requests": {api: n}, "total": n, "rate_limited": {api: n},
  "busiest_second": {api: n}, "faults": {kind: n}, "fault_log": [[request_no, api, kind], ...],
  "errors": {code: n}, "state": {"groups": n, "members": n, "accounts": n}}`` (``api`` is
  ``service/command``; ``busiest_second``: the most calls of that API admitted past the rate
  limit in any sliding 1 s window, with or without rate limiting).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx
import orjson
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from ..tim.limits import RATES
from ..tim.usersig import UserSigError, VerifiedSig, verify
from . import api
from . import errors as E
from .callbacks import CallbackSender
from .errors import ApiError
from .profiles import Profile, profile_named
from .store import EmulatorStore

FAULT_KINDS = ("error", "http502", "drop", "stall")
_SIG_CACHE_MAX = 4096
READERS_PER_API = 2  # threads that run one read command (writes have one of their own)
SMALL_PAGE = 200  # members: a page of at most this many is read on the event loop (_small_read)
_JSON = [(b"content-type", b"application/json; charset=utf-8")]


class EmulatedDisconnect(httpx.RemoteProtocolError):
    """An injected fault: the server cut the connection before the answer was complete."""


class EmulatedTimeout(httpx.ReadTimeout):
    """An injected fault: the server answered nothing for ``stall_s`` seconds."""


class _QuietInjectedFaults(logging.Filter):
    """Keep uvicorn from logging a traceback for each injected fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, EmulatedDisconnect | EmulatedTimeout)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietInjectedFaults) for f in logger.filters):
        logger.addFilter(_QuietInjectedFaults())


def envelope(
    payload: dict[str, Any] | None = None,
    error: ApiError | None = None,
    request_id: str | None = None,
) -> bytes:
    if error is not None:
        doc: dict[str, Any] = {
            "ActionStatus": "FAIL",
            "ErrorInfo": error.info,
            "ErrorCode": error.code,
        }
    else:
        doc = {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}
    if request_id is not None:
        # The newer samples' envelope (TRTC/Chat REST overview, 647/60703): "Id-...-O-Seq-n".
        doc["RequestId"] = request_id
    if error is None and payload:
        doc.update(payload)
    # orjson: an answer of thousands of members is encoded in a few ms, so it does not stall the
    # single-threaded server (which would bunch the requests queued behind it).
    return orjson.dumps(doc)


class Emulator:
    """The raw ASGI application behind :func:`create_app`; holds the non-SQLite state."""

    def __init__(
        self,
        store: EmulatorStore,
        *,
        sdkappid: int,
        secret_key: str,
        admin: str,
        latency_ms: float,
        rate_limit: float | None,
        fault_rate: float,
        seed: int | None,
        stall_s: float,
        profile: str | Profile = "default",
        callbacks: CallbackSender | None = None,
    ) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError("rate_limit must be positive")
        self.store = store
        self.sdkappid = int(sdkappid)
        self.secret_key = secret_key
        self.admin = admin
        self.latency_s = max(0.0, latency_ms) / 1000.0
        self.rate_limit = rate_limit
        self.fault_rate = fault_rate
        self.seed = seed
        self.stall_s = stall_s
        self.profile = profile_named(profile)
        self.callbacks = callbacks  # third-party callbacks (reconciler.emulator.callbacks)
        # RequestIds: unique across restarts on the same file (a fresh token per process).
        self._request_token = secrets.token_hex(16)
        # Writes run one at a time on one thread, in the order they were admitted. Reads run
        # beside it, each API's on threads of its own with their own connections, as a real
        # service's would: get_group_info answers of thousands of members hold up no other
        # API's reads (SQLite writes member lists without holding the GIL).
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emulator")
        self._readers: dict[str, ThreadPoolExecutor] = {}
        self._reset_runtime()

    def _reset_runtime(self) -> None:
        self.rng = random.Random(self.seed)
        self.clock_offset = 0.0
        self._sigs: dict[tuple[str, str], VerifiedSig] = {}
        self._windows: dict[str, deque[float]] = {}
        # Per API: admission times of the last second, and the most seen in any second.
        self._recent: dict[str, deque[float]] = {}
        self.busiest: Counter[str] = Counter()
        self.request_no = 0
        self.requests: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.errors: Counter[int] = Counter()
        self.fault_log: deque[list[Any]] = deque(maxlen=10000)

    def now(self) -> int:
        return int(time.time() + self.clock_offset)

    def stats(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "total": sum(self.requests.values()),
            "rate_limited": dict(self.rate_limited),
            "busiest_second": dict(self.busiest),
            "faults": dict(self.faults),
            "fault_log": list(self.fault_log),
            "errors": {str(k): v for k, v in sorted(self.errors.items())},
            "state": self.store.counts(),
            "callbacks": self.callbacks.stats() if self.callbacks else None,
        }

    # -- ASGI -----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path.startswith("/v4/"):
            await self._v4(scope, path, body, send)
        elif path.startswith("/emulator/"):
            status, answer = self._control(scope["method"], path[len("/emulator/") :], body)
            await _respond(send, status, answer)
        else:
            await _respond(send, 200, envelope(error=ApiError(E.BAD_RESOURCE, "unknown path")))

    async def _v4(self, scope: Scope, path: str, raw: bytes, send: Send) -> None:
        parts = path[4:].split("/")
        key = "/".join(parts) if len(parts) == 2 else "(bad path)"
        known = len(parts) == 2 and (parts[0], parts[1]) in api.HANDLERS
        self.request_no += 1
        request_id = f"Id-{self._request_token}-O-Seq-{self.request_no}"
        self.requests[key if known else "(unknown)"] += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        fault = None
        if self.fault_rate:
            hit, which = self.rng.random(), self.rng.random()
            if hit < self.fault_rate:
                fault = FAULT_KINDS[min(int(which * len(FAULT_KINDS)), len(FAULT_KINDS) - 1)]
                self.faults[fault] += 1
                self.fault_log.append([self.request_no, key, fault])
        events: list = []
        try:
            self._check(scope, parts, known, key, fault)
            # The command (SQLite, and encoding answers of up to tens of thousands of members,
            # hundreds of ms) runs on a worker thread, so this loop keeps reading, timing
            # and admitting the requests that arrive meanwhile, as a real server would.
            writes = api.HANDLERS[(parts[0], parts[1])][1]
            if not writes and _small_read(parts[1], raw):
                # Handing it to a thread would cost more CPU (about 0.2 ms) than the read
                answer = self._execute(parts, raw, request_id, events)
            else:
                answer = await asyncio.get_running_loop().run_in_executor(
                    self._writer if writes else self._reader_of(parts[1]),
                    self._execute,
                    parts,
                    raw,
                    request_id,
                    events,
                )
        except ApiError as exc:
            self.errors[exc.code] += 1
            answer = envelope(error=exc, request_id=request_id)
        if events and self.callbacks is not None:  # the state changed, whatever is answered
            self.callbacks.deliver(events)
        if fault == "http502":
            await _respond(
                send, 502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", b"text/html"
            )
        elif fault == "drop":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [*_JSON, (b"content-length", str(len(answer)).encode())],
                }
            )
            raise EmulatedDisconnect("emulated fault: connection dropped")
        elif fault == "stall":
            await asyncio.sleep(self.stall_s)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [*_JSON, (b"content-length", str(len(answer)).encode())],
                }
            )
            raise EmulatedTimeout(f"emulated fault: no answer for {self.stall_s} s")
        else:
            await _respond(send, 200, answer)

    def _reader_of(self, command: str) -> ThreadPoolExecutor:
        pool = self._readers.get(command)
        if pool is None:
            pool = self._readers[command] = ThreadPoolExecutor(
                max_workers=READERS_PER_API, thread_name_prefix=f"emulator-{command}"
            )
        return pool

    def _check(
        self, scope: Scope, parts: list[str], known: bool, key: str, fault: str | None
    ) -> None:
        """Steps 2-5: the fault draw's error, path, method, query parameters, UserSig, rate."""
        if fault == "error":
            raise ApiError(E.INTERNAL, "internal server error (emulated fault); retry")
        if len(parts) != 2 or parts[0] not in api.SERVICES:
            raise ApiError(E.BAD_RESOURCE, f"unknown resource {'/'.join(parts)!r}")
        if not known:
            raise ApiError(E.BAD_COMMAND, f"unknown command {parts[1]!r} of {parts[0]}")
        if scope["method"] != "POST":
            raise ApiError(E.HTTP_PARSE, "REST calls use POST")
        self._authenticate(scope.get("query_string", b""))
        now = time.monotonic()
        if self.rate_limit is not None and not self._admit(key, parts[1], now):
            self.rate_limited[key] += 1
            raise ApiError(E.RATE_LIMITED, f"{key}: call frequency over the limit")
        self._count_admitted(key, now)

    def _execute(
        self,
        parts: list[str],
        raw: bytes,
        request_id: str | None = None,
        events: list | None = None,
    ) -> bytes:
        """Steps 6-7: the body and the command, in one transaction (on the writer's thread, or
        a reader's for a read); the callbacks it fires are added to ``events``."""
        body = self._body(raw, parts[0])
        handler, writes = api.HANDLERS[(parts[0], parts[1])]
        ctx = api.Ctx(self.sdkappid, self.admin, self.now(), self.profile)
        with self.store.transaction(write=True) if writes else self.store.snapshot() as c:
            payload = self._run(parts[1], handler, ctx, c, body, events)
        answer = envelope(payload, request_id=request_id)
        if parts[1] in self.profile.size_limited and len(answer) > api.R.RESPONSE_MAX_BYTES:
            raise ApiError(E.RESPONSE_TOO_LARGE, "response over 1 MB; ask for a smaller page")
        return answer

    def _authenticate(self, query_string: bytes) -> None:
        q = _parse_query(query_string)
        appid = q.get("sdkappid")
        if not appid:
            raise ApiError(E.NO_SDKAPPID, "sdkappid is missing from the URL")
        if not appid.isdigit() or int(appid) != self.sdkappid:
            raise ApiError(E.BAD_SDKAPPID, f"SDKAppID {appid} is invalid")
        identifier, usersig = q.get("identifier"), q.get("usersig")
        if not identifier or not usersig:
            raise ApiError(E.BAD_ACCOUNT_OR_SIG, "identifier and usersig are required in the URL")
        rnd = q.get("random", "")
        if not rnd.isdigit() or int(rnd) > 0xFFFFFFFF:
            raise ApiError(E.HTTP_PARSE, "random must be an unsigned 32-bit integer")
        if q.get("contenttype") != "json":
            raise ApiError(E.HTTP_PARSE, "contenttype must be json")
        now = self.now()
        cached = self._sigs.get((usersig, identifier))
        if cached is None or now > cached.time + cached.expire:
            try:
                cached = verify(usersig, self.sdkappid, self.secret_key, identifier, now=now)
            except UserSigError as exc:
                raise ApiError(exc.code, exc.reason) from None
            if len(self._sigs) >= _SIG_CACHE_MAX:
                self._sigs.clear()
            self._sigs[(usersig, identifier)] = cached
        if identifier != self.admin:
            raise ApiError(E.NEED_ADMIN, f"{identifier} is not an App admin")

    def _admit(self, key: str, command: str, now: float) -> bool:
        # The app's rate, but never above an API's own documented rate (tim/limits.py: 1/s for
        # get_appid_group_list, 100/s for the account APIs).
        limit = min(self.rate_limit or 0.0, RATES.get(command, float("inf")))
        window_s = 1.0 if limit >= 1 else 1.0 / limit
        capacity = max(1, int(limit))
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - window_s:
            window.popleft()
        if len(window) >= capacity:
            return False
        window.append(now)
        return True

    def _count_admitted(self, key: str, now: float) -> None:
        """Keep the busiest second per API (any sliding 1 s window) for /emulator/stats."""
        recent = self._recent.setdefault(key, deque())
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        recent.append(now)
        if len(recent) > self.busiest[key]:
            self.busiest[key] = len(recent)

    @staticmethod
    def _body(raw: bytes, service: str) -> dict:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            # A trailing comma before ] or } is accepted: the seed page's own modify_user_info
            # sample has one, and clients copy it. Anything else (comments included): 60003.
            try:
                body = json.loads(_drop_trailing_commas(raw.decode("utf-8")))
            except (ValueError, UnicodeDecodeError):
                raise ApiError(E.JSON_PARSE, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            code = E.ACCOUNT_BAD_PARAM if service == api.LOGIN_SVC else E.BODY_UNDECODABLE
            raise ApiError(code, "the request body must be a JSON object")
        return body

    # -- controls -------------------------------------------------------------------------
    def _control(self, method: str, name: str, raw: bytes) -> tuple[int, bytes]:
        try:
            if name == "stats" and method in ("GET", "POST"):
                return 200, envelope(self.stats())
            if method != "POST":
                raise ApiError(E.HTTP_PARSE, f"/emulator/{name} takes POST")
            body = self._body(raw or b"{}", "")
            if name == "reset":
                self.store.reset()
                self._reset_runtime()
                return 200, envelope()
            if name == "clock":
                if "Now" in body:
                    if not api.R.is_int(body["Now"]):
                        raise api.R.bad("Now must be unix seconds")
                    self.clock_offset = body["Now"] - time.time()
                elif "Advance" in body:
                    if not isinstance(body["Advance"], int | float):
                        raise api.R.bad("Advance must be a number of seconds")
                    self.clock_offset += body["Advance"]
                return 200, envelope({"Now": self.now()})
            handler = api.CONTROLS.get(name)
            if handler is None:
                raise ApiError(E.BAD_RESOURCE, f"unknown control /emulator/{name}")
            ctx = api.Ctx(self.sdkappid, self.admin, self.now(), self.profile)
            events: list = []
            with self.store.transaction(write=True) as c:
                answer = envelope(self._run(name, handler, ctx, c, body, events))
            if events and self.callbacks is not None:
                self.callbacks.deliver(events)
            return 200, answer
        except ApiError as exc:
            return 200, envelope(error=exc)

    def _run(
        self, command: str, handler: Any, ctx: Any, c: Any, body: dict, events: list | None
    ) -> dict:
        """Run a handler; with callbacks on, collect the ones it fires."""
        if self.callbacks is None or events is None:
            return handler(ctx, c, body)
        before = self.callbacks.before(command, c, body, ctx.now)
        payload = handler(ctx, c, body)
        events.extend(self.callbacks.after(command, c, body, payload, before, ctx.now))
        return payload


def _small_read(command: str, raw: bytes) -> bool:
    """A read whose answer is small by the request's own bounds: a page of members of at most
    ``SMALL_PAGE``, up to 50 named members, up to 500 roles. It runs on the event loop."""
    if command in ("get_specified_group_member_info", "get_role_in_group"):
        return True
    if command != "get_group_member_info":
        return False
    try:
        limit = orjson.loads(raw).get("Limit")
    except (ValueError, AttributeError):  # not JSON, or not an object: the thread answers
        return False
    return isinstance(limit, int) and 0 < limit <= SMALL_PAGE


def _drop_trailing_commas(text: str) -> str:
    """``text`` without the commas that only whitespace separates from a ] or } (not in strings)."""
    out: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "]}":
            end = len(out)
            while end and out[end - 1].isspace():
                end -= 1
            before = end - 1  # the comma must follow a value, as in [1, 2,] (not [,])
            while before > 0 and out[before - 1].isspace():
                before -= 1
            if end and out[end - 1] == "," and before > 0 and out[before - 1] not in "[{,":
                del out[end - 1]
        out.append(ch)
    return "".join(out)


def _parse_query(query_string: bytes) -> dict[str, str]:
    """Query parameters (the last of repeated names wins), with a fast path for plain text."""
    out: dict[str, str] = {}
    for part in query_string.decode("latin-1").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            name, value = unquote_plus(name), unquote_plus(value)
        out[name] = value
    return out


async def _respond(send: Any, status: int, body: bytes, content_type: bytes | None = None) -> None:
    headers = [
        (b"content-type", content_type or b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _EmulatorApp(Starlette):
    """Starlette for the lifespan; HTTP goes straight to the emulator (no routing layers)."""

    emulator: Emulator

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.emulator(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(
    db_path: str | Path,
    *,
    sdkappid: int,
    secret_key: str,
    admin: str = "administrator",
    latency_ms: float = 0,
    rate_limit: float | None = None,
    fault_rate: float = 0.0,
    seed: int | None = None,
    stall_s: float = 30.0,
    profile: str = "default",
    callback_url: str | None = None,
    callback_token: str | None = None,
    callback_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """A Tencent Chat REST emulator with its state in the SQLite file ``db_path``.

    ``app.state.emulator`` is the :class:`Emulator`, ``app.state.store`` its
    :class:`EmulatorStore`. ``profile`` is ``"default"`` (the seed pages) or ``"latest"``
    (the strictest documented reading; see ``reconciler.emulator.profiles``). With
    ``callback_url`` the documented callbacks are sent there (``reconciler.emulator.callbacks``;
    signed with ``callback_token`` when given; ``callback_transport`` delivers them in-process,
    e.g. ``httpx.ASGITransport`` of the receiver). The store is
    closed when the app's lifespan ends (servers); an
    app used through ``httpx.ASGITransport`` keeps it open until the process exits.
    """
    _install_log_filter()
    store = EmulatorStore(db_path, admin=admin)
    emulator = Emulator(
        store,
        sdkappid=sdkappid,
        secret_key=secret_key,
        admin=admin,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        fault_rate=fault_rate,
        seed=seed,
        stall_s=stall_s,
        profile=profile,
        callbacks=(
            CallbackSender(
                callback_url,
                sdkappid=sdkappid,
                admin=admin,
                token=callback_token,
                transport=callback_transport,
            )
            if callback_url
            else None
        ),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app = _EmulatorApp(routes=[Mount("/", app=emulator)], lifespan=lifespan)
    app.emulator = emulator
    app.state.emulator = emulator
    app.state.store = store
    return app
