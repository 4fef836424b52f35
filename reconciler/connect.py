"""Build the one REST client from a config's `app` section: a real region, a URL, or `local`."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.errors import CredentialsError, EndpointError
from reconciler.tim.client import DEFAULT_MAX_IN_FLIGHT, TimClient
from reconciler.tim.endpoints import resolve_endpoint

# The embedded emulator needs some key to sign and verify with; nothing real is behind it.
LOCAL_SECRET_KEY = "local-emulator-key"
LOCAL_BASE_URL = "http://emulator.local"


def local_db_path(app, base_dir: Path) -> Path:
    path = Path(app.local_db)
    return path if path.is_absolute() else base_dir / path


def describe_endpoint(app, base_dir: Path) -> str:
    if app.endpoint == "local":
        db = local_db_path(app, base_dir)
        if db.is_absolute() and db.is_relative_to(Path.cwd()):  # a saved plan's: as plan said
            db = db.relative_to(Path.cwd())
        return f"embedded emulator ({db})"
    return resolve_endpoint(app.endpoint)


def embedded_emulator(app, base_dir: Path, **options):
    """The embedded emulator (``endpoint: local``) over the config's ``local_db``; ``options``
    go to ``create_app`` (watch: ``callback_url``, ``callback_token``, ``callback_transport``)."""
    from reconciler.emulator.app import create_app
    from reconciler.emulator.store import StoreRefused

    db = local_db_path(app, base_dir)
    if db.parent.resolve().is_relative_to(base_dir.resolve()):  # never make dirs elsewhere
        db.parent.mkdir(parents=True, exist_ok=True)
    secret = secret_key(app)
    try:
        return create_app(
            db,
            sdkappid=app.sdkappid,
            secret_key=secret,
            admin=app.admin,
            profile=app.emulator_profile,
            **options,
        )
    except StoreRefused as err:
        raise EndpointError(str(err)) from None


def secret_key(app) -> str:
    """The app's secret key: from the environment variable ``app.secret_key_env``, or for the
    embedded emulator a fixed key when that variable is not set. CredentialsError otherwise."""
    secret = os.environ.get(app.secret_key_env)
    if secret:
        return secret
    if app.endpoint == "local":
        return LOCAL_SECRET_KEY
    raise CredentialsError(
        f"the secret key is read from the environment variable {app.secret_key_env} "
        f"(app.secret_key_env), which is not set: export {app.secret_key_env}=<key from "
        "the Chat console> and run again"
    )


def make_client(
    app,
    base_dir: Path,
    *,
    max_in_flight: int | None = None,
    emulator=None,
    hedge_reads: bool = False,
) -> TimClient:
    """``app`` is a config.AppConfig (or anything with the same attributes); ``emulator``, for
    ``endpoint: local``, an embedded emulator to share (``embedded_emulator``); ``hedge_reads``:
    ``TimClient``'s."""
    base_url = resolve_endpoint(app.endpoint)
    secret = secret_key(app)
    transport = None
    if base_url == "local":
        import httpx  # its ASGI transport; a real endpoint's calls go through aiohttp

        asgi = emulator if emulator is not None else embedded_emulator(app, base_dir)
        transport = httpx.ASGITransport(app=asgi)
        base_url = LOCAL_BASE_URL
    return TimClient(
        sdkappid=app.sdkappid,
        admin=app.admin,
        secret_key=secret,
        base_url=base_url,
        transport=transport,
        limits=app.limits_table(),
        max_in_flight=max_in_flight or DEFAULT_MAX_IN_FLIGHT,
        hedge_reads=hedge_reads,
    )
