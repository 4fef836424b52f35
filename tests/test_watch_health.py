"""Watch facing the network and the orchestrator: bounded input (body size, metric labels,
slow and idle connections), honest liveness and readiness, and signals that end it in time."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import ADMIN, SDKAPPID, wait_until
from starlette.requests import Request
from test_watch import GROUPS, TOKEN, start_watch, stop

from reconciler.emulator import EmulatorStore
from reconciler.lock import Lease
from reconciler.state import LOCK_GROUP_ID
from reconciler.watch import http as watch_http

MB = 1 << 20


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _send_raw(port: int, head: bytes, total: int, chunked: bool) -> tuple[int, bytes]:
    """Send ``head`` then up to ``total`` body bytes until the server stops reading; return the
    bytes sent and what came back."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    piece = b"x" * (64 * 1024)
    sent = 0
    try:
        sock.sendall(head)
        while sent < total:
            data = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
            sock.sendall(data)
            sent += len(piece)
    except OSError:
        pass
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except OSError:
        pass
    sock.close()
    return sent, answer


def test_a_200_mb_body_is_refused_before_it_is_buffered(tmp_path):
    w = start_watch(tmp_path, GROUPS[:1])
    try:
        pid = w.proc.pid
        idle = _status_kb(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS from here on
        query = f"/callback?SdkAppid={SDKAPPID}&CallbackCommand=Group.CallbackAfterNewMemberJoin"
        declared = (
            f"POST {query} HTTP/1.1\r\nHost: x\r\nContent-Length: {200 * MB}\r\n\r\n".encode()
        )
        sent, answer = _send_raw(w.port, declared, 200 * MB, chunked=False)
        assert sent < 200 * MB and (not answer or b" 413 " in answer.split(b"\r\n")[0]), answer
        streamed = f"POST {query} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        sent, answer = _send_raw(w.port, streamed.encode(), 200 * MB, chunked=True)
        assert sent < 200 * MB and (not answer or b" 413 " in answer.split(b"\r\n")[0]), answer
        peak = _status_kb(pid, "VmHWM")
        print(f"idle RSS {idle / 1024:.1f} MB, peak with two 200 MB bodies {peak / 1024:.1f} MB")
        assert peak - idle < 20 * 1024, (idle, peak)
        assert wait_until(lambda: w.metric("reconciler_watch_refusals_total", reason="too_large"))
        assert w.metric("reconciler_watch_refusals_total", reason="too_large") == 2
        assert w.get("/livez").status_code == 200
    finally:
        stop(w)


def test_made_up_commands_count_under_one_label_and_health_is_honest(tmp_path):
    # A wrong secret key: every call fails with 70009, nothing converges.
    w = start_watch(tmp_path, GROUPS[:1], resynced=False, key="wrong-key")
    try:
        assert wait_until(lambda: "70009" in w.text(), 10), w.text()
        lines = len(w.get("/metrics").text.splitlines())
        for _ in range(200):
            command = f"Made.Up.{uuid.uuid4().hex}"
            answer = httpx.post(
                f"{w.url}/callback",
                params={"SdkAppid": SDKAPPID, "CallbackCommand": command},
                content=b"{}",
            )
            assert answer.status_code == 401
        text = w.get("/metrics").text
        assert "Made.Up" not in text
        assert len(text.splitlines()) <= lines + 2  # at most the new series under "other"
        assert (
            w.metric("reconciler_watch_callbacks_total", command="other", outcome="refused") == 200
        )
        # Alive (the loop turns) but not ready: nothing ever resynced.
        assert w.get("/livez").status_code == 200
        ready = w.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["resync_recent"] is False
        assert "wrong-key" not in w.text() and TOKEN not in text
    finally:
        stop(w)


def test_sigterm_ends_a_wait_for_the_lock_at_once(tmp_path):
    def locked(cfg: Path) -> None:  # someone else (on another host) holds it for the next hour
        now = int(time.time())
        lease = Lease("ci@runner (apply)", "runner", 4242, "f" * 16, now, now + 3600)
        group = {"GroupId": LOCK_GROUP_ID, "Type": "Private", "Introduction": lease.text()}
        store = EmulatorStore(tmp_path / "server.sqlite3", admin=ADMIN)
        try:
            store.seed([{**group, "Name": "lock"}])
        finally:
            store.close()

    w = start_watch(tmp_path, GROUPS[:1], resynced=False, prepare=locked)
    try:
        assert wait_until(lambda: "waiting for the app lock" in w.text(), 20), w.text()
        assert w.get("/readyz").json()["reason"] == "standby"
        started = time.monotonic()
        w.proc.terminate()
        assert w.proc.wait(timeout=10) == 0, w.text()
        took = time.monotonic() - started
        print(f"SIGTERM while waiting for the lock: stopped in {took:.2f} s")
        assert took < 3, w.text()
    finally:
        stop(w)


# --- the sockets, in process, on a short scale -----------------------------------------------


@pytest.fixture
def short_deadlines(monkeypatch):
    monkeypatch.setattr(watch_http, "HEADER_S", 0.5)
    monkeypatch.setattr(watch_http, "BODY_S", 0.5)
    monkeypatch.setattr(watch_http, "MAX_CONNECTIONS", 8)
    monkeypatch.setattr(watch_http.GuardedH11, "_noted", {})


async def _serve(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(app, http=watch_http.GuardedH11, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, sock.getsockname()[1]


async def _closed(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), within) == b""
    except TimeoutError:
        return False


async def test_idle_slow_and_surplus_connections_are_closed(short_deadlines, caplog):
    async def app(scope, receive, send):
        try:
            body = await watch_http.read_body(Request(scope, receive))
        except TimeoutError:
            body = b"slow"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    server, task, port = await _serve(app)
    try:
        # A connection that sends nothing, and one that sends half its headers, are closed.
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        idle[1][1].write(b"POST / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        for reader, _ in idle:
            assert await _closed(reader, 2.0)
        assert time.monotonic() - started < 1.5
        # A body at one byte per 0.2 s is given up on after BODY_S.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        for _ in range(5):
            writer.write(b"x")
            await asyncio.sleep(0.2)
        answer = await asyncio.wait_for(reader.read(1000), 2)
        assert b"\r\nslow\r\n" in answer, answer
        writer.close()
        # Past the cap, a new connection is closed at once, with one log line for all of them.
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(8)]
        extra = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        for reader, _ in extra:
            assert await _closed(reader, 0.3)
        notes = [r for r in caplog.records if "connections open" in r.getMessage()]
        assert len(notes) == 1
        for _, w in held + extra + idle:
            w.close()
    finally:
        server.should_exit = True
        await task


def test_read_body_refuses_from_the_content_length(short_deadlines):
    async def go():
        async def receive():
            raise AssertionError("the body was read")

        scope = {"type": "http", "headers": [(b"content-length", b"%d" % (2 * MB))]}
        with pytest.raises(watch_http.TooLarge):
            await watch_http.read_body(Request(scope, receive))

    asyncio.run(go())
