"""Two watches of one app: one leads (it holds the app lock as its lease), the other stands by,
not ready and writing nothing; a SIGKILLed leader is taken over within the lease plus one
renewal; a CI apply that waits for the lock is handed it within 5 s, and the leader takes it
back."""

from __future__ import annotations

import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

from conftest import run_cli, seed_lease, stop_process, wait_until
from test_watch import GROUPS, TOKEN, Watch, reconciles, start_watch, stop

from reconciler.emulator.testing import free_port, wait_for_port
from reconciler.lock import POLL_S, Lease
from reconciler.state import LOCK_GROUP_ID

LEASE_S = 3  # --lease: renewed every 1 s


def second_watch(first: Watch) -> Watch:
    """Another replica of ``first``'s watch: same app and config, ports of its own (the
    emulator's callbacks go to the first)."""
    port, health = free_port(), free_port()
    log = first.log.with_name("standby.log")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "reconciler", "watch", str(first.cfg)),
            *("--listen", f"127.0.0.1:{port}", "--health-listen", f"127.0.0.1:{health}"),
            *("--lease", str(LEASE_S), "--lock-timeout", "1"),  # a standby's wait is unbounded
        ],
        env=first.server.env(TIM_CALLBACK_TOKEN=TOKEN),
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        start_new_session=True,
    )
    w = Watch(
        f"http://127.0.0.1:{port}",
        port,
        proc,
        log,
        first.server,
        first.cfg,
        f"http://127.0.0.1:{health}",
    )
    wait_for_port("127.0.0.1", health, timeout=20)
    return w


def test_one_leads_and_a_standby_takes_over_a_killed_leader(tmp_path):
    leader = start_watch(tmp_path, GROUPS[:1], "--lease", str(LEASE_S))
    standby = second_watch(leader)
    try:
        assert wait_until(lambda: "waiting for the app lock" in standby.text(), 10)
        time.sleep(2)
        # Standing by longer than --lock-timeout behind a live watch is no failure.
        assert standby.metric("reconciler_watch_backoffs_total", scope="app") == 0
        assert "gave up" not in standby.text()
        assert leader.get("/readyz").status_code == 200
        answer = standby.get("/readyz")
        assert answer.status_code == 503 and answer.json()["reason"] == "standby", answer.text
        assert standby.health()["role"] == "standby" and leader.health()["role"] == "leader"
        assert reconciles(standby) == 0 and standby.health()["last_resync"] is None

        leader.proc.kill()  # not reaped: on this host too its lease must lapse
        killed = time.monotonic()
        leader.rest(
            "group_open_http_svc/modify_group_base_info", {"GroupId": "club", "Name": "Hacked"}
        )
        assert wait_until(lambda: standby.get("/readyz").status_code == 200, 20), standby.text()
        ready = time.monotonic() - killed
        assert wait_until(lambda: leader.server.dump()["groups"]["club"]["Name"] == "Club", 5)
        reverted = time.monotonic() - killed
        bound = LEASE_S + LEASE_S / 3 + POLL_S + 1  # the lease, a renewal, a look, the resync
        took = f"takeover: ready {ready:.2f} s, drift reverted {reverted:.2f} s after SIGKILL"
        print(took)
        assert reverted < bound, f"{took}; bound {bound:g} s\n{standby.text()}"
        assert standby.health()["role"] == "leader" and "leading" in standby.text()
    finally:
        stop_process(standby.proc)
        stop(leader)


def test_a_ci_apply_is_handed_the_lock_and_the_leader_takes_it_back(tmp_path):
    w = start_watch(tmp_path, GROUPS[:1], "--lease", str(LEASE_S))
    try:
        path = w.cfg / "groups.yaml"
        path.write_text(path.read_text().replace("- carol\n", ""))  # CI's edit, watch's too
        started = time.monotonic()
        run = run_cli("apply", w.cfg, "--auto-approve", env=w.server.env())
        took = time.monotonic() - started
        assert run.code == 0, run
        assert "Waiting for the app lock" in run.err, run  # the watch held it
        print(f"a CI apply waited for and ran under the lock in {took:.2f} s")
        assert took < 5 + 2, f"apply took {took:.2f} s\n{run}"
        assert "carol" not in w.members("club")
        assert wait_until(lambda: "(watch)" in run_cli("lock", w.cfg, env=w.server.env()).out, 5)
        assert w.health()["role"] == "leader" and w.get("/readyz").status_code == 200
        assert "yielding the app lock" in w.text()
    finally:
        stop(w)


class _Cells(HTMLParser):
    """The page's summary text and its table rows, as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.summary = ""
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self._in = "cell"
        elif dict(attrs).get("id") == "summary":
            self._in = "summary"

    def handle_endtag(self, tag):
        if tag in ("td", "th", "p"):
            self._in = None

    def handle_data(self, data):
        if self._in == "cell":
            self.rows[-1][-1] += data
        elif self._in == "summary":
            self.summary += data


def test_the_status_page_and_json_show_each_group(tmp_path):
    w = start_watch(tmp_path, GROUPS[:2])
    try:
        status = w.health()
        assert status["role"] == "leader" and status["last_resync"]
        club = status["per_group"]["club"]
        assert club["state"] == "in sync" and club["outcome"] in ("applied", "converged")
        assert club["pending_marks"] == 0 and club["last_error"] is None
        page = w.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "http://" not in page.text and "https://" not in page.text  # no external assets
        cells = _Cells()
        cells.feed(page.text)
        rows = {r[0]: r for r in cells.rows[1:]}
        assert set(rows) == {"club", "open"}
        assert rows["club"][1] == "in sync" and rows["club"][2] == club["last_reconcile"]
        assert "role: leader" in cells.summary and status["revision"] in cells.summary
        assert str(w.cfg) not in page.text and str(w.cfg) not in str(status)  # no paths
    finally:
        stop(w)


def test_a_writer_holding_the_lock_past_lock_timeout_backs_the_watch_off(tmp_path):
    def held_by_ci(cfg: Path) -> None:  # a CI apply on another host, its lease live for an hour
        now = int(time.time())
        lease = Lease("ci@runner (apply)", "runner", 4242, "f" * 16, now, now + 3600)
        seed_lease(tmp_path / "server.sqlite3", lease)

    w = start_watch(tmp_path, GROUPS[:1], "--lock-timeout", "1", resynced=False, prepare=held_by_ci)
    try:
        assert wait_until(lambda: "gave up after waiting 1 s" in w.text(), 10), w.text()
        assert w.metric("reconciler_watch_backoffs_total", scope="app") >= 1
        assert "the app failed: the app is locked by ci@runner (apply)" in w.text()
        assert w.get("/readyz").json()["reason"] == "standby"
        time.sleep(3)  # within the first backoff (5 s): no second wait, no second line
        failures = w.text().count("gave up after waiting")
        assert failures == w.metric("reconciler_watch_backoffs_total", scope="app") == 1
        # The writer is done: the watch takes the lock once its backoff ends, and resyncs.
        w.rest("group_open_http_svc/destroy_group", {"GroupId": LOCK_GROUP_ID})
        assert wait_until(lambda: w.get("/readyz").status_code == 200, 20), w.text()
        assert "leading" in w.text()  # ready with the lease; its resync then creates the group
        assert wait_until(lambda: w.health()["last_resync_outcome"] == "applied", 10), w.text()
        assert set(w.members("club")) == {"alice", "bob", "carol"}
    finally:
        stop(w)


LIVE = [{"id": "live", "type": "AVChatRoom", "name": "Live", "marks": {1000: ["host1", "guest1"]}}]


def test_a_member_online_during_a_takeover_is_marked_without_waiting_for_a_resync(tmp_path):
    # The emulator's callbacks go to the leader only, so after the SIGKILL every callback of
    # the takeover is lost, as the vendor's are while no ready replica takes them (it sends each
    # once); the standby is then sent one itself, as a Service would once it routes to it.
    leader = start_watch(tmp_path, LIVE, "--lease", str(LEASE_S), latency_ms=100)
    standby = second_watch(leader)
    online = {"GroupId": "live", "EventType": "Online", "MemberList": [{"Member_Account": "x1"}]}
    try:
        assert wait_until(lambda: "waiting for the app lock" in standby.text(), 10)
        # A callback at a standby: answered, counted, and nothing written.
        answer = standby.send("Group.CallbackOnMemberStateChange", online)
        assert answer.status_code == 200 and answer.json()["ActionStatus"] == "OK"
        command = "Group.CallbackOnMemberStateChange"
        assert (
            standby.metric("reconciler_watch_callbacks_total", command=command, outcome="standby")
            == 1
        )
        assert reconciles(standby) == 0 and standby.health()["queue_depth"] == 0

        leader.proc.kill()  # not reaped: its lease must lapse

        # Ready as soon as it holds the lease, before its first resync has ended: the callbacks
        # that come while it catches up are queued, not lost.
        def ready_before_resync() -> bool:
            ready = standby.get("/readyz").status_code == 200
            return ready and standby.health()["last_resync"] is None

        assert wait_until(ready_before_resync, 20, step=0.01), standby.text()
        assert wait_until(lambda: standby.health()["last_resync"] is not None, 10)
        # guest1 comes online after that resync read the room, and its callback is lost.
        leader.server.control("online", GroupId="live", Account="guest1", Online=True)
        time.sleep(1)
        assert standby.members("live")["guest1"]["Marks"] == []
        # Callbacks reach the new leader: host1's sets its mark, and guest1's comes from the
        # reconcile of every group that the first of them starts (the next resync is 10 minutes
        # away).
        leader.server.control("online", GroupId="live", Account="host1", Online=True)
        host1 = {**online, "MemberList": [{"Member_Account": "host1"}]}
        assert standby.send(command, host1).status_code == 200
        marked = lambda: {  # noqa: E731
            a: m["Marks"] for a, m in standby.members("live").items() if a in ("host1", "guest1")
        }
        assert wait_until(lambda: marked() == {"host1": [1000], "guest1": [1000]}, 10), (
            marked(),
            standby.text(),
        )
        assert "reconciling every group again to catch up" in standby.text()
        assert standby.health()["role"] == "leader"
    finally:
        stop_process(standby.proc)
        stop(leader)
