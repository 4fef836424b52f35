"""Async client of the Tencent Cloud Chat server REST API: the core, which knows no API.

What each API sends and reads is in ``reconciler.tim.wire``, one module per API family; this
module posts a call and reads its envelope.

Every call is ``POST {base_url}/v4/{service}/{command}`` with the five query parameters
(reference §1.1) and a JSON body. Calls of one API (command) share a limiter that admits at most
``rate`` calls in any 1-second window; all calls share a bound on concurrency. Transient failures
(network, timeouts, HTTP 5xx, frequency limits, internal errors) are retried with exponential
backoff and jitter within a budget of waiting time. A small idempotent read that writes wait on
(the app lock's lease, the revision record) is called with ``CONTROL`` patience: a short timeout
per attempt, and a second identical request when the first has not answered soon (hedged).
With ``hedge_reads`` (the watch's client) every read is hedged too, after a delay learnt from
the recent reads' answer times, so that one stalled read does not cost the client's timeout.
The secret key and UserSigs never appear in logs, exception messages or reprs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import ssl
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_exponential,
    wait_random,
)

from reconciler.tim import usersig
from reconciler.tim.errors import (
    RATE_LIMIT_CODES,
    TimApiError,
    TimCertificateError,
    TimError,
    TimTransportError,
)
from reconciler.tim.limits import DEFAULT_RATE, SPLIT_ON, Limits, chunks, is_read
from reconciler.tim.redact import Secret, install_log_redaction, redact_url, scrub
from reconciler.tim.slots import PRIORITY, URGENT, PrioritySlots
from reconciler.tim.transport import (
    Answer,
    CallTimeout,
    ConnectFailed,
    ConnectionLost,
    HttpxTransport,
    RestTransport,
    TransportError,
)

if TYPE_CHECKING:
    import httpx

    from reconciler.tim.wire.common import Outcome, Request

logger = logging.getLogger(__name__)

# No 1-second window may hold more than the limit; keep this much extra room for the jitter
# between the limiter's decision and the request's arrival. A busy event loop (decoding a big
# answer) delays some admitted requests and not others, so they arrive closer together than
# they were admitted and a server counting a strict sliding window answers "too frequent".
RATE_WINDOW_MARGIN_S = 0.05

# Requests in flight per API. 200 calls/s at 20-40 ms takes 4-8; the rest absorbs jitter. More
# costs client CPU, and a client short of CPU sends in clumps that break the server's 1-second
# windows. Raise it (apply --parallelism) only for long round trips.
DEFAULT_MAX_IN_FLIGHT = 16

# UserSigs are made for a day and replaced after half of it.
USERSIG_TTL_S = 86400
USERSIG_REFRESH_S = USERSIG_TTL_S // 2

# Backoff between attempts: 0.25 s doubling, at most 10 s, plus up to 0.25 s of jitter.
BACKOFF_INITIAL_S = 0.25
BACKOFF_MAX_S = 10.0
BACKOFF_JITTER_S = 0.25


@dataclass(frozen=True)
class Patience:
    """How long one call waits for its answer, where that differs from the client's timeout:
    each attempt gives up after ``timeout_s`` (a total, whatever the transport does), and, for
    an idempotent read only, an identical second request is sent when the first has not
    answered within ``hedge_after_s``; the first answer is taken and the other request
    cancelled. At most one second request per attempt, counted in ``CallStats.hedges``. Such a
    call goes ahead of every call of its API waiting for a slot or the limiter (``URGENT``)."""

    timeout_s: float
    hedge_after_s: float | None = None


# The reads every write waits for (the lease check, the revision record): a few hundred bytes,
# answered in tens of ms, so one that has said nothing for half a second has most likely
# stalled (a hung connection, a server that lost the request), and waiting out the client's
# 10 s timeout for it would hold up every write of the app.
CONTROL = Patience(timeout_s=2.0, hedge_after_s=0.5)

# hedge_reads: a read is sent again when it has not answered within twice the 95th percentile
# of the last HEDGE_SAMPLES reads' answer times (a stall is far slower than any of them; twice,
# so that about 1 read in 100 or fewer is sent twice), within these bounds; the upper one until
# HEDGE_LEARN_AFTER reads have answered.
HEDGE_READS_S = (0.25, 2.0)
HEDGE_SAMPLES = 200
HEDGE_LEARN_AFTER = 20


# --- statistics ------------------------------------------------------------------------------


@dataclass
class CallStats:
    """Counters for a run.

    ``calls``: logical calls per command; ``requests``: HTTP requests sent (calls + retries);
    ``retries``: repeated attempts; ``hedges``: second requests of a hedged read (``Patience``);
    ``rate_limit_errors``: answers with 10006/60007/60011/60018/60019; ``failures``: calls that
    finally raised.
    """

    calls: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    retries: int = 0
    hedges: int = 0
    rate_limit_errors: int = 0
    failures: int = 0


# Retries made for the current task's calls, when someone counts them (apply counts per
# operation: each operation runs in its own task, so concurrent ones do not mix).
retry_counter: ContextVar[list[int] | None] = ContextVar("retry_counter", default=None)
# Requests sent for the current task's calls and those of the tasks it starts, when someone
# counts them (the stale check, whose reads share the client with the lock's own).
request_counter: ContextVar[list[int] | None] = ContextVar("request_counter", default=None)


def make_limiter(rate: float) -> AsyncLimiter:
    """A leaky bucket that never admits more than ``rate`` calls in any 1-second window.

    ``AsyncLimiter(rate, 1)`` would admit a burst of ``rate`` on top of the steady flow (up to
    2 x rate in the first second). A bucket of capacity ``b`` draining at ``d`` calls/s admits
    ``n`` calls only over a span of at least ``(n - b) / d`` seconds, so with
    ``d = (rate + 1 - b) / (1 + margin)`` ``rate + 1`` calls need at least 1 s + margin.
    Capacity 1 (``AsyncLimiter(1, 1/rate)``) would be exact too, but every late timer wakeup
    (asyncio rounds timeouts up to whole milliseconds) then costs throughput. Capacity 2
    absorbs lateness below one interval; with the margin, the drain is about 95% of the limit.
    """
    burst = 2 if rate >= 20 else 1
    drain = (rate + 1 - burst) / (1 + RATE_WINDOW_MARGIN_S)
    return AsyncLimiter(burst, burst / drain)


def _encode(body: dict[str, Any] | None) -> bytes:
    return orjson.dumps(body if body is not None else {})


def _certificate_failure(exc: BaseException) -> str | None:
    """The reason a certificate was refused, when that is what ``exc`` (a connect error) is."""
    seen: BaseException | None = exc
    found: BaseException | None = None
    while seen is not None:  # the innermost one says why (aiohttp wraps ssl's own error)
        if isinstance(seen, ssl.SSLCertVerificationError):
            found = seen
        seen = seen.__cause__ or seen.__context__
    if found is None:
        return None
    return getattr(found, "verify_message", None) or str(found)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, (TimApiError, TimTransportError)) and exc.transient


# --- the client ------------------------------------------------------------------------------


class TimClient:
    """Async client of the REST API. Use ``async with TimClient(...) as c:`` or ``aclose()``."""

    def __init__(
        self,
        *,
        sdkappid: int,
        admin: str,
        secret_key: str,
        base_url: str,
        transport: httpx.AsyncBaseTransport | RestTransport | HttpxTransport | None = None,
        rate_limit: float = DEFAULT_RATE,
        rate_limits: dict[str, float] | None = None,
        limits: Limits | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        timeout_s: float = 10.0,
        max_attempts: int = 6,
        max_retry_wait_s: float = 60.0,
        hedge_reads: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``hedge_reads``: every read (not only a control read given ``Patience``) is sent
        again, once, when it has not answered within a delay learnt from the recent reads
        (``HEDGE_READS_S``); counted in ``stats.hedges``."""
        if base_url.strip().lower() == "local":
            raise ValueError(
                "base_url 'local' is not a URL: pass the emulator's transport and any base URL"
            )
        if not admin:
            raise ValueError("admin identifier must not be empty")
        # The one table of batch sizes and rates for this app; learning from the server's
        # refusals (10005, 10018) changes it for the rest of the run.
        self.limits = limits or Limits(float(rate_limit), rates=dict(rate_limits or {}))
        rates = [("rate_limit", self.limits.default_rate), *self.limits.rates.items()]
        for name, rate in rates:
            if not rate > 0:
                raise ValueError(f"rate limit for {name} must be > 0 calls/s, got {rate}")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if max_retry_wait_s < 0:
            raise ValueError("max_retry_wait_s must be >= 0")
        self._sdkappid = int(sdkappid)
        self._admin = admin
        self._key = Secret(secret_key)
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._max_retry_wait_s = max_retry_wait_s
        self.hedge_reads = hedge_reads
        self._read_times: deque[float] = deque(maxlen=HEDGE_SAMPLES)  # answered reads, seconds
        # Per API, so a long queue of one API's calls never holds up another API's.
        self._max_in_flight = max_in_flight
        self._semaphores: dict[str, PrioritySlots] = {}
        self._gates: dict[str, PrioritySlots] = {}
        self._limiters: dict[str, AsyncLimiter] = {}
        self._sig: Secret | None = None
        self._sig_made_at = 0.0
        self._backoff = wait_exponential(
            multiplier=BACKOFF_INITIAL_S, exp_base=2, max=BACKOFF_MAX_S
        ) + wait_random(0, BACKOFF_JITTER_S)
        self._sleep = asyncio.sleep  # replaced in tests to observe waits
        self._clock = clock  # what relative times (MuteTime) are computed from
        self.stats = CallStats()
        # Set by the app lock (reconciler.lock) while it is held: awaited by every write once
        # the limiter has let it go, just before it is sent; it raises to stop the write.
        self.fence: Callable[[], Awaitable[None]] | None = None
        install_log_redaction()
        # No HTTP client layer (httpx's URL merging, cookies, auth and redirects cost CPU on
        # every call, and none of it is used here): a transport posts the call.
        self._transport: RestTransport | HttpxTransport
        if transport is None or isinstance(transport, RestTransport | HttpxTransport):
            self._transport = transport or RestTransport()
        else:
            self._transport = HttpxTransport(transport)
        self._query: Secret | None = None  # the query parameters, made with:
        self._query_made_with: Secret | None = None

    def __repr__(self) -> str:
        return (
            f"TimClient(sdkappid={self._sdkappid}, admin={self._admin!r}, "
            f"base_url={self._base_url!r})"
        )

    async def __aenter__(self) -> TimClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    # --- plumbing ----------------------------------------------------------------------------

    def _usersig(self) -> str:
        now = time.time()
        if self._sig is None or now - self._sig_made_at >= USERSIG_REFRESH_S:
            sig = usersig.generate(
                self._sdkappid, self._key.get(), self._admin, expire=USERSIG_TTL_S, now=int(now)
            )
            self._sig = Secret(sig)
            self._sig_made_at = now
        return self._sig.get()

    def scrub(self, text: str) -> str:
        """Remove the key and the UserSig from text that came from elsewhere."""
        return scrub(text, self._key.get(), self._sig.get() if self._sig else "")

    def _limiter(self, command: str) -> AsyncLimiter:
        limiter = self._limiters.get(command)
        if limiter is None:
            rate = self.limits.rate_of(command)
            limiter = self._limiters[command] = make_limiter(rate)
        return limiter

    def _wait(self, state: RetryCallState) -> float:
        remaining = self._max_retry_wait_s - state.idle_for
        return max(0.0, min(self._backoff(state), remaining))

    def _stop(self, state: RetryCallState) -> bool:
        return (
            state.attempt_number >= self._max_attempts or state.idle_for >= self._max_retry_wait_s
        )

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        counter = retry_counter.get()
        if counter is not None:
            counter[0] += 1
        exc = state.outcome.exception() if state.outcome else None
        logger.info(
            "retrying after %.2f s (attempt %d failed: %s)",
            state.upcoming_sleep,
            state.attempt_number,
            exc,
        )

    @property
    def admin(self) -> str:
        """The App admin identifier the calls are made as."""
        return self._admin

    def relative(self, until: int) -> int:
        """Seconds from now until the absolute ``until`` (never negative), for fields relative
        to the time of the call (MuteTime, Duration)."""
        return max(0, until - int(self._clock()))

    def check_batch(self, api: str, items: list[Any]) -> None:
        """Refuse more items in one ``api`` call than its limit."""
        limit = self.limits.batch_of(api)
        if len(items) > limit:
            raise ValueError(f"{api}: {len(items)} items in one call; the limit is {limit}")

    @property
    def max_in_flight(self) -> int:
        """Calls of one API in flight at most."""
        return self._max_in_flight

    async def call(
        self,
        service: str,
        command: str,
        body: dict[str, Any],
        *,
        prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        patience: Patience | None = None,
    ) -> dict[str, Any]:
        """POST one API call; return the answer; raise TimApiError or TimTransportError.

        ``prepare(body)``, when given, makes the body sent by each attempt at the moment the
        limiter lets it go (after any wait in the queue), for fields relative to the time of
        the call such as MuteTime. ``patience``: this call's own timeout, and for a read its
        hedging (``Patience``); retries are as for any call.
        """
        api = f"{service}/{command}"
        payload: bytes | Callable[[], bytes]
        if prepare is None:
            payload = _encode(body)
        else:
            payload = lambda: _encode(prepare(body))  # noqa: E731 - made per attempt
        if patience is not None and patience.hedge_after_s is not None and not is_read(command):
            raise ValueError(f"{api} writes: only a read may be sent twice")
        self.stats.calls[command] += 1
        attempt_once: Callable[[str, str, bytes | Callable[[], bytes]], Awaitable[dict[str, Any]]]
        if patience is not None:
            attempt_once = functools.partial(self._patient, patience)
        elif self.hedge_reads and is_read(command):
            attempt_once = self._hedged_read
        else:
            attempt_once = self._attempt
        try:
            # Most calls succeed at once; tenacity's bookkeeping (about a tenth of a call's CPU)
            # starts only when one does not.
            return await attempt_once(command, api, payload)
        except TimError as exc:
            if not _is_transient(exc):
                self.stats.failures += 1
                raise
            first_failure: TimError | None = exc
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_transient),
            stop=self._stop,
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        result: dict[str, Any] = {}
        try:
            async for attempt in retrying:
                with attempt:
                    if first_failure is not None:  # attempt 1 is the one made above
                        failure, first_failure = first_failure, None
                        raise failure
                    result = await attempt_once(command, api, payload)
        except TimError:
            self.stats.failures += 1
            raise
        return result

    async def _hedged_read(
        self, command: str, api: str, payload: bytes | Callable[[], bytes]
    ) -> dict[str, Any]:
        """One attempt of a read (``hedge_reads``): the client's timeout, hedged after twice
        the recent reads' 95th percentile answer time, within ``HEDGE_READS_S``; in its
        place in its API's queue."""
        low, high = HEDGE_READS_S
        delay = high
        if len(self._read_times) >= HEDGE_LEARN_AFTER:
            recent = sorted(self._read_times)
            delay = min(high, max(low, 2 * recent[int(0.95 * (len(recent) - 1))]))
        patience = Patience(timeout_s=self._timeout_s, hedge_after_s=delay)
        return await self._patient(patience, command, api, payload, urgent=False)

    async def _patient(
        self,
        patience: Patience,
        command: str,
        api: str,
        payload: bytes | Callable[[], bytes],
        *,
        urgent: bool = True,
    ) -> dict[str, Any]:
        """One attempt under ``patience``: sent again, once, if the first request has not
        answered within ``hedge_after_s`` of going out; the first answer wins, and the other
        request is cancelled. An error answer of one request waits for the other's; both
        failing raises the later error (retried like any). ``urgent``: ahead of its API's
        queue (a control read, which writes wait on)."""

        def send() -> tuple[asyncio.Future[dict[str, Any]], asyncio.Event]:
            sent = asyncio.Event()
            ahead = PRIORITY.set(URGENT) if urgent else None  # (the task takes the context now)
            try:
                attempt = self._attempt(command, api, payload, patience.timeout_s, sent)
                return asyncio.ensure_future(attempt), sent
            finally:
                if ahead is not None:
                    PRIORITY.reset(ahead)

        first, sent = send()
        tasks = [first]
        try:
            if patience.hedge_after_s is not None:
                # The delay counts from the request going out, not from its wait for a slot
                # or the limiter (a second request would wait there too).
                going: asyncio.Future[Any] = asyncio.ensure_future(sent.wait())
                try:
                    await asyncio.wait([first, going], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    going.cancel()
                done, _ = await asyncio.wait(tasks, timeout=patience.hedge_after_s)
                if not done:
                    self.stats.hedges += 1
                    tasks.append(send()[0])
            pending = set(tasks)
            while True:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                answered = [t for t in done if t.exception() is None]  # (every error read)
                if answered or not pending:
                    return (answered or list(done))[0].result()
        finally:
            for task in tasks:  # the slower request, or both when this call is cancelled
                task.cancel()

    async def _attempt(
        self,
        command: str,
        api: str,
        payload: bytes | Callable[[], bytes],
        timeout_s: float | None = None,
        sent: asyncio.Event | None = None,
    ) -> dict[str, Any]:
        """One request; ``timeout_s``, when given, bounds its whole exchange (else the client's
        timeout, as the transport applies it); ``sent`` is set as it goes out."""
        timeout = self._timeout_s if timeout_s is None else timeout_s
        semaphore = self._semaphores.get(command)
        if semaphore is None:
            semaphore = self._semaphores[command] = PrioritySlots(self._max_in_flight)
        async with semaphore:
            gate = self._gates.get(command)
            if gate is None:
                gate = self._gates[command] = PrioritySlots(1)
            async with gate:  # the limiter's queue, in the same order as the slots'
                await self._limiter(command).acquire()
            if self.fence is not None and not is_read(command):
                await self.fence()
            if callable(payload):  # a body made now, after any wait for the limiter
                payload = payload()
            query = f"{self._query_string()}{secrets.randbits(32)}&contenttype=json"
            url = f"{self._base_url}/v4/{api}?{query}"
            self.stats.requests += 1
            counted = request_counter.get()
            if counted is not None:
                counted[0] += 1
            if sent is not None:
                sent.set()
            started = time.perf_counter()
            try:
                if timeout_s is None:
                    answer = await self._transport.post(url, payload, timeout)
                else:  # a total, also where the transport does not enforce one
                    try:
                        async with asyncio.timeout(timeout):
                            answer = await self._transport.post(url, payload, timeout)
                    except TimeoutError:
                        raise CallTimeout("deadline", f"no answer within {timeout:g} s") from None
            except CallTimeout as exc:
                self._log_call(command, url, payload, "timeout", started)
                raise TimTransportError(
                    api, f"timed out ({exc.kind}, limit {timeout:g} s)", transient=True
                ) from None
            except ConnectFailed as exc:
                self._log_call(command, url, payload, "network error", started)
                refused = _certificate_failure(exc)
                if refused is not None:
                    raise TimCertificateError(
                        api, f"TLS certificate verification failed ({refused})"
                    ) from None
                detail = self.scrub(str(exc)) or "no detail"
                raise TimTransportError(
                    api, f"network error ({exc.kind}: {detail})", transient=True
                ) from None
            except ConnectionLost as exc:
                self._log_call(command, url, payload, "network error", started)
                detail = self.scrub(str(exc)) or "no detail"
                raise TimTransportError(
                    api, f"network error ({exc.kind}: {detail})", transient=True
                ) from None
            except TransportError as exc:
                self._log_call(command, url, payload, "error", started)
                detail = self.scrub(str(exc)) or "no detail"
                raise TimTransportError(api, f"request failed ({exc.kind}: {detail})") from None
        if self.hedge_reads and is_read(command):
            self._read_times.append(time.perf_counter() - started)
        self._log_call(command, url, payload, answer.status, started)
        return self._parse(api, answer)

    def _query_string(self) -> str:
        """The query parameters (reference §1.1) up to the value of ``random``."""
        sig = self._usersig()
        if self._query is None or self._query_made_with is not self._sig:
            fixed = {"sdkappid": str(self._sdkappid), "identifier": self._admin, "usersig": sig}
            self._query = Secret(f"{urlencode(fixed)}&random=")
            self._query_made_with = self._sig
        return self._query.get()

    def _log_call(
        self, command: str, url: str, payload: bytes, status: object, started: float
    ) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "POST %s command=%s body=%dB status=%s elapsed=%.1fms",
                redact_url(url),
                command,
                len(payload),
                status,
                (time.perf_counter() - started) * 1000,
            )

    def _parse(self, api: str, answer: Answer) -> dict[str, Any]:
        status = answer.status
        if status >= 500:
            raise TimTransportError(api, f"HTTP {status} {answer.reason}", transient=True)
        if not 200 <= status < 300:
            raise TimTransportError(api, f"HTTP {status} {answer.reason}")
        try:
            data = orjson.loads(answer.content)
        except ValueError:
            kind = answer.content_type or "unknown content type"
            raise TimTransportError(api, f"answer is not JSON ({kind})") from None
        if not isinstance(data, dict) or ("ActionStatus" not in data and "ErrorCode" not in data):
            raise TimTransportError(api, "answer has no ActionStatus/ErrorCode envelope")
        raw_code = data.get("ErrorCode", 0)
        if isinstance(raw_code, bool) or not isinstance(raw_code, int | str):
            raise TimTransportError(api, f"answer has a non-integer ErrorCode {raw_code!r}")
        try:
            code = int(raw_code)
        except ValueError:
            raise TimTransportError(
                api, f"answer has a non-integer ErrorCode {raw_code!r}"
            ) from None
        if data.get("ActionStatus") == "FAIL" or code != 0:
            if code in RATE_LIMIT_CODES:
                self.stats.rate_limit_errors += 1
            info = self.scrub(str(data.get("ErrorInfo") or ""))
            request_id = data.get("RequestId")
            raise TimApiError(api, code, info, request_id=str(request_id) if request_id else None)
        return data

    async def split(
        self, api: str, items: list[Any], send: Callable[[list[Any]], Awaitable[list[Any]]]
    ) -> list[Any]:
        """``send(items)`` in calls of at most the current size for ``api``; when the server
        refuses a call's size (``limits.SPLIT_ON``: 10005 too many accounts, 10018 answer over
        1 MB), learn a smaller size, split that call and send the parts. Results in order."""
        size = self.limits.batch_of(api)
        if len(items) > size:
            parts = await asyncio.gather(
                *(self.split(api, part, send) for part in chunks(items, size))
            )
            return [result for part in parts for result in part]
        try:
            return await send(items)
        except TimApiError as err:
            if err.code != SPLIT_ON.get(api) or len(items) <= 1:
                raise
            # Always smaller than the refused call, so this ends (at one item, raised above).
            after = self.limits.learn(api, len(items))
            logger.debug(
                "%s: the server refused %d items in one call (%d); now at most %d per call",
                api,
                len(items),
                err.code,
                after,
            )
            return await self.split(api, items, send)

    async def pages(
        self,
        service: str,
        command: str,
        body: dict[str, Any],
        cursor: str,
        *,
        answer_cursor: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The pages of a listing that is paged by a cursor: ``body`` holds the first page's
        ``cursor`` field (left out: not sent on the first call); each next call sends the
        answer's ``answer_cursor`` (default: the same name) back as it came. An empty, zero or
        absent cursor ends it; a repeated one is an error rather than a loop."""
        seen: set[str] = set()
        while True:
            page = await self.call(service, command, body)
            yield page
            value = page.get(answer_cursor or cursor)
            if value in ("", 0, None):
                return
            if str(value) in seen:
                raise TimTransportError(f"{service}/{command}", f"paging cursor {value!r} repeated")
            seen.add(str(value))
            body = {**body, cursor: value}

    # --- the calls a plan is made of ------------------------------------------------------------

    async def perform(self, request: Request) -> Outcome:
        """Send one of a plan's calls (a ``reconciler.tim.wire`` request) and say what it
        achieved."""
        return await request.send(self)
