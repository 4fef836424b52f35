"""Notifications against a real HTTP receiver on a free port: a generic JSON document and Slack's
incoming-webhook message when a group starts failing, recovers, or has its drift reverted; at
most N messages a minute, the rest coalesced into one; a failure to deliver counted and logged
once; no secret and no URL in what is sent or logged."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import Workspace, wait_until
from test_watch import GROUPS, TOKEN, start_watch, stop

from reconciler import engine
from reconciler.config import load_config
from reconciler.emulator.testing import free_port
from reconciler.errors import UsageError
from reconciler.tim.errors import TimApiError
from reconciler.watch.controller import Controller
from reconciler.watch.metrics import Metrics
from reconciler.watch.notify import Note, Notifier, targets_from_environment


class Receiver:
    """A webhook endpoint: records each POST (path, JSON body) and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.path, json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path: str) -> list[dict]:
        return [body for p, body in self.received if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _metric(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def _metrics() -> Metrics:
    return Metrics(stats=lambda: None, depth=lambda: 0)


async def _until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_at_most_n_a_minute_and_the_rest_in_one_message(receiver) -> None:
    targets = {"webhook": f"{receiver.url}/hook", "slack": f"{receiver.url}/slack"}
    notifier = Notifier(targets, "1400000000", _metrics(), per_minute=2, window_s=1.0)
    sender = asyncio.create_task(notifier.run())
    try:
        notifier(Note("failing", "group a is failing: error 10004", ("a",)))
        for name in "bcd":
            notifier(Note("drift_reverted", f"drift reverted in {name} (callback)", (name,)))
        notifier(Note("recovered", "group a recovered after 1 failure(s)", ("a",)))
        await _until(lambda: len(receiver.bodies("/hook")) == 2)
        await asyncio.sleep(0.3)  # within the window: nothing more
        hooks, slack = receiver.bodies("/hook"), receiver.bodies("/slack")
        assert len(hooks) == 2 and len(slack) == 2
        first, second = hooks
        assert first["event"] == "failing" and first["groups"] == ["a"] and "more" not in first
        assert first["app"] == "1400000000" and first["text"].startswith("group a is failing")
        assert second["event"] == "drift_reverted" and second["more"] == 3
        assert [e["groups"] for e in second["events"]] == [["b"], ["c"], ["d"], ["a"]]
        assert "and 3 more: 2 drift reverted, 1 recovered" in second["summary"]
        assert all(set(s) == {"text"} for s in slack)  # Slack's incoming-webhook format
        assert slack[1]["text"] == second["summary"]
        # A minute (here 1 s) later, the next note goes at once, on its own.
        await asyncio.sleep(1.0)
        notifier(Note("recovered", "group b recovered after 2 failure(s)", ("b",)))
        await _until(lambda: len(receiver.bodies("/hook")) == 3)
        assert "more" not in receiver.bodies("/hook")[2]
    finally:
        sender.cancel()


async def test_a_failure_to_deliver_is_counted_and_logged_once(receiver, caplog) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.watch")
    metrics = _metrics()
    url = f"{receiver.url}/hook-with-a-secret-path"
    notifier = Notifier({"webhook": url}, "1400000000", metrics, per_minute=100)
    sender = asyncio.create_task(notifier.run())
    receiver.status = 500
    try:
        for n in range(3):
            notifier(Note("failing", f"group g{n} is failing: x", (f"g{n}",)))
        await _until(
            lambda: (
                _metric(
                    metrics,
                    "reconciler_watch_notifications_total",
                    target="webhook",
                    outcome="failed",
                )
                == 3
            )
        )
        receiver.status = 204
        notifier(Note("recovered", "group g0 recovered after 1 failure(s)", ("g0",)))
        await _until(
            lambda: (
                _metric(
                    metrics,
                    "reconciler_watch_notifications_total",
                    target="webhook",
                    outcome="sent",
                )
                == 1
            )
        )
        # Nothing listens there any more: another condition, logged once too.
        notifier.targets = {"webhook": f"http://127.0.0.1:{free_port()}/hook"}
        for n in range(2):
            notifier(Note("failing", f"group h{n} is failing: x", (f"h{n}",)))
        await _until(
            lambda: (
                _metric(
                    metrics,
                    "reconciler_watch_notifications_total",
                    target="webhook",
                    outcome="failed",
                )
                == 5
            )
        )
    finally:
        sender.cancel()
    lines = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "HTTP 500" in lines[0] and "ConnectError" in lines[1]
    assert "TIM_NOTIFY_WEBHOOK_URL" in lines[0]
    assert "delivered again" in caplog.text
    assert "secret-path" not in caplog.text and receiver.url not in caplog.text


def test_a_notification_url_that_is_not_http_is_refused_without_repeating_it(monkeypatch):
    monkeypatch.setenv("TIM_NOTIFY_SLACK_URL", "hooks.slack.example/T000/B000/s3cr3t")
    with pytest.raises(UsageError) as refused:
        targets_from_environment()
    assert "TIM_NOTIFY_SLACK_URL" in str(refused.value) and "s3cr3t" not in str(refused.value)
    monkeypatch.setenv("TIM_NOTIFY_SLACK_URL", "https://hooks.slack.example/T000/B000/s3cr3t")
    monkeypatch.delenv("TIM_NOTIFY_WEBHOOK_URL", raising=False)
    assert targets_from_environment() == {"slack": "https://hooks.slack.example/T000/B000/s3cr3t"}


async def test_the_controller_notifies_failing_recovered_and_reverted(ws: Workspace, receiver):
    ws.seed(
        [
            {"GroupId": "good", "Type": "Public", "Name": "good"},
            {"GroupId": "bad", "Type": "Public", "Name": "old name"},
        ],
        accounts=["alice", "bob"],
    )
    ws.write(
        [
            {"id": "good", "type": "Public", "name": "good", "members": ["alice"]},
            {"id": "bad", "type": "Public", "name": "new name"},
        ]
    )
    config = load_config(ws.dir)
    emulator = engine.embedded_emulator(config.app, config.base_dir)
    async with engine.Session(config.app, config.base_dir, lock=False, emulator=emulator) as s:
        metrics = Metrics(stats=lambda: s.client.stats, depth=lambda: 0)
        notifier = Notifier({"webhook": f"{receiver.url}/hook"}, "app", metrics, per_minute=100)
        controller = Controller(
            config,
            s,
            metrics,
            resync_s=3600,
            coalesce_s=0.01,
            backoff_s=(0.1, 0.2),
            notify=notifier,
        )
        perform, broken = s.client.perform, [True]

        async def failing(request):
            if getattr(request, "group_id", None) == "bad" and broken[0]:
                raise TimApiError(request.api, 10004, "refused for this test")
            return await perform(request)

        s.client.perform = failing
        tasks = [asyncio.create_task(controller.run()), asyncio.create_task(notifier.run())]
        try:
            events = lambda: [(b["event"], b["groups"]) for b in receiver.bodies("/hook")]  # noqa: E731
            await _until(lambda: ("failing", ["bad"]) in events())
            await _until(lambda: ("drift_reverted", ["good"]) in events())
            await asyncio.sleep(0.6)  # retries after 0.1, 0.2, 0.2 s: still one "failing"
            assert events().count(("failing", ["bad"])) == 1, events()
            broken[0] = False
            await _until(lambda: ("recovered", ["bad"]) in events())
            await _until(lambda: ("drift_reverted", ["bad"]) in events())
        finally:
            controller.stop()
            await tasks[0]
            tasks[1].cancel()
    failing_text = next(b["text"] for b in receiver.bodies("/hook") if b["event"] == "failing")
    assert failing_text.startswith("group bad is failing: ") and "refused for this test" in (
        failing_text
    )


def test_a_watch_notifies_slack_and_the_webhook_of_a_reverted_console_edit(tmp_path, receiver):
    env = {
        "TIM_NOTIFY_WEBHOOK_URL": f"{receiver.url}/hook",
        "TIM_NOTIFY_SLACK_URL": f"{receiver.url}/slack",
    }
    w = start_watch(tmp_path, GROUPS[:1], env_extra=env)
    try:
        assert "notifications to webhook and slack (at most 6 a minute)" in w.text()
        start = len(receiver.received)
        w.rest("group_open_http_svc/modify_group_base_info", {"GroupId": "club", "Name": "X"})
        assert wait_until(lambda: w.server.dump()["groups"]["club"]["Name"] == "Club", 5)
        assert wait_until(lambda: len(receiver.received) >= start + 2, 5), receiver.received
        hook = receiver.bodies("/hook")[-1]
        assert hook["event"] == "drift_reverted" and hook["groups"] == ["club"]
        assert receiver.bodies("/slack")[-1] == {"text": hook["summary"]}
        assert "drift reverted in club" in hook["summary"]
        sent = json.dumps(receiver.received)
        assert TOKEN not in sent and w.server.key not in sent and receiver.url not in w.text()
        assert w.metric("reconciler_watch_notifications_total", target="slack", outcome="sent")
    finally:
        stop(w)
