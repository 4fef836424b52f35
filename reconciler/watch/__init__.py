"""`reconciler watch`: keep the app converged between CI runs, driven by the vendor's callbacks.

``run(load, paths, WatchOptions(...))`` serves the callback URL and runs the controller
(``reconciler.watch.controller``) until SIGTERM or SIGINT; SIGHUP, or a change to a config or
values file, reloads the config (an invalid one is reported and the old one kept).
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

from reconciler import engine
from reconciler.config import Config
from reconciler.config.loader import config_files
from reconciler.errors import ReconcilerError, UsageError
from reconciler.watch.auth import CallbackAuth
from reconciler.watch.controller import COALESCE_S, MARKS_WINDOW_S, Controller
from reconciler.watch.http import make_app
from reconciler.watch.metrics import Metrics

__all__ = ["WatchOptions", "parse_listen", "run"]

log = logging.getLogger("reconciler.watch")

DEFAULT_LISTEN = "127.0.0.1:8788"
POLL_FILES_S = 1.0  # how often the config files are looked at for changes
IN_PROCESS_URL = "http://watch.local/callback"  # the embedded emulator's callback URL


@dataclass(frozen=True)
class WatchOptions:
    host: str = "127.0.0.1"
    port: int = 8788
    resync_s: float = 600.0
    dry_run: bool = False
    insecure_no_callback_auth: bool = False
    log_format: str = "text"
    lock_timeout_s: float = engine.LOCK_WAIT_S
    coalesce_s: float = COALESCE_S
    marks_window_s: float = MARKS_WINDOW_S


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8788`` for IPv6) -> (host, port); UsageError otherwise."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
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


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UsageError(f"--listen {host}:{port}: cannot listen there ({err.strerror})") from None
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


def _files_signature(paths: list[Path], config: Config) -> tuple:
    """What changes when a config or values file is edited, added or removed."""
    seen: set[Path] = set(config.files)
    for path in paths:
        if path.is_dir():
            try:
                seen.update(config_files(path))
            except OSError:
                pass
        else:
            seen.add(path)
    signature = []
    for path in sorted(seen):
        try:
            st = path.stat()
            signature.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            signature.append((str(path), None, None))
    return tuple(signature)


@contextmanager
def _no_uvicorn_signals():
    yield


async def serve(load: Callable[[], Config], paths: list[Path], options: WatchOptions) -> None:
    import uvicorn

    _configure_logging(options.log_format)
    config = load()
    token = _token(config, options)
    sock = _bind(options.host, options.port)
    holder: dict[str, Controller] = {}
    session_ref: dict[str, engine.Session] = {}
    metrics = Metrics(
        stats=lambda: session_ref["s"].client.stats if "s" in session_ref else None,
        depth=lambda: holder["c"].depth() if "c" in holder else 0,
    )
    auth = CallbackAuth(config.app.sdkappid, token)
    local = config.app.endpoint == "local"
    emulator = None
    app_box: dict[str, object] = {}

    async def watch_app(scope, receive, send):  # the embedded emulator's delivery target
        await app_box["app"](scope, receive, send)

    if local:
        emulator = engine.embedded_emulator(
            config.app,
            config.base_dir,
            callback_url=IN_PROCESS_URL,
            callback_token=token,
            callback_transport=httpx.ASGITransport(app=watch_app),
        )
    app = make_app(lambda: holder["c"], auth, metrics, emulator=emulator)
    app_box["app"] = app

    def waiting(lease) -> None:
        log.warning("waiting for the app lock, held by %s", lease.describe(time.time()))

    session = engine.Session(
        config.app,
        config.base_dir,
        lock=False,
        lock_timeout_s=options.lock_timeout_s,
        on_lock_wait=waiting,
        emulator=emulator,
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
        )
        holder["c"] = controller
        server = uvicorn.Server(
            uvicorn.Config(
                app, log_level="warning", access_log=False, lifespan="off", timeout_notify=30
            )
        )
        server.capture_signals = _no_uvicorn_signals  # ours, below
        stop = asyncio.Event()
        reload_now = asyncio.Event()
        loop = asyncio.get_running_loop()

        def shutdown() -> None:
            if stop.is_set():
                return
            log.info("stopping: no new callbacks; finishing the reconcile in flight")
            server.should_exit = True
            controller.stop()
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown)
        loop.add_signal_handler(signal.SIGHUP, reload_now.set)

        async def reloader() -> None:
            signature = _files_signature(paths, controller.config)
            while not stop.is_set():
                try:
                    await asyncio.wait_for(reload_now.wait(), timeout=POLL_FILES_S)
                    reason = "SIGHUP"
                except TimeoutError:
                    now_sig = await asyncio.to_thread(_files_signature, paths, controller.config)
                    if now_sig == signature:
                        continue
                    reason = "a config file changed"
                reload_now.clear()
                try:
                    new = await asyncio.to_thread(load)
                    controller.reload(new)
                except ReconcilerError as err:
                    controller.last_reload_error = err.report()
                    metrics.reloads.labels("refused").inc()
                    log.error(
                        "config reload (%s) refused; still running on the previous config:\n%s",
                        reason,
                        err.report(),
                    )
                else:
                    metrics.reloads.labels("ok").inc()
                    log.info("config reloaded (%s): %d group(s)", reason, len(new.groups))
                signature = await asyncio.to_thread(_files_signature, paths, controller.config)

        where = engine.describe_endpoint(config)
        log.info(
            "watching app %s at %s: callbacks on http://%s:%d/ (%s), resync every %g s%s",
            config.app.sdkappid,
            where,
            options.host,
            options.port,
            "signed" if token else "UNAUTHENTICATED, loopback only",
            options.resync_s,
            ", dry run" if options.dry_run else "",
        )
        tasks = [
            asyncio.create_task(server.serve(sockets=[sock])),
            asyncio.create_task(controller.run()),
            asyncio.create_task(reloader()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:  # a task that ended by itself (not by a signal) is an error
                if task.exception() is not None:
                    raise task.exception()
            shutdown()
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            sock.close()
    log.info("stopped")


def run(load: Callable[[], Config], paths: list[Path], options: WatchOptions) -> None:
    asyncio.run(serve(load, paths, options))
