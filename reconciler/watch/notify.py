"""Notifications: outgoing webhooks when a group (or the app) starts failing, recovers, or has
its drift reverted.

Two targets, each on when its environment variable holds a URL: ``TIM_NOTIFY_WEBHOOK_URL``
gets a JSON document (``Note.document``), ``TIM_NOTIFY_SLACK_URL`` a Slack incoming-webhook
message (``{"text": ...}``). The controller hands notes over without waiting (``Notifier`` is
called, and returns at once); a task of its own sends them, at most ``per_minute`` messages a
minute: past that, the notes that come are kept and sent as one message when the minute allows
("... and K more"). A note holds what the log says of the event (group IDs, error texts, never a
secret or config text); a URL is never logged (a Slack webhook URL is a credential). A failure
to deliver is counted, and logged once until that target delivers again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import httpx

from reconciler.errors import UsageError
from reconciler.state import utc_text
from reconciler.watch.metrics import Metrics

log = logging.getLogger("reconciler.watch")

TARGETS = {"webhook": "TIM_NOTIFY_WEBHOOK_URL", "slack": "TIM_NOTIFY_SLACK_URL"}
PER_MINUTE = 6
TIMEOUT_S = 5.0  # per delivery
KEEP = 50  # notes kept for one coalesced message; those past it are only counted


@dataclass(frozen=True)
class Note:
    kind: str  # "failing", "recovered" or "drift_reverted"
    text: str  # one line, as the log says it
    groups: tuple[str, ...] = ()  # the groups it is about (none: the app)
    time: float = field(default_factory=time.time)

    def fields(self) -> dict:
        return {
            "event": self.kind,
            "groups": list(self.groups),
            "text": self.text,
            "time": utc_text(int(self.time)),
        }


def message(app: str, notes: list[Note], more: int) -> tuple[dict, dict]:
    """The webhook's JSON document and Slack's message for ``notes`` (and ``more`` not kept)."""
    first, rest = notes[0], len(notes) - 1 + more
    text = f"tim-reconciler watch, app {app}: {first.text}"
    if rest:
        kinds = Counter(n.kind.replace("_", " ") for n in notes[1:])
        counted = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        text += f" (and {rest} more: {counted}{', ...' if more else ''})"
    document = {"source": "tim-reconciler", "app": app, **first.fields(), "summary": text}
    if rest:
        document["more"] = rest
        document["events"] = [n.fields() for n in notes]
    return document, {"text": text}


def targets_from_environment() -> dict[str, str]:
    """target -> URL, for the targets whose variable is set; UsageError for one that is not an
    http(s) URL (the value is not repeated: it is a credential)."""
    found = {}
    for target, variable in TARGETS.items():
        url = os.environ.get(variable, "").strip()
        if not url:
            continue
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise UsageError(f"{variable} is not an http(s) URL; unset it, or set the webhook URL")
        found[target] = url
    return found


class Notifier:
    def __init__(
        self,
        targets: dict[str, str],
        app: str,
        metrics: Metrics,
        *,
        per_minute: int = PER_MINUTE,
        window_s: float = 60.0,
    ) -> None:
        self.targets, self.app, self.metrics = targets, app, metrics
        self.per_minute, self.window_s = per_minute, window_s
        self._pending: list[Note] = []
        self._more = 0  # notes past KEEP, since the last message
        self._sent: deque[float] = deque()  # when each message of the last window went
        self._wake = asyncio.Event()
        self._failing: dict[str, str] = {}  # target -> the failure logged, until it delivers

    def __call__(self, note: Note) -> None:
        """Queue ``note``; never waits."""
        if not self.targets:
            return
        if len(self._pending) < KEEP:
            self._pending.append(note)
        else:
            self._more += 1
        self._wake.set()

    async def run(self) -> None:
        """Send what is queued, within the rate, until cancelled."""
        if not self.targets:
            return
        async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as http:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._pending:
                    now = time.monotonic()
                    while self._sent and self._sent[0] <= now - self.window_s:
                        self._sent.popleft()
                    if len(self._sent) >= self.per_minute:  # the rest wait, and go as one
                        await asyncio.sleep(self._sent[0] + self.window_s - now)
                        continue
                    if len(self._sent) == self.per_minute - 1:
                        notes, self._pending, more, self._more = self._pending, [], self._more, 0
                    else:
                        notes, more = [self._pending.pop(0)], 0
                    self._sent.append(now)
                    await self._send(http, *message(self.app, notes, more))

    async def _send(self, http: httpx.AsyncClient, document: dict, slack: dict) -> None:
        bodies = {"webhook": document, "slack": slack}
        await asyncio.gather(
            *(self._post(http, t, url, bodies[t]) for t, url in self.targets.items())
        )

    async def _post(self, http: httpx.AsyncClient, target: str, url: str, body: dict) -> None:
        try:
            answer = await http.post(url, json=body)
            failure = None if answer.is_success else f"HTTP {answer.status_code}"
        except httpx.HTTPError as err:  # its text may hold the URL: only its kind is told
            failure = type(err).__name__
        self.metrics.notifications.labels(target, "failed" if failure else "sent").inc()
        if failure is None:
            if self._failing.pop(target, None) is not None:
                log.info("notifications to the %s target are delivered again", target)
        elif self._failing.get(target) != failure:
            self._failing[target] = failure
            log.warning(
                "a notification to the %s target (%s) was not delivered: %s; counted in "
                "reconciler_watch_notifications_total, logged again only if this changes",
                target,
                TARGETS[target],
                failure,
            )
