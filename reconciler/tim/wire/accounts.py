"""Accounts (service im_open_login_svc): which accounts are imported, and importing them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from reconciler.tim.errors import TimApiError, TimTransportError
from reconciler.tim.limits import LOGIN_SVC
from reconciler.tim.wire.common import Outcome, Request, listed

if TYPE_CHECKING:
    from reconciler.tim.client import TimClient

SERVICE = LOGIN_SVC
COMMANDS = ("account_check", "multiaccount_import")


async def account_check(client: TimClient, accounts: list[str]) -> dict[str, bool]:
    """Up to 100 accounts -> True if imported. A per-account error raises TimApiError."""
    client.check_batch("account_check", accounts)
    if not accounts:
        return {}
    api = f"{SERVICE}/account_check"
    body = {"CheckItem": [{"UserID": a} for a in accounts]}
    answer = await client.call(SERVICE, "account_check", body)
    result: dict[str, bool] = {}
    for item in listed(answer, api, "ResultItem"):
        account = str(item.get("UserID"))
        code = int(item.get("ResultCode") or 0)
        if code:
            info = client.scrub(str(item.get("ResultInfo") or ""))
            raise TimApiError(api, code, f"account {account!r}: {info}")
        result[account] = item.get("AccountStatus") == "Imported"
    missing = [a for a in accounts if a not in result]
    if missing:
        raise TimTransportError(api, f"answer lacks {len(missing)} account(s), e.g. {missing[0]!r}")
    return {a: result[a] for a in accounts}


async def multiaccount_import(client: TimClient, accounts: list[str]) -> list[str]:
    """Import up to 100 accounts; return the ones that failed (FailAccounts)."""
    client.check_batch("multiaccount_import", accounts)
    if not accounts:
        return []
    answer = await client.call(SERVICE, "multiaccount_import", {"Accounts": list(accounts)})
    return [str(a) for a in answer.get("FailAccounts") or []]


@dataclass
class ImportAccounts(Request):
    api: ClassVar[str] = "multiaccount_import"
    accounts: list[str]
    group_id: str = ""  # app-wide

    async def send(self, client: TimClient) -> Outcome:
        return Outcome(refused=await multiaccount_import(client, self.accounts))
