"""AVChatRoom (service group_open_avchatroom_http_svc): online members, their marks, and the
room's admins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler.tim.errors import MALFORMED, TimApiError
from reconciler.tim.limits import AVCHATROOM_SVC, HIDDEN_MARK
from reconciler.tim.wire.common import Outcome, Request, accounts_in, listed, malformed

if TYPE_CHECKING:
    from reconciler.tim.client import TimClient

SERVICE = AVCHATROOM_SVC
COMMANDS = ("modify_user_info", "get_members", "modify_admin", "get_admin_list")


def admin_accounts(group_id: str, answer: dict) -> list[str]:
    """get_admin_list: Admin_List of {Admin_Account, Avatar, NickName} (CN-102858) -> sorted
    accounts."""
    api = "get_admin_list"
    items = listed(answer, f"{SERVICE}/{api}", "Admin_List")
    return sorted(accounts_in(group_id, api, items, "Admin_Account"))


async def get_admin_list(client: TimClient, group_id: str) -> list[str]:
    """The admins of an AVChatRoom, sorted."""
    answer = await client.call(SERVICE, "get_admin_list", {"GroupId": group_id})
    return admin_accounts(group_id, answer)


async def all_online_members(
    client: TimClient, group_id: str, mark: int | None = None
) -> list[dict[str, Any]]:
    """Every online member of an AVChatRoom (with ``mark``: those carrying it), paging by
    ``NextTimestamp`` (0 = done)."""
    members: dict[str, dict[str, Any]] = {}
    body: dict[str, Any] = {"GroupId": group_id, "Timestamp": 0}
    if mark is not None:
        body["Mark"] = mark
    pages = client.pages(SERVICE, "get_members", body, "Timestamp", answer_cursor="NextTimestamp")
    async for page in pages:
        for m in listed(page, f"{SERVICE}/get_members", "MemberList"):
            members[m["Member_Account"]] = m
    return list(members.values())


async def online_accounts(client: TimClient, group_id: str, mark: int | None = None) -> list[str]:
    """The accounts online in an AVChatRoom (with ``mark``: those carrying it), sorted."""
    try:
        return sorted(
            {m["Member_Account"] for m in await all_online_members(client, group_id, mark)}
        )
    except MALFORMED as err:
        raise malformed(group_id, "get_members", err) from None


async def modify_user_info(
    client: TimClient, group_id: str, command_type: int, members: list[dict[str, Any]]
) -> dict[str, Any]:
    """Set (1) or delete (2) marks on up to 500 online AVChatRoom members."""
    if command_type not in (1, 2):
        raise ValueError("modify_user_info: command_type must be 1 (set) or 2 (delete)")
    client.check_batch("modify_user_info", members)
    if not members:
        return {"CommandType": command_type, "MemberList": []}
    body = {"GroupId": group_id, "CommandType": command_type, "MemberList": list(members)}
    return await client.call(SERVICE, "modify_user_info", body)


async def modify_admin(
    client: TimClient, group_id: str, accounts: list[str], *, remove: bool
) -> None:
    """Make up to 5 accounts admins of an AVChatRoom (CommandType 1), or revoke them (2)."""
    client.check_batch("modify_admin", accounts)
    if not accounts:
        return
    body = {"GroupId": group_id, "CommandType": 2 if remove else 1, "Admin_Account": list(accounts)}
    await client.call(SERVICE, "modify_admin", body)


@dataclass
class ChangeMarks(Request):
    """Set (``delete`` false) or delete AVChatRoom marks of online members: account -> marks."""

    api: ClassVar[str] = "modify_user_info"
    group_id: str
    marks: dict[str, list[int]]
    delete: bool = False

    async def send(self, client: TimClient) -> Outcome:
        entries = [{"Member_Account": a, "Marks": m} for a, m in self.marks.items()]
        try:
            answer = await modify_user_info(client, self.group_id, 2 if self.delete else 1, entries)
        except TimApiError as err:
            # Seed 000: when every listed account is offline the whole call fails (the code is
            # not documented). Look: if none of them is online, they are all pending.
            if err.transient or await self._any_online(client):
                raise
            return Outcome(offline=list(self.marks))
        done = {m.get("Member_Account") for m in answer.get("MemberList") or []}
        return Outcome(offline=[a for a in self.marks if a not in done])

    async def _any_online(self, client: TimClient) -> bool:
        # Mark 600 hides a member from the plain online list unless asked for by that mark.
        online = set(await online_accounts(client, self.group_id))
        online.update(await online_accounts(client, self.group_id, HIDDEN_MARK))
        return not online.isdisjoint(self.marks)


@dataclass
class ChangeAdmins(Request):
    """Make ``accounts`` admins of an AVChatRoom (``remove`` false) or revoke them."""

    api: ClassVar[str] = "modify_admin"
    group_id: str
    accounts: list[str]
    remove: bool = False

    async def send(self, client: TimClient) -> Outcome:
        await modify_admin(client, self.group_id, self.accounts, remove=self.remove)
        return Outcome()
