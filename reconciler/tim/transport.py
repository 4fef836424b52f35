"""How the client sends a call: ``post(url, body, timeout_s) -> Answer``, over httpx.

The client needs none of httpx.AsyncClient's layer (URL merging, cookies, auth, redirects,
which cost CPU on every one of thousands of calls per plan), so it posts through an httpx
transport directly: httpx's own connection pool for real endpoints (``for_endpoint``), the
ASGI transport for the embedded emulator, and mock transports in the tests. Every failure
leaves as an httpx exception, so the client has one set of errors to classify.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

HEADERS = {"Content-Type": "application/json; charset=utf-8"}


@dataclass(slots=True)
class Answer:
    status: int
    reason: str
    content: bytes
    content_type: str


def _proxy_for(base_url: str) -> str | None:
    """The proxy from the environment (HTTPS_PROXY, NO_PROXY and the like) for the one host
    the client talks to, looked up once."""
    parts = urlsplit(base_url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme, proxies.get("all"))


class HttpxTransport:
    """An httpx transport (``handle_async_request``) behind ``post``."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._inner = transport

    @classmethod
    def for_endpoint(cls, base_url: str) -> HttpxTransport:
        """Keep-alive connections to a real endpoint; certificates verified; no pool limit
        (the client bounds the calls in flight per API)."""
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        return cls(httpx.AsyncHTTPTransport(limits=limits, proxy=_proxy_for(base_url)))

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
