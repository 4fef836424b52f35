"""Third-party callbacks, sent as the vendor sends them, after the state change (CN-1522,
CN-32431, CN-1667/1668/1670, EN-34378, EN-48734; reference §16.3).

What fires:

* ``Group.CallbackAfterNewMemberJoin``: ``add_group_member`` (JoinType ``Invited``) and
  ``/emulator/join`` (``Apply``), for the members that actually joined (Result 1).
  ``import_group_member`` fires nothing: the vendor documents it as a migration API that sends
  no notification and no callback.
* ``Group.CallbackAfterMemberExit``: ``delete_group_member`` (ExitType ``Kicked``) and
  ``/emulator/leave`` (``Quit``), for the accounts that were members.
* ``Group.CallbackOnMemberStateChange``: ``/emulator/online`` (and join/leave) in an
  AVChatRoom, when the member's presence changes (``EventType`` Online or Offline).
* ``Group.CallbackAfterGroupInfoChanged``: every ``modify_group_base_info``, with those of
  Name, Introduction, Notification and FaceUrl the call carried.
* ``Group.CallbackAfterGroupDestroyed``: ``destroy_group``, with the type, owner, name and
  (except for Communities) the member list the group had.

Each callback is a POST to the callback URL with ``SdkAppid``, ``CallbackCommand``,
``contenttype=json``, ``ClientIP`` and ``OptPlatform=RESTAPI`` and, with a token, ``Sign``
(sha256 hex of token + RequestTime) and ``RequestTime``. Deliveries are asynchronous, at most
``workers`` at a time, each with a timeout; a full queue drops the newest (counted), so a slow
or dead receiver never holds up an API call. ``stats()`` is part of ``/emulator/stats``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections import Counter
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from . import rules as R

log = logging.getLogger(__name__)

JOINED = "Group.CallbackAfterNewMemberJoin"
EXITED = "Group.CallbackAfterMemberExit"
STATE = "Group.CallbackOnMemberStateChange"
INFO = "Group.CallbackAfterGroupInfoChanged"
DESTROYED = "Group.CallbackAfterGroupDestroyed"

INFO_FIELDS = ("Name", "Introduction", "Notification", "FaceUrl")

Event = tuple[str, dict[str, Any]]


def _group(c: sqlite3.Connection, group_id: Any) -> sqlite3.Row | None:
    if not isinstance(group_id, str):
        return None
    return c.execute(
        "SELECT seq, group_id, type, name, owner FROM groups WHERE group_id = ?", (group_id,)
    ).fetchone()


def _present(c: sqlite3.Connection, seq: int, accounts: list[str], now: int) -> dict[str, bool]:
    """Which of ``accounts`` are members of group ``seq`` -> whether each is online (marks
    500 keeps a member online through a disconnection)."""
    found: dict[str, bool] = {}
    for account in dict.fromkeys(a for a in accounts if isinstance(a, str)):
        row = c.execute(
            "SELECT online, mark500_until FROM members WHERE group_seq = ? AND account = ?",
            (seq, account),
        ).fetchone()
        if row is not None:
            found[account] = bool(row["online"]) or row["mark500_until"] > now
    return found


def _accounts(body: dict) -> list[Any]:
    """The accounts a control names: ``Account``, or ``Accounts`` (/emulator/online)."""
    listed = body.get("Accounts")
    return list(listed) if isinstance(listed, list) else [body.get("Account")]


def _members(accounts: list[str]) -> list[dict[str, str]]:
    return [{"Member_Account": a} for a in accounts]


class CallbackSender:
    """Computes the callbacks of a command and delivers them to ``url``."""

    def __init__(
        self,
        url: str,
        *,
        sdkappid: int,
        admin: str,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 2.0,
        workers: int = 16,
        queue_max: int = 100_000,
    ) -> None:
        self.url = url
        self.sdkappid = sdkappid
        self.admin = admin
        self._token = token
        self._transport = transport
        self._timeout_s = timeout_s
        self._workers_n = workers
        self._queue_max = queue_max
        self._queue: asyncio.Queue[Event] | None = None
        self._workers: list[asyncio.Task] = []
        self._http: httpx.AsyncClient | None = None
        self.counts: Counter[str] = Counter()
        self.by_command: Counter[str] = Counter()

    # -- what fires (on the thread that runs the command, inside its transaction) -------------
    def before(self, command: str, c: sqlite3.Connection, body: dict, now: int) -> Any:
        """What a command's callbacks need from the state before it runs."""
        if command in ("delete_group_member", "leave", "online", "join"):
            g = _group(c, body.get("GroupId"))
            if g is None:
                return None
            if command == "delete_group_member":
                accounts = body.get("MemberToDel_Account") or []
            else:
                accounts = _accounts(body)
            return g, _present(c, g["seq"], list(accounts), now)
        if command == "destroy_group":
            g = _group(c, body.get("GroupId"))
            if g is None:
                return None
            rows = c.execute("SELECT account FROM members WHERE group_seq = ?", (g["seq"],))
            return g, [r[0] for r in rows]
        return None

    def after(
        self,
        command: str,
        c: sqlite3.Connection,
        body: dict,
        answer: dict,
        before: Any,
        now: int,
    ) -> list[Event]:
        """The callbacks a command that succeeded fires."""
        ms = int(time.time() * 1000)
        if command in ("add_group_member", "join"):
            g = _group(c, body.get("GroupId"))
            if g is None:
                return []
            if g["type"] == R.AVCHATROOM:  # joining an AVChatRoom is coming online
                return self._state(c, g, before, [body.get("Account")], True, now, ms)
            if command == "join":
                joined = [body["Account"]] if answer.get("Result") == 1 else []
                operator, how = body["Account"], "Apply"
            else:
                joined = [m["Member_Account"] for m in answer["MemberList"] if m["Result"] == 1]
                operator, how = self.admin, "Invited"
            if not joined:
                return []
            return [
                self._event(
                    JOINED,
                    g,
                    ms,
                    JoinType=how,
                    Operator_Account=operator,
                    NewMemberList=_members(joined),
                )
            ]
        if command in ("delete_group_member", "leave"):
            if before is None:
                return []
            g, present = before
            if g["type"] == R.AVCHATROOM:
                return self._state(c, g, before, [body.get("Account")], False, now, ms)
            if not present:
                return []
            kicked = command == "delete_group_member"
            return [
                self._event(
                    EXITED,
                    g,
                    ms,
                    ExitType="Kicked" if kicked else "Quit",
                    Operator_Account=self.admin if kicked else body["Account"],
                    ExitMemberList=_members(list(present)),
                )
            ]
        if command == "online":
            g = _group(c, body.get("GroupId"))
            if g is None or g["type"] != R.AVCHATROOM:
                return []
            return self._state(c, g, before, _accounts(body), body.get("Online", True), now, ms)
        if command == "modify_group_base_info":
            g = _group(c, body.get("GroupId"))
            if g is None:
                return []
            changed = {f: body[f] for f in INFO_FIELDS if isinstance(body.get(f), str)}
            operator = body.get("From_Account") or self.admin
            return [self._event(INFO, g, ms, Operator_Account=operator, **changed)]
        if command == "destroy_group" and before is not None:
            g, members = before
            extra: dict[str, Any] = {"Owner_Account": g["owner"] or "", "Name": g["name"] or ""}
            if g["type"] != R.COMMUNITY:
                extra["MemberList"] = _members(members)
            return [self._event(DESTROYED, g, ms, Operator_Account=self.admin, **extra)]
        return []

    def _state(
        self,
        c: sqlite3.Connection,
        g: sqlite3.Row,
        before: Any,
        accounts: list[Any],
        online: bool,
        now: int,
        ms: int,
    ) -> list[Event]:
        """One state-change callback for the accounts whose presence changed: its MemberList
        is a list, and the vendor reports the members of one check together (EN-48734)."""
        was = before[1] if before else {}
        is_now = _present(c, g["seq"], accounts, now)
        changed = [
            a
            for a in dict.fromkeys(accounts)
            if isinstance(a, str) and bool(was.get(a)) != is_now.get(a, False)
        ]
        if not changed:
            return []
        state = "Online" if online else "Offline"
        return [self._event(STATE, g, ms, EventType=state, MemberList=_members(changed))]

    @staticmethod
    def _event(command: str, g: sqlite3.Row, ms: int, **fields: Any) -> Event:
        body = {"CallbackCommand": command, "GroupId": g["group_id"], "Type": g["type"]}
        body.update(fields)
        body["EventTime"] = ms
        return command, body

    # -- delivery (on the event loop) ---------------------------------------------------------
    def deliver(self, events: list[Event]) -> None:
        if not events:
            return
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._http = httpx.AsyncClient(transport=self._transport, timeout=self._timeout_s)
            self._workers = [
                asyncio.get_running_loop().create_task(self._work()) for _ in range(self._workers_n)
            ]
        for event in events:
            if self._queue.qsize() >= self._queue_max:
                self.counts["dropped"] += 1
                continue
            self.counts["queued"] += 1
            self._queue.put_nowait(event)

    def _params(self, command: str) -> str:
        params = {
            "SdkAppid": str(self.sdkappid),
            "CallbackCommand": command,
            "contenttype": "json",
            "ClientIP": "127.0.0.1",
            "OptPlatform": "RESTAPI",
        }
        if self._token:
            now = str(int(time.time()))
            params["Sign"] = hashlib.sha256(f"{self._token}{now}".encode()).hexdigest()
            params["RequestTime"] = now
        return urlencode(params)

    async def _work(self) -> None:
        assert self._queue is not None and self._http is not None
        while True:
            command, body = await self._queue.get()
            sep = "&" if "?" in self.url else "?"
            try:
                response = await self._http.post(
                    f"{self.url}{sep}{self._params(command)}",
                    content=orjson.dumps(body),
                    headers={"content-type": "application/json"},
                )
                ok = response.status_code == 200
            except (httpx.HTTPError, OSError) as err:
                log.debug("callback %s to %s failed: %s", command, self.url, err)
                ok = False
            except Exception:  # an in-process receiver's bug must not stop delivery
                log.exception("callback %s raised in the receiver", command)
                ok = False
            self.counts["delivered" if ok else "failed"] += 1
            self.by_command[command] += 1
            self._queue.task_done()

    def pending(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def stats(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "queued": self.counts["queued"],
            "delivered": self.counts["delivered"],
            "failed": self.counts["failed"],
            "dropped": self.counts["dropped"],
            "pending": self.pending(),
            "by_command": dict(self.by_command),
        }
