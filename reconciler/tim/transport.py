"""The HTTP transport for real endpoints: aiohttp behind httpx's transport interface.

The client calls ``handle_async_request`` of an httpx transport, so the embedded emulator (httpx's
ASGI transport), the tests' mock transports and this one plug in the same way. aiohttp carries
the requests because a plan of a million memberships makes about 5,000 calls, and httpx's own
pool (httpcore over anyio) spent about 1.5 times aiohttp's CPU on each (python -m benchmarks.http).
Every failure leaves as an httpx exception, so the client has one set of errors to classify.
"""

from __future__ import annotations

import urllib.request

import aiohttp
import httpx
from yarl import URL

# Not passed on: aiohttp has already taken the body apart (length, chunks, compression).
_BODY_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class RestTransport(httpx.AsyncBaseTransport):
    """One aiohttp session: keep-alive connections, the proxy from the environment (HTTPS_PROXY,
    NO_PROXY and the like, as httpx), certificates from the same store as httpx, no cookies, no
    redirects followed."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    def _new_session(self) -> aiohttp.ClientSession:
        # No pool limit: the client bounds the calls in flight per API. aiohttp's own trust_env
        # looks up netrc and the proxy in a worker thread on every request; the proxy is looked
        # up here once per host instead.
        connector = aiohttp.TCPConnector(limit=0, ssl=httpx.create_ssl_context())
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    def _proxy(self, url: httpx.URL) -> str | None:
        key = (url.scheme, url.host)
        if key not in self._proxies:
            proxies = urllib.request.getproxies()
            bypass = urllib.request.proxy_bypass(url.host)
            self._proxies[key] = None if bypass else proxies.get(url.scheme, proxies.get("all"))
        return self._proxies[key]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._new_session()  # needs the running event loop
        limits = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            sock_connect=limits.get("connect"), sock_read=limits.get("read")
        )
        try:
            async with self._session.request(
                request.method,
                URL(str(request.url), encoded=True),  # already encoded: send as it is
                headers=list(request.headers.multi_items()),
                data=request.content,
                allow_redirects=False,
                timeout=timeout,
                proxy=self._proxy(request.url),
            ) as answer:
                body = await answer.read()
                headers = [
                    (k, v) for k, v in answer.headers.items() if k.lower() not in _BODY_FRAMING
                ]
                return httpx.Response(
                    answer.status,
                    headers=headers,
                    content=body,
                    request=request,
                    extensions={"reason_phrase": (answer.reason or "").encode()},
                )
        except TimeoutError as exc:  # aiohttp's connect and read timeouts are TimeoutErrors
            raise httpx.TimeoutException(_detail(exc), request=request) from exc
        except aiohttp.ClientConnectorError as exc:  # refused, unresolvable, unreachable
            raise httpx.ConnectError(_detail(exc), request=request) from exc
        except (aiohttp.ClientError, OSError) as exc:  # dropped, truncated or malformed answer
            raise httpx.RemoteProtocolError(_detail(exc), request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _detail(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
