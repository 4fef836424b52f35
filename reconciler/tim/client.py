"""Async client of the Tencent Cloud Chat server REST API.

Every call is ``POST {base_url}/v4/{service}/{command}`` with the five query parameters
(reference §1.1) and a JSON body. Calls of one API (command) share a limiter that admits at most
``rate`` calls in any 1-second window; all calls share a bound on concurrency. Transient failures
(network, timeouts, HTTP 5xx, frequency limits, internal errors) are retried with exponential
backoff and jitter within a budget of waiting time. The secret key and UserSigs never appear in
logs, exception messages or reprs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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

from reconciler.state import PermissionGroup, normalize_type
from reconciler.tim import usersig
from reconciler.tim.answers import (
    GROUP_FIELDS_READ,
    MEMBER_FILTER_NAMES,
    LiveMembers,
    admin_accounts,
    banned_accounts,
    listed,
    malformed,
    muted_accounts,
    permission_groups_from_api,
    permission_members_from_api,
    topic_permissions_from_api,
    topics_from_api,
)
from reconciler.tim.errors import (
    GROUP_GONE_CODES,
    MALFORMED,
    RATE_LIMIT_CODES,
    TOPIC_GONE_CODES,
    TimApiError,
    TimCertificateError,
    TimError,
    TimTransportError,
)
from reconciler.tim.limits import (
    AVCHATROOM_SVC,
    BAN_PAGE,
    BATCH,
    DEFAULT_RATE,
    GROUP_LIST_PAGE,
    GROUP_SVC,
    LOGIN_SVC,
    MEMBER_PAGE,
    PERMISSION_GROUP_PAGE,
    PERMISSION_MEMBER_PAGE,
    SPLIT_ON,
    TOPIC_SVC,
    Limits,
    chunks,
    is_read,
)
from reconciler.tim.slots import PRIORITY, PrioritySlots
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

    from reconciler.tim.calls import Outcome, Request

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

# Older field names (2022-2023 SDKs) -> current ones (reference §3 naming note).
_GROUP_RENAMES = {"ShutUpAllMember": "MuteAllMember"}
_MEMBER_RENAMES = {"ShutUpUntil": "MuteUntil"}
_MEMBER_BODY_RENAMES = {"ShutUpTime": "MuteTime"}
# What the state model reads of a member, for a get_group_info ResponseFilter; the mute
# under both names.


# --- redaction -------------------------------------------------------------------------------

_USERSIG_IN_TEXT = re.compile(r"(usersig=)[^&\s\"'<>]*", re.IGNORECASE)


def redact_url(text: str) -> str:
    """Replace the value of every ``usersig=`` query parameter in ``text`` with ``***``."""
    return _USERSIG_IN_TEXT.sub(r"\1***", text)


class RedactUserSigFilter(logging.Filter):
    """Rewrites log records whose message contains ``usersig=...`` (httpx logs request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        if "usersig=" in message.lower():
            record.msg = redact_url(message)
            record.args = None
        return True


_REDACT_FILTER = RedactUserSigFilter()
_THIRD_PARTY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    # The transport for real endpoints (reconciler.tim.transport).
    "aiohttp.client",
    "aiohttp.internal",
)


def install_log_redaction() -> None:
    """Attach the UserSig redaction filter to the HTTP libraries' loggers (idempotent)."""
    for name in _THIRD_PARTY_LOGGERS:
        target = logging.getLogger(name)
        if _REDACT_FILTER not in target.filters:
            target.addFilter(_REDACT_FILTER)


install_log_redaction()


class _Secret:
    """Holds a secret; its repr never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


# --- statistics ------------------------------------------------------------------------------


@dataclass
class CallStats:
    """Counters for a run.

    ``calls``: logical calls per command; ``requests``: HTTP requests sent (calls + retries);
    ``retries``: repeated attempts; ``rate_limit_errors``: answers with 10006/60007/60011/60018/
    60019; ``failures``: calls that finally raised.
    """

    calls: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    retries: int = 0
    rate_limit_errors: int = 0
    failures: int = 0


# Retries made for the current task's calls, when someone counts them (apply counts per
# operation: each operation runs in its own task, so concurrent ones do not mix).
retry_counter: ContextVar[list[int] | None] = ContextVar("retry_counter", default=None)


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


def _renamed(item: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    out = dict(item)
    for old, new in renames.items():
        if old in out:
            value = out.pop(old)
            out.setdefault(new, value)
    return out


def _normalize_member(member: dict[str, Any]) -> dict[str, Any]:
    # Members come by the million: copy only the rare ones with the old field name alone.
    if "MuteUntil" in member or "ShutUpUntil" not in member:
        return member
    return _renamed(member, _MEMBER_RENAMES)


def _normalize_group(group: dict[str, Any]) -> dict[str, Any]:
    out = _renamed(group, _GROUP_RENAMES)
    if isinstance(out.get("MemberList"), list):
        out["MemberList"] = [_normalize_member(m) for m in out["MemberList"]]
    return out


def _check_batch(limits: Limits, api: str, items: list[Any]) -> None:
    limit = limits.batch_of(api)
    if len(items) > limit:
        raise ValueError(f"{api}: {len(items)} items in one call; the limit is {limit}")


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
        clock: Callable[[], float] = time.time,
    ) -> None:
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
        self._key = _Secret(secret_key)
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._max_retry_wait_s = max_retry_wait_s
        # Per API, so a long queue of one API's calls never holds up another API's.
        self._max_in_flight = max_in_flight
        self._semaphores: dict[str, PrioritySlots] = {}
        self._gates: dict[str, PrioritySlots] = {}
        self._limiters: dict[str, AsyncLimiter] = {}
        self._sig: _Secret | None = None
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
        self._query: _Secret | None = None  # the query parameters, made with:
        self._query_made_with: _Secret | None = None

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
            self._sig = _Secret(sig)
            self._sig_made_at = now
        return self._sig.get()

    def _scrub(self, text: str) -> str:
        """Remove the key and the UserSig from text that came from elsewhere."""
        text = redact_url(text)
        for secret in (self._key.get(), self._sig.get() if self._sig else ""):
            if secret:
                text = text.replace(secret, "***")
        return text

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
    ) -> dict[str, Any]:
        """POST one API call; return the answer; raise TimApiError or TimTransportError.

        ``prepare(body)``, when given, makes the body sent by each attempt at the moment the
        limiter lets it go (after any wait in the queue), for fields relative to the time of
        the call such as MuteTime.
        """
        api = f"{service}/{command}"
        payload: bytes | Callable[[], bytes]
        if prepare is None:
            payload = _encode(body)
        else:
            payload = lambda: _encode(prepare(body))  # noqa: E731 - made per attempt
        self.stats.calls[command] += 1
        try:
            # Most calls succeed at once; tenacity's bookkeeping (about a tenth of a call's CPU)
            # starts only when one does not.
            return await self._attempt(command, api, payload)
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
                    result = await self._attempt(command, api, payload)
        except TimError:
            self.stats.failures += 1
            raise
        return result

    async def _attempt(
        self, command: str, api: str, payload: bytes | Callable[[], bytes]
    ) -> dict[str, Any]:
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
            started = time.perf_counter()
            try:
                answer = await self._transport.post(url, payload, self._timeout_s)
            except CallTimeout as exc:
                self._log_call(command, url, payload, "timeout", started)
                raise TimTransportError(
                    api,
                    f"timed out ({exc.kind}, limit {self._timeout_s:g} s)",
                    transient=True,
                ) from None
            except ConnectFailed as exc:
                self._log_call(command, url, payload, "network error", started)
                refused = _certificate_failure(exc)
                if refused is not None:
                    raise TimCertificateError(
                        api, f"TLS certificate verification failed ({refused})"
                    ) from None
                detail = self._scrub(str(exc)) or "no detail"
                raise TimTransportError(
                    api, f"network error ({exc.kind}: {detail})", transient=True
                ) from None
            except ConnectionLost as exc:
                self._log_call(command, url, payload, "network error", started)
                detail = self._scrub(str(exc)) or "no detail"
                raise TimTransportError(
                    api, f"network error ({exc.kind}: {detail})", transient=True
                ) from None
            except TransportError as exc:
                self._log_call(command, url, payload, "error", started)
                detail = self._scrub(str(exc)) or "no detail"
                raise TimTransportError(api, f"request failed ({exc.kind}: {detail})") from None
        self._log_call(command, url, payload, answer.status, started)
        return self._parse(api, answer)

    def _query_string(self) -> str:
        """The query parameters (reference §1.1) up to the value of ``random``."""
        sig = self._usersig()
        if self._query is None or self._query_made_with is not self._sig:
            fixed = {"sdkappid": str(self._sdkappid), "identifier": self._admin, "usersig": sig}
            self._query = _Secret(f"{urlencode(fixed)}&random=")
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
            info = self._scrub(str(data.get("ErrorInfo") or ""))
            request_id = data.get("RequestId")
            raise TimApiError(api, code, info, request_id=str(request_id) if request_id else None)
        return data

    async def _split(
        self, api: str, items: list[Any], send: Callable[[list[Any]], Awaitable[list[Any]]]
    ) -> list[Any]:
        """``send(items)`` in calls of at most the current size for ``api``; when the server
        refuses a call's size (``limits.SPLIT_ON``: 10005 too many accounts, 10018 answer over
        1 MB), learn a smaller size, split that call and send the parts. Results in order."""
        size = self.limits.batch_of(api)
        if len(items) > size:
            parts = await asyncio.gather(
                *(self._split(api, part, send) for part in chunks(items, size))
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
            return await self._split(api, items, send)

    # --- groups: reading ---------------------------------------------------------------------

    async def get_appid_group_list(
        self, limit: int | None = None, next: int = 0, group_type: str | None = None
    ) -> dict[str, Any]:
        """One page of the app's group IDs (1 call/s). ``Next`` is a uint64 cursor, 0 = done."""
        body: dict[str, Any] = {}
        if limit is not None:
            if not 1 <= limit <= GROUP_LIST_PAGE:
                raise ValueError(f"get_appid_group_list: limit must be 1 to {GROUP_LIST_PAGE}")
            body["Limit"] = limit
        if next:
            body["Next"] = next
        if group_type is not None:
            body["GroupType"] = normalize_type(group_type).value
        return await self.call(GROUP_SVC, "get_appid_group_list", body)

    async def iter_all_group_ids(self, group_type: str | None = None) -> list[str]:
        """Every group ID of the app (optionally of one type), paging by ``Next``."""
        ids: dict[str, None] = {}
        cursor = 0
        seen: set[int] = set()
        while True:
            page = await self.get_appid_group_list(next=cursor, group_type=group_type)
            for item in listed(page, "get_appid_group_list", "GroupIdList"):
                group_id = item.get("GroupId") if isinstance(item, dict) else item
                if isinstance(group_id, str):
                    ids[group_id] = None
            cursor = int(page.get("Next") or 0)
            if cursor == 0:
                return list(ids)
            if cursor in seen:
                raise TimTransportError(
                    f"{GROUP_SVC}/get_appid_group_list", f"paging cursor {cursor} repeated"
                )
            seen.add(cursor)

    async def get_group_info(self, group_ids: list[str]) -> list[dict[str, Any]]:
        """Profiles of up to 50 groups, all fields, member lists included (not for AVChatRoom).

        No ResponseFilter is sent: with a filter, unlisted fields are dropped and custom data
        would need its keys named; without one the server returns everything. Each item keeps its
        own ErrorCode/ErrorInfo (a missing group is reported there, not raised).
        """
        if not group_ids:
            return []

        async def send(ids: list[str]) -> list[dict[str, Any]]:
            answer = await self.call(GROUP_SVC, "get_group_info", {"GroupIdList": ids})
            return [_normalize_group(g) for g in listed(answer, "get_group_info", "GroupInfo")]

        # An answer over 1 MB (10018) is asked for again in fewer groups per call.
        return await self._split("get_group_info", list(group_ids), send)

    async def get_group_profiles(
        self,
        group_ids: list[str],
        group_keys: list[str],
        member_keys: list[str] | None = None,
        member_fields: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """get_group_info asking only for what the state model reads of a group: its profile,
        MemberNum and the custom keys ``group_keys``; with ``member_keys`` (custom keys of
        members) also the member list, with each member's ``member_fields`` (Member attribute
        names; all of role, name card, message flag and mute when None), else no member list
        at all. Far smaller answers than ``get_group_info``'s everything."""
        if not group_ids:
            return []
        response_filter: dict[str, Any] = {"GroupBaseInfoFilter": list(GROUP_FIELDS_READ)}
        if group_keys:
            response_filter["AppDefinedDataFilter_Group"] = list(group_keys)
        if member_keys is not None:
            fields = MEMBER_FILTER_NAMES if member_fields is None else member_fields
            response_filter["MemberInfoFilter"] = [
                name for attribute in fields for name in MEMBER_FILTER_NAMES[attribute]
            ]
            if member_keys:
                response_filter["AppDefinedDataFilter_GroupMember"] = list(member_keys)

        async def send(ids: list[str]) -> list[dict[str, Any]]:
            body = {"GroupIdList": ids, "ResponseFilter": response_filter}
            answer = await self.call(GROUP_SVC, "get_group_info", body)
            return [_normalize_group(g) for g in listed(answer, "get_group_info", "GroupInfo")]

        return await self._split("get_group_info", list(group_ids), send)

    async def get_group_member_info(
        self,
        group_id: str,
        limit: int = MEMBER_PAGE,
        offset: int | None = None,
        next: str | None = None,
    ) -> dict[str, Any]:
        """One page of members. ``offset`` for most types, ``next`` for Community (start "")."""
        if offset is not None and next is not None:
            raise ValueError("get_group_member_info: use either offset or next, not both")
        if limit < 1:
            raise ValueError("get_group_member_info: limit must be >= 1")
        body: dict[str, Any] = {"GroupId": group_id, "Limit": limit}
        if offset is not None:
            body["Offset"] = offset
        if next is not None:
            body["Next"] = next
        answer = await self.call(GROUP_SVC, "get_group_member_info", body)
        members = listed(answer, "get_group_member_info", "MemberList")
        return {**answer, "MemberList": [_normalize_member(m) for m in members]}

    async def all_group_members(self, group_id: str, community: bool) -> list[dict[str, Any]]:
        """Every member of a group: Offset paging, or Next paging for Community."""
        members: dict[str, dict[str, Any]] = {}
        api = f"{GROUP_SVC}/get_group_member_info"
        if community:
            cursor = ""
            seen: set[str] = set()
            to_come = 0  # pages after this one (the slots let the longest chains go first)
            while True:
                token = PRIORITY.set(to_come)
                try:
                    page = await self.get_group_member_info(group_id, next=cursor)
                finally:
                    PRIORITY.reset(token)
                for m in page["MemberList"]:
                    members[m["Member_Account"]] = m
                cursor = str(page.get("Next") or "")
                if not cursor:
                    return list(members.values())
                total = page.get("MemberNum")
                if isinstance(total, int) and not isinstance(total, bool):
                    to_come = max(0, -(-(total - len(members)) // MEMBER_PAGE) - 1)
                if cursor in seen:
                    raise TimTransportError(api, f"paging cursor {cursor!r} repeated")
                seen.add(cursor)
        offset = 0
        while True:
            page = await self.get_group_member_info(group_id, offset=offset)
            batch = page["MemberList"]
            for m in batch:
                members[m["Member_Account"]] = m
            offset += len(batch)
            total = page.get("MemberNum")
            if not batch:
                return list(members.values())
            if isinstance(total, int) and not isinstance(total, bool):
                if offset >= total:
                    return list(members.values())
            elif len(batch) < MEMBER_PAGE:  # no MemberNum: a short page is the last
                return list(members.values())

    async def paged_members(self, group_id: str, community: bool) -> LiveMembers:
        """Every member of a group, paged (``Next`` for a Community, ``Offset`` otherwise), as
        the state model reads them."""
        api = "get_group_member_info"
        try:
            return LiveMembers(group_id, api, await self.all_group_members(group_id, community))
        except MALFORMED as err:
            raise malformed(group_id, api, err) from None

    async def specified_members(self, group_id: str, accounts: list[str]) -> LiveMembers:
        """The members among ``accounts`` (the others are not members), as the state model
        reads them: 50 accounts a call, the calls side by side (no cursor chains them)."""
        api = "get_specified_group_member_info"
        wanted = list(dict.fromkeys(accounts))

        async def read(part: list[str]) -> list[dict[str, Any]]:
            body = {"GroupId": group_id, "Member_List_Account": part}
            answer = await self.call(GROUP_SVC, api, body)
            return [_normalize_member(m) for m in listed(answer, api, "MemberList")]

        try:
            parts = await asyncio.gather(
                *(read(part) for part in chunks(wanted, self.limits.batch_of(api)))
            )
            asked = set(wanted)
            # Only the accounts asked for: a list is what it claims to be.
            items = [m for part in parts for m in part if m["Member_Account"] in asked]
        except MALFORMED as err:
            raise malformed(group_id, api, err) from None
        return LiveMembers(group_id, api, items)

    # --- groups: writing ---------------------------------------------------------------------

    async def create_group(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a group; the answer holds ``GroupId``. Initial MemberList: at most 100."""
        _check_batch(self.limits, "create_group", body.get("MemberList") or [])
        return await self.call(GROUP_SVC, "create_group", body)

    async def destroy_group(self, group_id: str, *, missing_ok: bool = False) -> None:
        """Destroy a group; with ``missing_ok`` a group that is already gone counts as done."""
        try:
            await self.call(GROUP_SVC, "destroy_group", {"GroupId": group_id})
        except TimApiError as err:
            if not (missing_ok and err.code in GROUP_GONE_CODES):
                raise

    async def add_group_member(
        self, group_id: str, accounts: list[str], silence: bool = True
    ) -> list[dict[str, Any]]:
        """Add members, as many per call as the server takes (10005 beyond: split and learn).
        Result per item: 0 failed, 1 added, 2 already, 3 invited."""
        if not accounts:
            return []

        async def send(part: list[str]) -> list[dict[str, Any]]:
            body = {
                "GroupId": group_id,
                "Silence": 1 if silence else 0,
                "MemberList": [{"Member_Account": a} for a in part],
            }
            answer = await self.call(GROUP_SVC, "add_group_member", body)
            return listed(answer, "add_group_member", "MemberList")

        return await self._split("add_group_member", list(accounts), send)

    async def delete_group_member(
        self,
        group_id: str,
        accounts: list[str],
        silence: bool = True,
        reason: str | None = None,
    ) -> None:
        """Remove members, 100 per call (removing a non-member succeeds)."""
        if not accounts:
            return

        async def send(part: list[str]) -> list[Any]:
            body: dict[str, Any] = {
                "GroupId": group_id,
                "Silence": 1 if silence else 0,
                "MemberToDel_Account": part,
            }
            if reason is not None:
                body["Reason"] = reason
            await self.call(GROUP_SVC, "delete_group_member", body)
            return []

        await self._split("delete_group_member", list(accounts), send)

    async def import_group_member(
        self, group_id: str, members: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Import members silently, as many per call as the server takes (10005 beyond: split
        and learn). Result per item: 0 failed, 1 ok, 2 already."""
        if not members:
            return []

        async def send(part: list[dict[str, Any]]) -> list[dict[str, Any]]:
            answer = await self.call(
                GROUP_SVC, "import_group_member", {"GroupId": group_id, "MemberList": part}
            )
            return listed(answer, "import_group_member", "MemberList")

        return await self._split("import_group_member", list(members), send)

    async def modify_group_base_info(self, body: dict[str, Any]) -> None:
        await self.call(GROUP_SVC, "modify_group_base_info", _renamed(body, _GROUP_RENAMES))

    async def modify_group_member_info(
        self, body: dict[str, Any], *, muted_until: int | None = None
    ) -> None:
        """Change one member. ``muted_until`` (absolute Unix seconds, 0 = unmute) becomes the
        relative MuteTime when the request leaves: after any wait for the rate limiter, which at
        scale is many seconds, and again for each retry."""
        body = _renamed(body, _MEMBER_BODY_RENAMES)
        prepare = None
        if muted_until is not None:

            def prepare(body: dict[str, Any]) -> dict[str, Any]:
                mute = max(0, muted_until - int(self._clock())) if muted_until else 0
                return {**body, "MuteTime": mute}

        await self.call(GROUP_SVC, "modify_group_member_info", body, prepare=prepare)

    def _relative(self, until: int) -> int:
        """Seconds from now until the absolute ``until`` (never negative)."""
        return max(0, until - int(self._clock()))

    async def forbid_send_msg(self, group_id: str, accounts: list[str], muted_until: int) -> None:
        """Mute up to 500 accounts until ``muted_until`` (absolute Unix seconds; 0 unmutes).
        The relative MuteTime is computed as the request leaves, as for one member."""
        _check_batch(self.limits, "forbid_send_msg", accounts)
        if not accounts:
            return
        body = {"GroupId": group_id, "Members_Account": list(accounts)}

        def prepare(body: dict[str, Any]) -> dict[str, Any]:
            return {**body, "MuteTime": self._relative(muted_until) if muted_until else 0}

        await self.call(GROUP_SVC, "forbid_send_msg", body, prepare=prepare)

    async def get_group_muted_account(self, group_id: str) -> dict[str, int]:
        """Muted accounts of a group -> the Unix second their mute ends (all group types)."""
        answer = await self.call(GROUP_SVC, "get_group_muted_account", {"GroupId": group_id})
        return muted_accounts(group_id, answer)

    async def ban_group_member(self, group_id: str, accounts: list[str], banned_until: int) -> None:
        """Ban up to 20 accounts from an AVChatRoom until ``banned_until`` (absolute Unix
        seconds); Duration is computed as the request leaves, at least 1 s."""
        _check_batch(self.limits, "ban_group_member", accounts)
        if not accounts:
            return
        body = {"GroupId": group_id, "Members_Account": list(accounts)}

        def prepare(body: dict[str, Any]) -> dict[str, Any]:
            return {**body, "Duration": max(1, self._relative(banned_until))}

        await self.call(GROUP_SVC, "ban_group_member", body, prepare=prepare)

    async def unban_group_member(self, group_id: str, accounts: list[str]) -> None:
        _check_batch(self.limits, "unban_group_member", accounts)
        if not accounts:
            return
        body = {"GroupId": group_id, "Members_Account": list(accounts)}
        await self.call(GROUP_SVC, "unban_group_member", body)

    async def get_group_ban_member(self, group_id: str) -> dict[str, int]:
        """Every banned account of an AVChatRoom -> the Unix second the ban ends, paging by
        ``NextOffset`` (0 = done) at the largest Limit."""
        bans: dict[str, int] = {}
        offset = 0
        seen: set[int] = set()
        while True:
            body = {"GroupId": group_id, "Limit": BAN_PAGE, "Offset": offset}
            page = await self.call(GROUP_SVC, "get_group_ban_member", body)
            bans.update(banned_accounts(group_id, page))
            offset = int(page.get("NextOffset") or 0)
            if offset == 0:
                return bans
            if offset in seen:
                raise TimTransportError(
                    f"{GROUP_SVC}/get_group_ban_member", f"paging offset {offset} repeated"
                )
            seen.add(offset)

    async def change_group_owner(self, group_id: str, new_owner: str) -> None:
        body = {"GroupId": group_id, "NewOwner_Account": new_owner}
        await self.call(GROUP_SVC, "change_group_owner", body)

    # --- AVChatRoom --------------------------------------------------------------------------

    async def modify_user_info(
        self, group_id: str, command_type: int, members: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Set (1) or delete (2) marks on up to 500 online AVChatRoom members."""
        if command_type not in (1, 2):
            raise ValueError("modify_user_info: command_type must be 1 (set) or 2 (delete)")
        _check_batch(self.limits, "modify_user_info", members)
        if not members:
            return {"CommandType": command_type, "MemberList": []}
        body = {"GroupId": group_id, "CommandType": command_type, "MemberList": list(members)}
        return await self.call(AVCHATROOM_SVC, "modify_user_info", body)

    async def modify_admin(self, group_id: str, accounts: list[str], *, remove: bool) -> None:
        """Make up to 5 accounts admins of an AVChatRoom (CommandType 1), or revoke them (2)."""
        _check_batch(self.limits, "modify_admin", accounts)
        if not accounts:
            return
        body = {
            "GroupId": group_id,
            "CommandType": 2 if remove else 1,
            "Admin_Account": list(accounts),
        }
        await self.call(AVCHATROOM_SVC, "modify_admin", body)

    async def get_admin_list(self, group_id: str) -> list[str]:
        """The admins of an AVChatRoom, sorted."""
        answer = await self.call(AVCHATROOM_SVC, "get_admin_list", {"GroupId": group_id})
        return admin_accounts(group_id, answer)

    async def create_topic(self, body: dict[str, Any]) -> None:
        await self.call(TOPIC_SVC, "create_topic", body)

    async def modify_topic(self, body: dict[str, Any]) -> None:
        await self.call(TOPIC_SVC, "modify_topic", body)

    async def destroy_topic(self, group_id: str, topic_ids: list[str]) -> None:
        """Destroy topics of a Community; one already gone counts as done (an item's own
        ErrorCode, like get_group_info's)."""
        _check_batch(self.limits, "destroy_topic", topic_ids)
        if not topic_ids:
            return
        body = {"GroupId": group_id, "TopicIdList": list(topic_ids)}
        try:
            answer = await self.call(TOPIC_SVC, "destroy_topic", body)
        except TimApiError as err:
            if err.code not in TOPIC_GONE_CODES:
                raise
            return
        for item in answer.get("DestroyResultItem") or []:
            code = item.get("ErrorCode", 0) if isinstance(item, dict) else 0
            if code and code not in TOPIC_GONE_CODES:
                raise TimApiError(
                    f"{TOPIC_SVC}/destroy_topic", int(code), str(item.get("ErrorInfo", ""))
                )

    async def get_topic(self, group_id: str, topic_ids: list[str] | None = None) -> dict[str, Any]:
        """Every topic of a Community with topics (or those of ``topic_ids``), by the custom
        part of their IDs: one call. From_Account (required) is the admin identifier."""
        body: dict[str, Any] = {"GroupId": group_id, "From_Account": self._admin}
        if topic_ids:
            body["TopicIdList"] = list(topic_ids)
        return topics_from_api(group_id, await self.call(TOPIC_SVC, "get_topic", body))

    async def call_group(self, command: str, body: dict[str, Any]) -> dict[str, Any]:
        """A group_open_http_svc write whose batch is checked against its limit first (the
        permission-group calls)."""
        for name in ("MemberList", "TopicPermissionList", "PermissionGroupIdList"):
            if command in BATCH and name in body:
                _check_batch(self.limits, command, body[name])
        return await self.call(GROUP_SVC, command, body)

    async def _pages(
        self, command: str, body: dict[str, Any], limit: int
    ) -> AsyncIterator[dict[str, Any]]:
        """The pages of a ``Limit``/``Next`` listing: ``Next`` "" on the first call, then the
        answer's own ``Next`` sent back as it came (the pages type it as a string and as an
        integer); an empty or absent ``Next`` ends it."""
        cursor: Any = ""
        seen: set[str] = set()
        while True:
            page = await self.call(GROUP_SVC, command, {**body, "Limit": limit, "Next": cursor})
            yield page
            cursor = page.get("Next")
            if cursor in ("", 0, None):
                return
            if str(cursor) in seen:
                raise TimTransportError(
                    f"{GROUP_SVC}/{command}", f"paging cursor {cursor!r} repeated"
                )
            seen.add(str(cursor))

    async def get_permission_group(
        self, group_id: str, ids: list[str] | None = None
    ) -> dict[str, PermissionGroup]:
        """A Community's permission groups: those of ``ids`` (full IDs) in one call, else all,
        20 a page by ``Next`` (EN-61235)."""
        if ids:
            body = {"GroupId": group_id, "PermissionGroupIdList": list(ids)}
            answer = await self.call(GROUP_SVC, "get_permission_group", body)
            return permission_groups_from_api(group_id, answer)
        found: dict[str, PermissionGroup] = {}
        pages = self._pages("get_permission_group", {"GroupId": group_id}, PERMISSION_GROUP_PAGE)
        async for page in pages:
            found.update(permission_groups_from_api(group_id, page))
        return found

    async def get_permission_group_member_list(self, group_id: str, pg_id: str) -> list[str]:
        """Every member of a permission group, 50 a page by ``Next`` (CN-103976), sorted."""
        accounts: list[str] = []
        body = {"GroupId": group_id, "PermissionGroupId": pg_id}
        async for page in self._pages(
            "get_permission_group_member_list", body, PERMISSION_MEMBER_PAGE
        ):
            accounts.extend(permission_members_from_api(group_id, page))
        return sorted(accounts)

    async def get_topic_permission_group(self, group_id: str, pg_id: str) -> dict[str, int]:
        """A permission group's permissions per topic (custom part of the topic ID)."""
        body = {"GroupId": group_id, "PermissionGroupId": pg_id}
        answer = await self.call(GROUP_SVC, "get_topic_permission_group", body)
        return topic_permissions_from_api(group_id, answer)

    async def get_members(
        self, group_id: str, timestamp: int = 0, mark: int | None = None
    ) -> dict[str, Any]:
        """One page of an AVChatRoom's online members; ``NextTimestamp`` 0 = done."""
        body: dict[str, Any] = {"GroupId": group_id, "Timestamp": timestamp}
        if mark is not None:
            body["Mark"] = mark
        return await self.call(AVCHATROOM_SVC, "get_members", body)

    async def online_accounts(self, group_id: str, mark: int | None = None) -> list[str]:
        """The accounts online in an AVChatRoom (with ``mark``: those carrying it), sorted."""
        try:
            return sorted(
                {m["Member_Account"] for m in await self.all_online_members(group_id, mark)}
            )
        except MALFORMED as err:
            raise malformed(group_id, "get_members", err) from None

    async def all_online_members(
        self, group_id: str, mark: int | None = None
    ) -> list[dict[str, Any]]:
        members: dict[str, dict[str, Any]] = {}
        timestamp = 0
        seen: set[int] = set()
        while True:
            page = await self.get_members(group_id, timestamp=timestamp, mark=mark)
            for m in listed(page, "get_members", "MemberList"):
                members[m["Member_Account"]] = m
            timestamp = int(page.get("NextTimestamp") or 0)
            if timestamp == 0:
                return list(members.values())
            if timestamp in seen:
                raise TimTransportError(
                    f"{AVCHATROOM_SVC}/get_members", f"paging timestamp {timestamp} repeated"
                )
            seen.add(timestamp)

    # --- accounts ----------------------------------------------------------------------------

    async def account_check(self, accounts: list[str]) -> dict[str, bool]:
        """Up to 100 accounts -> True if imported. A per-account error raises TimApiError."""
        _check_batch(self.limits, "account_check", accounts)
        if not accounts:
            return {}
        api = f"{LOGIN_SVC}/account_check"
        body = {"CheckItem": [{"UserID": a} for a in accounts]}
        answer = await self.call(LOGIN_SVC, "account_check", body)
        result: dict[str, bool] = {}
        for item in listed(answer, "account_check", "ResultItem"):
            account = str(item.get("UserID"))
            code = int(item.get("ResultCode") or 0)
            if code:
                info = self._scrub(str(item.get("ResultInfo") or ""))
                raise TimApiError(api, code, f"account {account!r}: {info}")
            result[account] = item.get("AccountStatus") == "Imported"
        missing = [a for a in accounts if a not in result]
        if missing:
            raise TimTransportError(
                api, f"answer lacks {len(missing)} account(s), e.g. {missing[0]!r}"
            )
        return {a: result[a] for a in accounts}

    async def multiaccount_import(self, accounts: list[str]) -> list[str]:
        """Import up to 100 accounts; return the ones that failed (FailAccounts)."""
        _check_batch(self.limits, "multiaccount_import", accounts)
        if not accounts:
            return []
        answer = await self.call(LOGIN_SVC, "multiaccount_import", {"Accounts": list(accounts)})
        return [str(a) for a in answer.get("FailAccounts") or []]

    # --- the calls a plan is made of ------------------------------------------------------------

    async def perform(self, request: Request) -> Outcome:
        """Send one of a plan's calls (``reconciler.tim.calls``) and say what it achieved."""
        return await request.send(self)
