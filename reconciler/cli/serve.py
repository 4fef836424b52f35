"""The long-running commands: `reconciler watch` and `reconciler emulator serve`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from reconciler import engine
from reconciler.cli.base import (
    Number,
    cli,
    load,
    options,
    path_argument,
    values_option,
    var_option,
)
from reconciler.errors import UsageError


@cli.command()
@options(path_argument, var_option, values_option)
@click.option(
    "--listen",
    default="127.0.0.1:8788",
    show_default=True,
    metavar="HOST:PORT",
    help="Where to receive the vendor's callbacks.",
)
@click.option(
    "--callback-path",
    default="/callback",
    show_default=True,
    metavar="PATH",
    help="The path of the callback URL; the callback port serves nothing else.",
)
@click.option(
    "--health-listen",
    metavar="HOST:PORT",
    help="Where to serve /livez, /readyz, /metrics and /status [default: the --listen host, "
    "the next port].",
)
@click.option(
    "--ready-factor",
    type=Number(1),
    default=3,
    show_default=True,
    metavar="N",
    help="/readyz fails once the last good resync is older than N times --resync.",
)
@click.option(
    "--stop-grace",
    type=Number(0),
    default=20,
    show_default=True,
    metavar="SECONDS",
    help="After SIGTERM, how long the reconcile in flight may take (a second signal: none).",
)
@click.option(
    "--resync",
    type=Number(1),
    default=600,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between full resyncs (a plan and apply of every group, same guards).",
)
@click.option(
    "--lease",
    type=click.IntRange(2, 3600),
    default=30,
    show_default=True,
    metavar="SECONDS",
    help="The leader's lease on the app lock (renewed every third of it): with several "
    "replicas, a standby takes over within this once the leader is gone.",
)
@click.option(
    "--notify-per-minute",
    type=click.IntRange(1, 600),
    default=6,
    show_default=True,
    metavar="N",
    help="Notifications (to TIM_NOTIFY_WEBHOOK_URL and TIM_NOTIFY_SLACK_URL, when set) sent at "
    "most N a minute; the rest go as one message when the minute allows.",
)
@click.option("--dry-run", is_flag=True, help="Log what would be done; change nothing.")
@click.option(
    "--insecure-no-callback-auth",
    is_flag=True,
    help="Accept unsigned callbacks when no callback token is set (loopback only, for tests).",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--lock-timeout",
    type=Number(0),
    default=engine.LOCK_WAIT_S,
    show_default=True,
    metavar="SECONDS",
    help="How long another writer (a CI apply) may hold the app lock while watch waits for it; "
    "past that the wait counts as a failure of the app and watch backs off. A standby's wait "
    "for the leading watch is not bounded.",
)
def watch(
    path,
    var,
    values,
    listen,
    callback_path,
    health_listen,
    ready_factor,
    stop_grace,
    resync,
    lease,
    notify_per_minute,
    dry_run,
    insecure_no_callback_auth,
    log_format,
    lock_timeout,
) -> None:
    """Keep the app converged: reconcile the groups the vendor's callbacks name, set AVChatRoom
    marks as members come online, and resync everything periodically."""
    from reconciler import watch as watching

    host, port = watching.parse_listen(listen)
    if health_listen is None:
        health_host, health_port = host, port + 1
    else:
        health_host, health_port = watching.parse_listen(health_listen, "--health-listen")
    if (health_host, health_port) == (host, port):
        raise UsageError("--health-listen must differ from --listen: health has a port of its own")
    if not callback_path.startswith("/"):
        raise UsageError(f"--callback-path {callback_path!r}: expected a path such as /callback")
    options = watching.WatchOptions(
        host=host,
        port=port,
        health_host=health_host,
        health_port=health_port,
        callback_path=callback_path,
        ready_factor=ready_factor,
        stop_grace_s=stop_grace,
        resync_s=resync,
        lease_s=lease,
        notify_per_minute=notify_per_minute,
        dry_run=dry_run,
        insecure_no_callback_auth=insecure_no_callback_auth,
        log_format=log_format,
        lock_timeout_s=lock_timeout,
    )
    watching.run(
        lambda at: load(str(at[0]), var, tuple(map(str, at[1:]))),
        [Path(path), *map(Path, values)],
        options,
    )


@cli.group()
def emulator() -> None:
    """The local Tencent Chat REST emulator."""


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8787, show_default=True, type=int)
@click.option("--db", default=".reconciler/emulator.sqlite3", show_default=True, type=click.Path())
@click.option("--sdkappid", required=True, type=int)
@click.option("--admin", default="administrator", show_default=True)
@click.option("--latency-ms", default=0.0, type=Number(0), help="Delay every answer.")
@click.option(
    "--rate-limit",
    type=Number(0, min_open=True),
    help="Calls per second per API; beyond it, error 60007.",
)
@click.option(
    "--fault-rate",
    default=0.0,
    type=Number(0, 1),
    help="Fraction of requests that fail transiently.",
)
@click.option("--seed", type=int, help="Make injected faults reproducible.")
@click.option(
    "--profile",
    type=click.Choice(["default", "latest"]),
    default="default",
    show_default=True,
    help="Which reading of the docs to enforce: the seed pages, or the strictest current one.",
)
@click.option(
    "--access-log", is_flag=True, help="One line per request on stderr (secrets redacted)."
)
@click.option(
    "--callback-url",
    metavar="URL",
    help="Send the documented callbacks there (signed when TIM_CALLBACK_TOKEN is set).",
)
def serve(
    host,
    port,
    db,
    sdkappid,
    admin,
    latency_ms,
    rate_limit,
    fault_rate,
    seed,
    profile,
    access_log,
    callback_url,
) -> None:
    """Serve the emulator over HTTP. The secret key comes from TIM_SECRET_KEY."""
    from reconciler.emulator.server import bind
    from reconciler.emulator.server import serve as run_server

    key = os.environ.get("TIM_SECRET_KEY")
    if not key:
        raise UsageError("Set TIM_SECRET_KEY: the emulator verifies UserSigs with it.")
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    try:
        sock = bind(host, port)
    except OSError as err:
        raise UsageError(
            f"cannot listen on {host}:{port} ({err.strerror}); if another server holds the "
            "port, stop it or choose another with --port"
        ) from None
    run_server(
        sock=sock,
        host=host,
        port=port,
        db=db,
        sdkappid=sdkappid,
        admin=admin,
        secret_key=key,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        fault_rate=fault_rate,
        seed=seed,
        profile=profile,
        access_log=access_log,
        announce=lambda url: click.echo(
            f"Emulator of app {sdkappid} listening on {url} (state in {db}); "
            "Ctrl-C stops it.\nIn a config: endpoint: " + url
        ),
        callback_url=callback_url,
        callback_token=os.environ.get("TIM_CALLBACK_TOKEN") or None,
    )
