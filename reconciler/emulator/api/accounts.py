"""Accounts (im_open_login_svc): importing accounts and checking them."""

from __future__ import annotations

import sqlite3
from typing import Any

from ...tim.limits import LOGIN_SVC
from .. import errors as E
from .. import rules as R
from ..errors import ApiError
from .common import (
    Ctx,
    Handler,
    missing_accounts,
)

SERVICE = LOGIN_SVC


def _account_bad(info: str) -> ApiError:
    return ApiError(E.ACCOUNT_BAD_PARAM, info)


def account_import(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    # ``Identifier`` is the field's older name, still sent by DB and PY; UserID wins.
    user_id = body.get("UserID", body.get("Identifier"))
    if not R.valid_user_id(user_id):
        raise _account_bad(f"UserID must be 1-{R.USER_ID_BYTES} bytes of printable ASCII")
    nick, face = body.get("Nick"), body.get("FaceUrl")
    if not isinstance(nick, str | None) or not isinstance(face, str | None):
        raise _account_bad("Nick and FaceUrl must be strings")
    c.execute(
        "INSERT INTO accounts(user_id, nick, face_url, create_time) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(user_id) DO UPDATE SET nick = coalesce(?, nick),"
        " face_url = coalesce(?, face_url)",
        (user_id, nick or "", face or "", ctx.now, nick, face),
    )
    return {}


def multiaccount_import(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    # Two forms: ``Accounts: [UserID]`` (the page), and the newer ``AccountList: [{UserID,
    # Nick, FaceUrl}]`` (DO, 2024-12), which also updates existing accounts' Nick and FaceUrl.
    # Both may come in one call; together they are at most 100 accounts.
    accounts = body.get("Accounts")
    listed = body.get("AccountList")
    if accounts is None and listed is None:
        raise _account_bad("Accounts (user IDs) or AccountList ({UserID, Nick, ...}) is required")
    if accounts is not None and (not isinstance(accounts, list) or not accounts):
        raise _account_bad("Accounts must be a non-empty array of user IDs")
    if listed is not None and (not isinstance(listed, list) or not listed):
        raise _account_bad("AccountList must be a non-empty array of {UserID, Nick, FaceUrl}")
    rows: list[tuple[Any, str | None, str | None]] = [(a, None, None) for a in accounts or ()]
    for item in listed or ():
        if not isinstance(item, dict):
            raise _account_bad("AccountList items must be objects with a UserID")
        nick, face = item.get("Nick"), item.get("FaceUrl")
        if not isinstance(nick, str | None) or not isinstance(face, str | None):
            raise _account_bad("Nick and FaceUrl must be strings")
        rows.append((item.get("UserID"), nick, face))
    if len(rows) > R.ACCOUNT_BATCH:
        raise _account_bad(f"the call holds {len(rows)} accounts; at most {R.ACCOUNT_BATCH}")
    good = [r for r in rows if R.valid_user_id(r[0])]
    failed = [r[0] for r in rows if not R.valid_user_id(r[0])]
    c.executemany(
        "INSERT INTO accounts(user_id, nick, face_url, create_time) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(user_id) DO UPDATE SET nick = coalesce(?, nick),"
        " face_url = coalesce(?, face_url)",
        [(uid, nick or "", face or "", ctx.now, nick, face) for uid, nick, face in good],
    )
    return {"FailAccounts": failed}


def account_check(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    items = body.get("CheckItem")
    if not isinstance(items, list) or not items:
        raise _account_bad("CheckItem must be a non-empty array of {UserID}")
    if len(items) > R.ACCOUNT_BATCH:
        raise _account_bad(f"CheckItem holds {len(items)} items; at most {R.ACCOUNT_BATCH}")
    ids = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("UserID"), str):
            raise _account_bad("CheckItem items must be objects with a string UserID")
        ids.append(item["UserID"])
    missing = set(missing_accounts(c, ids))
    return {
        "ResultItem": [
            {
                "UserID": uid,
                "ResultCode": 0,
                "ResultInfo": "",
                "AccountStatus": "NotImported" if uid in missing else "Imported",
            }
            for uid in ids
        ]
    }


# command -> (handler, writes?)
HANDLERS: dict[str, tuple[Handler, bool]] = {
    "account_check": (account_check, False),
    "multiaccount_import": (multiaccount_import, True),
    "account_import": (account_import, True),
}
