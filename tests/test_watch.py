"""`reconciler watch` end to end: `reconciler emulator serve --callback-url` sends the documented
callbacks to a watch in its own process, and the live state is read back from the emulator."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    ADMIN,
    SDKAPPID,
    Server,
    cli_env,
    control,
    dump_yaml,
    start_server,
    stop_process,
    wait_until,
)

from reconciler.emulator import EmulatorStore
from reconciler.emulator.testing import free_port, wait_for_port

TOKEN = "watch-test-callback-token"
ACCOUNTS = ["alice", "bob", "carol", "dave", "erin", "host1", "guest1"]
ACCOUNTS += [f"m{i:02d}" for i in range(1, 10)] + [f"x{i}" for i in range(1, 6)]

GROUPS = [
    {
        "id": "club",
        "type": "Public",
        "name": "Club",
        "owner": "alice",
        "members": ["alice", "bob", "carol"],
    },
    {
        "id": "open",
        "type": "Public",
        "name": "Open",
        "owner": "alice",
        "members_mode": "additive",
        "members": ["alice"],
    },
    {
        "id": "big",
        "type": "Public",
        "name": "Big",
        "owner": "alice",
        "members": ["alice", *[f"m{i:02d}" for i in range(1, 10)]],
    },
    {
        "id": "live",
        "type": "AVChatRoom",
        "name": "Live",
        "marks": {1000: ["host1"], 1001: ["host1", "guest1"]},
    },
]


@dataclass
class Watch:
    url: str  # the callback port's
    port: int
    proc: subprocess.Popen
    log: Path
    server: Server
    cfg: Path
    health_url: str

    def get(self, path: str) -> httpx.Response:
        """GET from the health port."""
        return httpx.get(f"{self.health_url}{path}", timeout=10)

    def health(self) -> dict[str, Any]:
        return self.get("/status").json()

    def metrics(self) -> dict[str, float]:
        values = {}
        for line in self.get("/metrics").text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def metric(self, name: str, **labels: str) -> float:
        """A metric's value (0 when absent); labels in any order."""
        for key, value in self.metrics().items():
            base, _, rest = key.partition("{")
            found = dict(part.split("=", 1) for part in rest.rstrip("}").split(",") if "=" in part)
            if base == name and all(found.get(k) == f'"{v}"' for k, v in labels.items()):
                return value
        return 0.0

    def text(self) -> str:
        return self.log.read_text()

    def members(self, gid: str) -> dict[str, dict[str, Any]]:
        group = self.server.dump()["groups"][gid]
        return {m["Member_Account"]: m for m in group["MemberList"]}

    def rest(self, api: str, body: dict) -> dict:
        from reconciler.emulator.testing import RestCaller

        async def go() -> dict:
            async with httpx.AsyncClient(base_url=self.server.url) as http:
                return await RestCaller(http, SDKAPPID, self.server.key)(api, body)

        import asyncio

        return asyncio.run(go())

    def send(self, command: str, body: dict, **query: Any) -> httpx.Response:
        """A callback as the vendor sends it (signed now unless Sign/RequestTime are given)."""
        now = str(int(time.time()))
        params = {
            "SdkAppid": str(SDKAPPID),
            "CallbackCommand": command,
            "contenttype": "json",
            "ClientIP": "203.0.113.7",
            "OptPlatform": "RESTAPI",
            "RequestTime": now,
            "Sign": hashlib.sha256(f"{TOKEN}{now}".encode()).hexdigest(),
        }
        params.update({k: str(v) for k, v in query.items()})
        return httpx.post(
            f"{self.url}/callback", params=params, content=json.dumps(body), timeout=10
        )


def write_config(cfg: Path, server: Server, groups: list[dict], **policy: Any) -> Path:
    cfg.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"app": server.app(), "groups": groups}
    if policy:
        doc["policy"] = policy
    path = cfg / "groups.yaml"
    path.write_text(dump_yaml(doc))
    return path


def start_watch(
    tmp: Path,
    groups: list[dict],
    *args: str,
    latency_ms: float = 0,
    token: str = TOKEN,
    resynced: bool = True,
    key: str | None = None,
    prepare=None,
    at: str = "",
    env_extra: dict[str, str] | None = None,
) -> Watch:
    """A watch of ``groups`` on the emulator; ``resynced``: return once its first resync is
    done; ``key``: the secret key it uses (the server's by default); ``prepare(cfg)``: runs on
    the config directory before watch starts; ``at``: the config path watch is given, in it."""
    db = tmp / "server.sqlite3"
    store = EmulatorStore(db, admin=ADMIN)
    try:
        store.seed(accounts=ACCOUNTS)
    finally:
        store.close()
    port, health_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(
        db,
        latency_ms=latency_ms,
        extra=("--callback-url", f"{url}/callback"),
        env_extra={"TIM_CALLBACK_TOKEN": token},
    )
    cfg = tmp / "cfg"
    write_config(cfg, server, groups)
    if prepare is not None:  # e.g. make the config directory a git checkout
        prepare(cfg)
    log = tmp / "watch.log"
    env = server.env(TIM_CALLBACK_TOKEN=TOKEN, **(env_extra or {}))
    if key is not None:
        env["TIM_SECRET_KEY"] = key
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "reconciler", "watch", str(cfg / at)),
            *("--listen", f"127.0.0.1:{port}", "--health-listen", f"127.0.0.1:{health_port}"),
            *args,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        start_new_session=True,
    )
    watch = Watch(url, port, proc, log, server, cfg, f"http://127.0.0.1:{health_port}")
    try:
        wait_for_port("127.0.0.1", health_port, timeout=20)
        if resynced:
            assert wait_until(lambda: watch.health()["last_resync"] is not None), watch.text()
    except BaseException:
        stop(watch)
        raise
    return watch


def stop(watch: Watch) -> None:
    stop_process(watch.proc)
    stop_process(watch.server.proc)


@pytest.fixture(scope="module")
def watch(tmp_path_factory):
    w = start_watch(tmp_path_factory.mktemp("watch"), GROUPS)
    yield w
    stop(w)


def reconciles(w: Watch) -> float:
    return sum(
        v for k, v in w.metrics().items() if k.startswith("reconciler_watch_reconciles_total")
    )


# --- behaviour ---------------------------------------------------------------------------------


def test_the_first_resync_creates_the_declared_groups(watch):
    live = watch.server.dump()["groups"]
    assert {"club", "open", "big", "live"} <= set(live)
    assert set(watch.members("club")) == {"alice", "bob", "carol"}


def test_a_member_with_declared_marks_has_them_within_2_s_of_coming_online(watch):
    started = time.monotonic()
    watch.server.control("online", GroupId="live", Account="host1", Online=True)
    assert wait_until(
        lambda: watch.members("live").get("host1", {}).get("Marks") == [1000, 1001], timeout=2
    ), watch.text()
    assert time.monotonic() - started < 2
    # A member the config gives no mark gets none.
    watch.server.control("online", GroupId="live", Account="dave", Online=True)
    time.sleep(1.2)
    assert watch.members("live")["dave"]["Marks"] == []
    assert watch.metric("reconciler_watch_marks_set_total") >= 1


def test_a_self_joined_user_is_removed_and_a_self_left_member_re_added(watch):
    watch.server.control("join", GroupId="club", Account="dave")
    watch.server.control("leave", GroupId="club", Account="bob")
    assert wait_until(lambda: set(watch.members("club")) == {"alice", "bob", "carol"}, 5), (
        watch.text()
    )
    # The reconcile's log line follows its last write.
    assert wait_until(lambda: "group=club trigger=" in watch.text(), 5), watch.text()


def test_a_console_rename_is_reverted(watch):
    answer = watch.rest(
        "group_open_http_svc/modify_group_base_info", {"GroupId": "club", "Name": "Hacked"}
    )
    assert answer["ErrorCode"] == 0
    assert wait_until(lambda: watch.server.dump()["groups"]["club"]["Name"] == "Club", 5)


def test_an_additive_group_is_left_alone(watch):
    before = reconciles(watch)
    watch.server.control("join", GroupId="open", Account="erin")
    assert wait_until(lambda: reconciles(watch) > before, 5)
    time.sleep(0.3)
    assert "erin" in watch.members("open")


def test_events_for_undeclared_groups_are_counted_and_ignored(watch):
    answer = watch.send(
        "Group.CallbackAfterNewMemberJoin",
        {"GroupId": "nobody-declared-this", "NewMemberList": [{"Member_Account": "x1"}]},
    )
    assert answer.status_code == 200
    assert answer.json() == {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
    assert (
        watch.metric(
            "reconciler_watch_callbacks_total",
            command="Group.CallbackAfterNewMemberJoin",
            outcome="undeclared",
        )
        >= 1
    )


def test_a_removal_over_the_guard_is_refused_and_counted(watch):
    intruders = [f"x{i}" for i in range(1, 6)]  # 5 of 15 members: over the 25% guard
    answer = watch.rest(
        "group_open_http_svc/add_group_member",
        {"GroupId": "big", "MemberList": [{"Member_Account": a} for a in intruders]},
    )
    assert answer["ErrorCode"] == 0
    assert wait_until(lambda: watch.metric("reconciler_watch_refusals_total", reason="guard"), 5)
    assert set(intruders) <= set(watch.members("big"))
    assert wait_until(lambda: "refused: group big" in watch.text(), 5), watch.text()
    assert "big" in watch.health()["refused_groups"]
    # Not retried until the config changes: another event for it does nothing.
    before = reconciles(watch)
    watch.server.control("leave", GroupId="big", Account="x1")
    time.sleep(1.2)
    assert reconciles(watch) == before
    assert (
        watch.metric(
            "reconciler_watch_callbacks_total",
            command="Group.CallbackAfterMemberExit",
            outcome="refused_earlier",
        )
        >= 1
    )


@pytest.mark.parametrize(
    "query, status, reason",
    [
        ({"Sign": "0" * 64}, 401, "bad_sign"),
        ({"RequestTime": int(time.time()) - 120}, 401, "stale"),
        ({"SdkAppid": SDKAPPID + 1}, 403, "wrong_sdkappid"),
        ({}, 401, "unsigned"),
    ],
)
def test_bad_callbacks_are_refused_with_nothing_done(watch, query, status, reason):
    before = reconciles(watch)
    refused = watch.metric("reconciler_watch_refusals_total", reason=reason)
    body = {"GroupId": "club", "NewMemberList": [{"Member_Account": "dave"}]}
    if reason == "stale":  # a Sign made with the right token, but for a time long gone
        t = query["RequestTime"]
        query = {"RequestTime": t, "Sign": hashlib.sha256(f"{TOKEN}{t}".encode()).hexdigest()}
    if reason == "unsigned":
        response = httpx.post(
            f"{watch.url}/callback",
            params={"SdkAppid": SDKAPPID, "CallbackCommand": "Group.CallbackAfterNewMemberJoin"},
            content=json.dumps(body),
        )
    else:
        response = watch.send("Group.CallbackAfterNewMemberJoin", body, **query)
    assert response.status_code == status
    time.sleep(0.8)
    assert watch.metric("reconciler_watch_refusals_total", reason=reason) == refused + 1
    assert reconciles(watch) == before
    refusal = f"refused a callback from 127.0.0.1: {reason}"
    assert wait_until(lambda: refusal in watch.text(), 5), watch.text()


def test_an_exact_replay_is_refused(watch):
    now = str(int(time.time()))
    sign = hashlib.sha256(f"{TOKEN}{now}".encode()).hexdigest()
    body = {"GroupId": "open", "NewMemberList": [{"Member_Account": "x2"}], "EventTime": 1}
    first = watch.send("Group.CallbackAfterNewMemberJoin", body, RequestTime=now, Sign=sign)
    again = watch.send("Group.CallbackAfterNewMemberJoin", body, RequestTime=now, Sign=sign)
    assert first.status_code == 200
    assert again.status_code == 403
    assert watch.metric("reconciler_watch_refusals_total", reason="replay") == 1


def test_health_status_and_metrics_on_the_health_port_only(watch):
    assert watch.get("/livez").status_code == 200
    ready = watch.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"ready": True, "checks": {"resync_recent": True}}
    assert watch.health()["queue_depth"] >= 0
    # The callback port serves the callback path and nothing else.
    for path in ("/livez", "/readyz", "/metrics", "/status", "/healthz"):
        assert httpx.get(f"{watch.url}{path}").status_code in (404, 405), path
    assert watch.send("Group.CallbackAfterNewMemberJoin", {}).status_code != 404
    assert httpx.post(f"{watch.url}/elsewhere", content=b"{}").status_code == 404
    text = watch.get("/metrics").text
    for name in (
        "reconciler_watch_callbacks_total",
        "reconciler_watch_reconciles_total",
        "reconciler_watch_api_calls_total",
        "reconciler_watch_drift_found_total",
        "reconciler_watch_drift_fixed_total",
        "reconciler_watch_refusals_total",
        "reconciler_watch_queue_depth",
        "reconciler_watch_event_to_converged_seconds_bucket",
        "reconciler_watch_api_retries_total",
        "reconciler_watch_api_failures_total",
    ):
        assert name in text
    assert TOKEN not in text and TOKEN not in watch.text()
    assert watch.server.key not in watch.text()


# --- own processes -------------------------------------------------------------------------------


def test_without_a_token_watch_refuses_to_start(tmp_path, server):
    write_config(tmp_path / "cfg", server, GROUPS[:1])
    run = subprocess.run(
        [sys.executable, "-m", "reconciler", "watch", str(tmp_path / "cfg")],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 1
    assert "TIM_CALLBACK_TOKEN" in run.stderr and "--insecure-no-callback-auth" in run.stderr
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "watch",
            str(tmp_path / "cfg"),
            "--listen",
            "0.0.0.0:18799",
            "--insecure-no-callback-auth",
        ],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 1 and "loopback only" in run.stderr


def test_a_resync_fixes_drift_that_no_callback_announced(tmp_path):
    w = start_watch(tmp_path, GROUPS[:1], "--resync", "2")
    try:
        # import_group_member fires no callback (the vendor's migration API).
        answer = w.rest(
            "group_open_http_svc/import_group_member",
            {"GroupId": "club", "MemberList": [{"Member_Account": "dave"}]},
        )
        assert answer["ErrorCode"] == 0 and "dave" in w.members("club")
        assert wait_until(lambda: "dave" not in w.members("club"), 6), w.text()
        assert "trigger=resync" in w.text()
    finally:
        stop(w)


def test_an_invalid_config_reload_keeps_the_old_config(tmp_path):
    w = start_watch(tmp_path, GROUPS[:1])
    try:
        digest = w.health()["config_digest"]
        path = w.cfg / "groups.yaml"
        path.write_text(path.read_text().replace("name: Club", "name: [unclosed"))
        assert wait_until(lambda: w.health()["reload_refused_at"] is not None, 6), w.text()
        assert w.health()["config_digest"] == digest
        assert "groups.yaml:" in w.text()  # located, in the log; never on a port
        assert (
            "groups.yaml" not in w.get("/status").text
            and str(tmp_path) not in w.get("/status").text
        )
        assert "still running on revision" in w.text()
        assert w.metric("reconciler_watch_config_refused") == 1
        assert w.get("/readyz").status_code == 200  # the last good config runs on
        # The old config still holds.
        w.server.control("join", GroupId="club", Account="dave")
        assert wait_until(lambda: "dave" not in w.members("club"), 5), w.text()
        # A valid edit is taken up.
        path.write_text(path.read_text().replace("name: [unclosed", "name: Club 2"))
        assert wait_until(lambda: w.server.dump()["groups"]["club"]["Name"] == "Club 2", 8)
        assert w.metric("reconciler_watch_config_refused") == 0
    finally:
        stop(w)


def test_sigterm_finishes_the_reconcile_in_flight_and_releases_the_lock(tmp_path):
    w = start_watch(tmp_path, GROUPS[:1], latency_ms=150)
    try:
        w.server.control("leave", GroupId="club", Account="bob")
        # The coalescing window (0.5 s) passes, then the batch takes the lock and observes.
        assert wait_until(lambda: w.health()["running"] > 0, 5, step=0.01), w.text()
        w.proc.terminate()
        assert w.proc.wait(timeout=15) == 0, w.text()
        assert "bob" in w.members("club")  # the reconcile in flight was finished
        assert "tim-reconciler-lock" not in w.server.dump()["groups"]
    finally:
        stop(w)


def test_endpoint_local_never_serves_the_emulator_controls(tmp_path):
    """The embedded emulator's callbacks reach watch in-process; its controls (reset, join...)
    are served on neither port. A change made to its state behind watch's back is found by the
    resync."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    doc = {"app": {"sdkappid": SDKAPPID, "create_missing_accounts": True}, "groups": GROUPS[:1]}
    (cfg / "groups.yaml").write_text(dump_yaml(doc))
    port, health = free_port(), free_port()
    url, health_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{health}"
    log = tmp_path / "watch.log"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "reconciler", "watch", str(cfg)),
            *("--listen", f"127.0.0.1:{port}", "--health-listen", f"127.0.0.1:{health}"),
            *("--insecure-no-callback-auth", "--log-format", "json", "--resync", "2"),
        ],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        start_new_session=True,
    )
    try:
        wait_for_port("127.0.0.1", health, timeout=20)
        assert wait_until(lambda: httpx.get(f"{health_url}/status").json()["last_resync"], 10)
        for base in (url, health_url):
            for name in ("reset", "join", "stats"):
                answer = httpx.post(f"{base}/emulator/{name}", json={"GroupId": "club"})
                assert answer.status_code in (404, 405), (base, name, answer.text)
        db = cfg / ".reconciler" / "local.sqlite3"

        def members() -> set[str]:
            store = EmulatorStore(db, admin=ADMIN)
            try:
                return {m["Member_Account"] for m in store.dump()["groups"]["club"]["MemberList"]}
            finally:
                store.close()

        assert members() == {"alice", "bob", "carol"}
        control(db, "leave", {"GroupId": "club", "Account": "bob"})
        assert "bob" not in members()
        assert wait_until(lambda: "bob" in members(), 8), log.read_text()
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        done = [x for x in lines if x.get("event") == "reconcile" and x.get("outcome") == "applied"]
        assert done and "latency_ms" in done[-1]
    finally:
        stop_process(proc)


def test_watch_never_destroys_a_topic_declared_absent(tmp_path):
    """A topic declared `state: absent` needs apply --allow-destroy; watch never destroys."""
    community = {
        "id": "@TGS#_hub",
        "type": "Community",
        "name": "Hub",
        "owner": "alice",
        "support_topic": True,
        "members": ["alice", "bob"],
        "topics": [{"id": "news", "name": "News"}, {"id": "old", "name": "Old"}],
    }
    w = start_watch(tmp_path, [community], "--resync", "1")
    try:
        assert "@TGS#_hub@TOPIC#_old" in _topic_ids(w), w.text()
        digest = w.health()["config_digest"]
        path = w.cfg / "groups.yaml"
        text = path.read_text().replace("  name: Old\n", "  name: Old\n        state: absent\n")
        path.write_text(text)
        assert wait_until(lambda: w.health()["config_digest"] != digest, 6), w.text()
        resyncs = w.text().count("trigger=resync")
        assert wait_until(lambda: w.text().count("trigger=resync") >= resyncs + 2, 10), w.text()
        assert "@TGS#_hub@TOPIC#_old" in _topic_ids(w), w.text()
        # Held by apply's destroy check and logged, once per config rather than every resync.
        assert w.text().count("not destroying @TGS#_hub topic old: ") == 1, w.text()
    finally:
        stop(w)


def _topic_ids(w: Watch) -> list[str]:
    from reconciler.tim.wire.topics import SERVICE

    live = w.rest(f"{SERVICE}/get_topic", {"GroupId": "@TGS#_hub", "From_Account": ADMIN})
    assert "TopicInfo" in live, live
    return [t.get("TopicId") for t in live["TopicInfo"]]
