"""`reconciler watch`: keep the app converged between CI runs, driven by the vendor's callbacks.

``run(load, paths, WatchOptions(...))`` serves the callback URL and, on a port of its own, the
health endpoints (``reconciler.watch.http``), and runs the controller
(``reconciler.watch.controller``) until SIGTERM or SIGINT: the reconcile in flight gets
``stop_grace_s`` to finish (a wait for the lock ends at once), a second signal ends it at once.
SIGHUP, or a change to a config or values file, reloads the config (an invalid one is reported
and the old one kept).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from reconciler import engine, revision
from reconciler.config import Config
from reconciler.errors import ReconcilerError, UsageError
from reconciler.watch.auth import CallbackAuth
from reconciler.watch.controller import (
    COALESCE_S,
    LEASE_S,
    MARKS_WINDOW_S,
    READY_FACTOR,
    Controller,
)
from reconciler.watch.http import IDLE_S, GuardedH11, callback_app, health_app
from reconciler.watch.metrics import Metrics
from reconciler.watch.notify import PER_MINUTE, Notifier, targets_from_environment

__all__ = ["WatchOptions", "parse_listen", "run"]

log = logging.getLogger("reconciler.watch")

DEFAULT_LISTEN = "127.0.0.1:8788"
CALLBACK_PATH = "/callback"
POLL_FILES_S = 1.0  # how often the config files are looked at for changes
IN_PROCESS_HOST = "http://watch.local"  # the embedded emulator's callback URL, before the path
STOP_GRACE_S = 20.0  # after SIGTERM, the reconcile in flight is given this long


@dataclass(frozen=True)
class WatchOptions:
    host: str = "127.0.0.1"
    port: int = 8788
    health_host: str = "127.0.0.1"
    health_port: int = 8789
    callback_path: str = CALLBACK_PATH
    resync_s: float = 600.0
    ready_factor: float = READY_FACTOR
    stop_grace_s: float = STOP_GRACE_S
    dry_run: bool = False
    insecure_no_callback_auth: bool = False
    log_format: str = "text"
    lock_timeout_s: float = engine.LOCK_WAIT_S
    coalesce_s: float = COALESCE_S
    marks_window_s: float = MARKS_WINDOW_S
    lease_s: int = LEASE_S
    notify_per_minute: int = PER_MINUTE


def parse_listen(text: str, flag: str = "--listen") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8788`` for IPv6) -> (host, port); UsageError otherwise."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{flag} {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host, int(port)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a reconcile's fields are keys of their own."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        else:
            doc["message"] = record.getMessage()
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def _configure_logging(fmt: str) -> None:
    if fmt != "json":
        return
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())


def _bind(host: str, port: int, flag: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UsageError(f"{flag} {host}:{port}: cannot listen there ({err.strerror})") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _token(config: Config, options: WatchOptions) -> str | None:
    name = config.app.callback_token_env
    token = os.environ.get(name) or None
    if token is None and not options.insecure_no_callback_auth:
        raise UsageError(
            f"watch checks every callback's Sign with the callback token, read from the "
            f"environment variable {name} (app.callback_token_env), which is not set: set the "
            f"token in the console (Callback configuration) and export {name}=<token>. For a "
            "test on this machine only, pass --insecure-no-callback-auth."
        )
    if options.insecure_no_callback_auth and not _loopback(options.host):
        raise UsageError(
            f"--insecure-no-callback-auth listens on loopback only, not on {options.host}: "
            "use --listen 127.0.0.1:PORT, or set the callback token"
        )
    return token


def resolve(paths: list[Path]) -> list[Path]:
    """``paths`` with their symlinks resolved, once: git-sync (and a Kubernetes ConfigMap)
    publishes each revision as a new directory and swaps a symlink to it, so a config loaded
    from the resolved paths is read from one revision, never half from the next."""
    return [
        Path(os.path.realpath(p)) if os.path.realpath(p) != os.path.abspath(p) else p for p in paths
    ]


def _files_signature(paths: list[Path]) -> tuple:
    """What changes when a config, values or template file is edited, added or removed, or a
    symlink on the way to one is swapped to a new revision."""
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():  # every file under it but hidden ones (.git, .reconciler, ..data)
            for root, dirs, files in os.walk(path, followlinks=True):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                seen.update(Path(root, f) for f in files if not f.startswith("."))
        else:
            seen.add(path)
    signature: list[tuple] = [(str(p), os.path.realpath(p)) for p in paths]
    for path in sorted(seen):
        try:
            st = path.stat()
            signature.append((str(path), os.path.realpath(path), st.st_mtime_ns, st.st_size))
        except OSError:
            signature.append((str(path), None, None, None))
    return tuple(signature)


@contextmanager
def _no_uvicorn_signals():
    yield


def _server(app):
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http=GuardedH11,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=IDLE_S,
            timeout_notify=30,
        )
    )
    server.capture_signals = _no_uvicorn_signals  # ours, in serve()
    return server


async def serve(
    load: Callable[[list[Path]], Config], paths: list[Path], options: WatchOptions
) -> None:
    """``load(paths)``: the config from ``paths`` (the config path, then the values files),
    given resolved (``resolve``)."""
    _configure_logging(options.log_format)
    config = load(resolve(paths))
    token = _token(config, options)
    targets = targets_from_environment()
    sock = _bind(options.host, options.port, "--listen")
    try:
        health_sock = _bind(options.health_host, options.health_port, "--health-listen")
    except UsageError:
        sock.close()
        raise
    holder: dict[str, Controller] = {}
    session_ref: dict[str, engine.Session] = {}
    metrics = Metrics(
        stats=lambda: session_ref["s"].client.stats if "s" in session_ref else None,
        depth=lambda: holder["c"].depth() if "c" in holder else 0,
    )
    auth = CallbackAuth(config.app.sdkappid, token)
    notifier = Notifier(
        targets, str(config.app.sdkappid), metrics, per_minute=options.notify_per_minute
    )
    emulator = None
    app = callback_app(options.callback_path, lambda: holder["c"], auth, metrics)
    if config.app.endpoint == "local":  # its callbacks come in-process; its controls stay in it
        emulator = engine.embedded_emulator(
            config.app,
            config.base_dir,
            callback_url=IN_PROCESS_HOST + options.callback_path,
            callback_token=token,
            callback_transport=httpx.ASGITransport(app=app),
        )

    def waiting(lease) -> None:
        log.warning("waiting for the app lock, held by %s", lease.describe(time.time()))

    session = engine.Session(
        config.app,
        config.base_dir,
        lock=False,
        lock_timeout_s=options.lock_timeout_s,
        on_lock_wait=waiting,
        emulator=emulator,
        hedge_reads=True,  # one stalled read does not cost a reconcile the client's timeout
    )
    async with session:
        session_ref["s"] = session
        controller = Controller(
            config,
            session,
            metrics,
            resync_s=options.resync_s,
            dry_run=options.dry_run,
            coalesce_s=options.coalesce_s,
            marks_window_s=options.marks_window_s,
            ready_factor=options.ready_factor,
            lease_s=options.lease_s,
            notify=notifier,
        )
        holder["c"] = controller
        servers = [_server(app), _server(health_app(lambda: controller, metrics))]
        stop = asyncio.Event()
        reload_now = asyncio.Event()
        loop = asyncio.get_running_loop()
        worker = asyncio.create_task(controller.run())

        def on_signal() -> None:
            if stop.is_set():  # a second signal: now
                log.warning("stopping now")
                worker.cancel()
            shutdown()

        def shutdown() -> None:
            if stop.is_set():
                return
            log.info(
                "stopping: no new callbacks; the reconcile in flight has %g s to finish",
                options.stop_grace_s,
            )
            for server in servers:
                server.should_exit = True
            controller.stop()
            stop.set()
            loop.call_later(options.stop_grace_s, worker.cancel)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        loop.add_signal_handler(signal.SIGHUP, reload_now.set)

        async def reloader() -> None:
            signature = _files_signature(paths)
            again: str | None = None  # the reason of a load to do again at once
            while not stop.is_set():
                if again is not None:
                    reason, again = again, None
                else:
                    try:
                        await asyncio.wait_for(reload_now.wait(), timeout=POLL_FILES_S)
                        reason = "SIGHUP"
                    except TimeoutError:
                        now_sig = await asyncio.to_thread(_files_signature, paths)
                        if now_sig == signature:
                            continue
                        reason = "a config file changed"
                reload_now.clear()
                signature = await asyncio.to_thread(_files_signature, paths)
                at = resolve(paths)
                try:
                    new = await asyncio.to_thread(load, at)
                    controller.reload(new)
                except ReconcilerError as err:
                    if resolve(paths) != at:  # a symlink was swapped meanwhile: load that
                        again = reason
                        continue
                    where = at[0] if at[0].is_dir() else at[0].parent
                    files = await asyncio.to_thread(revision.of_git, where)
                    controller.reload_refused(files)
                    metrics.reloads.labels("refused").inc()
                    log.error(
                        "config reload (%s) refused%s; still running on revision %s:\n%s",
                        reason,
                        f": revision {files.describe()} is invalid" if files else "",
                        controller.revision.describe(),
                        err.report(),
                    )
                else:
                    metrics.reloads.labels("ok").inc()
                    log.info(
                        "config reloaded (%s): revision %s, %d group(s)",
                        reason,
                        controller.revision.describe(),
                        len(new.groups),
                    )

        where = engine.describe_endpoint(config)
        log.info(
            "watching app %s at %s: callbacks on http://%s:%d%s (%s), health on http://%s:%d/, "
            "resync every %g s%s%s",
            config.app.sdkappid,
            where,
            options.host,
            options.port,
            options.callback_path,
            "signed" if token else "UNAUTHENTICATED, loopback only",
            options.health_host,
            options.health_port,
            options.resync_s,
            ", dry run" if options.dry_run else "",
            f", notifications to {' and '.join(targets)} (at most {options.notify_per_minute} a "
            "minute)"
            if targets
            else "",
        )
        tasks = [
            asyncio.create_task(servers[0].serve(sockets=[sock])),
            asyncio.create_task(servers[1].serve(sockets=[health_sock])),
            worker,
            asyncio.create_task(reloader()),
        ]
        if targets:  # it runs until cancelled
            tasks.append(asyncio.create_task(notifier.run()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:  # a task that ended by itself (not by a signal) is an error
                failure = None if task.cancelled() else task.exception()
                if failure is not None:
                    raise failure
            shutdown()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for task in tasks:
                task.cancel()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            sock.close()
            health_sock.close()
    log.info("stopped")


def run(load: Callable[[list[Path]], Config], paths: list[Path], options: WatchOptions) -> None:
    asyncio.run(serve(load, paths, options))
