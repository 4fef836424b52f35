"""How the client sends a call: ``post(url, body, timeout_s) -> Answer``; two transports do it.

- ``RestTransport``, for real endpoints: aiohttp. A plan of a million memberships makes about
  5,000 calls and its apply about 11,000, and httpx's own pool (httpcore over anyio) spends
  about twice aiohttp's CPU on each (``python -m benchmarks.http``), which at that scale keeps
  apply from its floor (docs/performance.md). None of httpx.AsyncClient's layer (URL merging,
  cookies, auth, redirects) is needed either way.
- ``HttpxTransport``, for any httpx transport: the embedded emulator (httpx's ASGI transport)
  and the tests' mock transports. Only it imports httpx: a run against a real endpoint starts
  without it.

Every failure leaves as a ``TransportError`` (one of the kinds below), so the client has one set
of errors to classify, whichever transport sent the call.
"""

from __future__ import annotations

import os
import ssl
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from yarl import URL

if TYPE_CHECKING:
    import httpx

HEADERS = {"Content-Type": "application/json; charset=utf-8"}


class TransportError(Exception):
    """A call that got no answer. ``kind`` names the transport's own error (ConnectError,
    ClientConnectorError, ...), as messages show it; the original is the ``__cause__``."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


class CallTimeout(TransportError):
    """No answer within the timeout."""


class ConnectFailed(TransportError):
    """No connection: refused, unresolvable, unreachable, or its certificate refused."""


class ConnectionLost(TransportError):
    """The connection dropped, or the answer was truncated or malformed."""


@dataclass(slots=True)
class Answer:
    status: int
    reason: str
    content: bytes
    content_type: str


class RestTransport:
    """One aiohttp session: keep-alive connections, the proxy from the environment (HTTPS_PROXY,
    NO_PROXY and the like, as httpx), certificates from the same store as httpx, no cookies, no
    redirects followed."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str | None], str | None] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._ssl: ssl.SSLContext | None = None  # loading certificates takes 40 ms: for https only

    def _new_session(self) -> aiohttp.ClientSession:
        # No pool limit: the client bounds the calls in flight per API. aiohttp's own trust_env
        # looks up netrc and the proxy in a worker thread on every request; the proxy is looked
        # up here once per host instead.
        connector = aiohttp.TCPConnector(limit=0)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    def _proxy(self, url: URL) -> str | None:
        key = (url.scheme, url.host)
        if key not in self._proxies:
            proxies = urllib.request.getproxies()
            bypass = urllib.request.proxy_bypass(url.host or "")
            self._proxies[key] = None if bypass else proxies.get(url.scheme, proxies.get("all"))
        return self._proxies[key]

    async def post(self, url: str, body: bytes, timeout_s: float) -> Answer:
        if self._session is None:
            self._session = self._new_session()  # needs the running event loop
        timeout = self._timeouts.get(timeout_s)
        if timeout is None:
            timeout = self._timeouts[timeout_s] = aiohttp.ClientTimeout(
                sock_connect=timeout_s, sock_read=timeout_s
            )
        target = URL(url, encoded=True)  # already encoded: send as it is
        tls: ssl.SSLContext | bool = True  # not used for http
        if target.scheme == "https":
            tls = self._ssl = self._ssl or _ssl_context()
        try:
            async with self._session.post(
                target,
                headers=HEADERS,
                data=body,
                allow_redirects=False,
                timeout=timeout,
                proxy=self._proxy(target),
                ssl=tls,
            ) as answer:
                content = await answer.read()
                return Answer(
                    answer.status,
                    answer.reason or "",
                    content,
                    answer.headers.get("Content-Type", ""),
                )
        except TimeoutError as exc:  # aiohttp's connect and read timeouts are TimeoutErrors
            raise CallTimeout(type(exc).__name__, _detail(exc)) from exc
        except aiohttp.ClientConnectorError as exc:  # refused, unresolvable, unreachable
            raise ConnectFailed(type(exc).__name__, _detail(exc)) from exc
        except (aiohttp.ClientError, OSError) as exc:  # dropped, truncated or malformed answer
            raise ConnectionLost(type(exc).__name__, _detail(exc)) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxTransport:
    """An httpx transport (``handle_async_request``) behind ``post``."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._inner = transport

    async def post(self, url: str, body: bytes, timeout_s: float) -> Answer:
        import httpx  # already imported: whoever made the transport did

        timeouts = dict.fromkeys(("connect", "read", "write", "pool"), timeout_s)
        request = httpx.Request(
            "POST", url, headers=HEADERS, content=body, extensions={"timeout": timeouts}
        )
        try:
            response = await self._inner.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise CallTimeout(type(exc).__name__, str(exc)) from exc
        except httpx.ConnectError as exc:
            raise ConnectFailed(type(exc).__name__, str(exc)) from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise ConnectionLost(type(exc).__name__, str(exc)) from exc
        except httpx.HTTPError as exc:
            raise TransportError(type(exc).__name__, str(exc)) from exc
        return Answer(
            response.status_code,
            response.reason_phrase,
            response.content,
            response.headers.get("content-type", ""),
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def _ssl_context() -> ssl.SSLContext:
    """The certificates httpx trusts, as it finds them: SSL_CERT_FILE, else SSL_CERT_DIR, else
    certifi's bundle."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _detail(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
