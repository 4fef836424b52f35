"""How the client sends a call: ``post(url, body, timeout_s) -> Answer``; two transports do it.

- ``RestTransport``, for real endpoints: aiohttp. A plan of a million memberships makes about
  5,000 calls and its apply about 11,000, and httpx's own pool (httpcore over anyio) spends
  about twice aiohttp's CPU on each (``python -m benchmarks.http``), which at that scale keeps
  apply from its floor (README, Performance). None of httpx.AsyncClient's layer (URL merging,
  cookies, auth, redirects) is needed either way.
- ``HttpxTransport``, for any httpx transport: the embedded emulator (httpx's ASGI transport)
  and the tests' mock transports.

Every failure leaves as an httpx exception, so the client has one set of errors to classify.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import httpx
from yarl import URL

HEADERS = {"Content-Type": "application/json; charset=utf-8"}


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

    def _new_session(self) -> aiohttp.ClientSession:
        # No pool limit: the client bounds the calls in flight per API. aiohttp's own trust_env
        # looks up netrc and the proxy in a worker thread on every request; the proxy is looked
        # up here once per host instead.
        connector = aiohttp.TCPConnector(limit=0, ssl=httpx.create_ssl_context())
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    def _proxy(self, url: URL) -> str | None:
        key = (url.scheme, url.host)
        if key not in self._proxies:
            import urllib.request  # once per host, and slow to import

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
        try:
            async with self._session.post(
                target,
                headers=HEADERS,
                data=body,
                allow_redirects=False,
                timeout=timeout,
                proxy=self._proxy(target),
            ) as answer:
                content = await answer.read()
                return Answer(
                    answer.status,
                    answer.reason or "",
                    content,
                    answer.headers.get("Content-Type", ""),
                )
        except TimeoutError as exc:  # aiohttp's connect and read timeouts are TimeoutErrors
            raise httpx.TimeoutException(_detail(exc)) from exc
        except aiohttp.ClientConnectorError as exc:  # refused, unresolvable, unreachable
            raise httpx.ConnectError(_detail(exc)) from exc
        except (aiohttp.ClientError, OSError) as exc:  # dropped, truncated or malformed answer
            raise httpx.RemoteProtocolError(_detail(exc)) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxTransport:
    """An httpx transport (``handle_async_request``) behind ``post``."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._inner = transport

    async def post(self, url: str, body: bytes, timeout_s: float) -> Answer:
        timeouts = dict.fromkeys(("connect", "read", "write", "pool"), timeout_s)
        request = httpx.Request(
            "POST", url, headers=HEADERS, content=body, extensions={"timeout": timeouts}
        )
        response = await self._inner.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return Answer(
            response.status_code,
            response.reason_phrase,
            response.content,
            response.headers.get("content-type", ""),
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def _detail(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
