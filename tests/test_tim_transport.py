"""The transport for real endpoints (httpx), against raw loopback servers."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from reconciler.tim.client import TimClient
from reconciler.tim.errors import TimTransportError
from reconciler.tim.usersig import verify

KEY = "transport-test-key"
Handler = Callable[[bytes], Awaitable[bytes]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, str, list[bytes]]:
    """A one-request-per-connection HTTP server that records raw requests."""
    seen: list[bytes] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        request = head + await reader.readexactly(length)
        seen.append(request)
        writer.write(await handler(request))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", seen


def _client(base_url: str) -> TimClient:
    return TimClient(
        sdkappid=1400000001,
        admin="admin*1",  # needs escaping in a query string
        secret_key=KEY,
        base_url=base_url,
        max_attempts=1,
    )


def _answer(body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def test_query_parameters_arrive_as_documented() -> None:
    async def ok(_: bytes) -> bytes:
        return _answer(b'{"ActionStatus":"OK","ErrorCode":0}', "Content-Type: application/json")

    server, url, seen = await _serve(ok)
    async with server, _client(url) as client:
        await client.call("group_open_http_svc", "destroy_group", {"GroupId": "g1"})
    request_line = seen[0].split(b"\r\n")[0].decode()
    method, target, _ = request_line.split(" ")
    assert method == "POST"
    parts = urlsplit(target)
    assert parts.path == "/v4/group_open_http_svc/destroy_group"
    params = parse_qs(parts.query)
    assert list(params) == ["sdkappid", "identifier", "usersig", "random", "contenttype"]
    assert params["identifier"] == ["admin*1"] and params["contenttype"] == ["json"]
    assert 0 <= int(params["random"][0]) < 2**32
    verify(params["usersig"][0], 1400000001, KEY, "admin*1")  # raises if it does not verify
    assert json.loads(seen[0].split(b"\r\n\r\n", 1)[1]) == {"GroupId": "g1"}


async def test_compressed_answer_is_decoded() -> None:
    body = gzip.compress(b'{"ActionStatus":"OK","ErrorCode":0,"GroupId":"g1"}')

    async def gzipped(_: bytes) -> bytes:
        return _answer(body, "Content-Type: application/json", "Content-Encoding: gzip")

    server, url, _ = await _serve(gzipped)
    async with server, _client(url) as client:
        answer = await client.call("group_open_http_svc", "create_group", {})
    assert answer["GroupId"] == "g1"


@pytest.mark.parametrize(
    "raw",
    [
        b"this is not HTTP\r\n\r\n",
        b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"trunc',
        b"",
    ],
    ids=["garbage", "truncated", "closed"],
)
async def test_broken_answers_are_transient_network_errors(raw: bytes) -> None:
    async def broken(_: bytes) -> bytes:
        return raw

    server, url, _ = await _serve(broken)
    async with server, _client(url) as client:
        with pytest.raises(TimTransportError) as info:
            await client.call("group_open_http_svc", "destroy_group", {"GroupId": "g1"})
    assert info.value.transient
    assert "network error" in str(info.value)
    assert "usersig=" not in str(info.value).replace("usersig=***", "")
