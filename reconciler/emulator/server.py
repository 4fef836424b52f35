"""Run the emulator as a real HTTP server (``reconciler emulator serve``)."""

from __future__ import annotations

from pathlib import Path

from .app import create_app


def serve(
    host: str,
    port: int,
    db: str | Path,
    sdkappid: int,
    admin: str,
    secret_key: str,
    latency_ms: float = 0,
    rate_limit: float | None = None,
    fault_rate: float = 0.0,
    seed: int | None = None,
    profile: str = "default",
    callback_url: str | None = None,
    callback_token: str | None = None,
) -> None:
    """Serve the emulator with uvicorn on ``host:port`` until interrupted.

    Any Tencent Chat REST client can use ``http://host:port`` as its domain; the state lives in
    the SQLite file ``db`` and survives restarts. ``secret_key`` verifies UserSigs. ``profile``:
    ``"default"`` or ``"latest"`` (``reconciler.emulator.profiles``). ``callback_url``: where
    to send the documented callbacks (signed with ``callback_token`` when given).
    """
    import uvicorn

    app = create_app(
        db,
        sdkappid=sdkappid,
        secret_key=secret_key,
        admin=admin,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        fault_rate=fault_rate,
        seed=seed,
        profile=profile,
        callback_url=callback_url,
        callback_token=callback_token,
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
