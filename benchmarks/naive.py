"""The naive baseline: a hand-written sync that reads and writes one member at a time.

    python -m benchmarks.naive CONFIG --endpoint http://127.0.0.1:PORT [--timeout S]

What a typical script does, sequentially, one HTTP request at a time: for each declared group,
get_group_info of that one group; create it if missing (no initial members; on "account not
found" it imports the owner and creates again) or destroy it if it
is declared absent; modify_group_base_info when its name, introduction or custom Level differ;
read its members with get_group_member_info (200 a page); add_group_member with one account per
call (on "account not found", multiaccount_import that one account and add again); a
modify_group_member_info per member whose declared attributes differ (and per new member with
attributes); delete_group_member with one account per call; for AVChatRoom marks, get_members
for the online list and each declared mark, and modify_user_info with one account per call.
On a frequency-limit answer it sleeps a second and tries again.

It reads the same config as the reconciler (through ``reconciler.config.load_config``, so the
desired state is the same). The secret key comes from TIM_SECRET_KEY. When ``--timeout`` runs
out it stops after the current call. The last line printed is one JSON object: calls, elapsed
seconds, groups done, whether it was cut off.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

import httpx

from reconciler.config import load_config
from reconciler.state import MUTE_TOLERANCE_S, GroupType
from reconciler.tim.usersig import generate

GROUP = "group_open_http_svc"
AV = "group_open_avchatroom_http_svc"
LOGIN = "im_open_login_svc"
RATE_LIMITED = {10006, 60007, 60011, 60018, 60019}
ACCOUNT_MISSING = 10019


class OutOfTime(Exception):
    pass


class Naive:
    def __init__(self, endpoint: str, sdkappid: int, admin: str, key: str, deadline: float):
        self.http = httpx.Client(base_url=endpoint, timeout=30)
        self.params = {
            "sdkappid": str(sdkappid),
            "identifier": admin,
            "usersig": generate(sdkappid, key, admin),
            "contenttype": "json",
        }
        self.deadline = deadline
        self.calls = 0
        self.retries = 0

    def call(self, service: str, command: str, body: dict) -> dict:
        while True:
            if time.monotonic() > self.deadline:
                raise OutOfTime
            params = {**self.params, "random": str(random.getrandbits(32))}
            self.calls += 1
            answer = self.http.post(f"/v4/{service}/{command}", params=params, json=body).json()
            if answer.get("ErrorCode") in RATE_LIMITED:
                self.retries += 1
                time.sleep(1)
                continue
            return answer

    def ok(self, service: str, command: str, body: dict) -> dict:
        answer = self.call(service, command, body)
        if answer.get("ErrorCode"):
            raise RuntimeError(f"{command} {body.get('GroupId', '')}: {answer}")
        return answer

    def add(self, gid: str, account: str) -> None:
        body = {"GroupId": gid, "Silence": 1, "MemberList": [{"Member_Account": account}]}
        answer = self.call(GROUP, "add_group_member", body)
        if answer.get("ErrorCode") == ACCOUNT_MISSING:
            self.ok(LOGIN, "multiaccount_import", {"Accounts": [account]})
            answer = self.call(GROUP, "add_group_member", body)
        if answer.get("ErrorCode"):
            raise RuntimeError(f"add_group_member {gid}/{account}: {answer}")

    def members(self, gid: str, community: bool) -> dict[str, dict]:
        out: dict[str, dict] = {}
        offset, cursor = 0, ""
        while True:
            body: dict = {"GroupId": gid, "Limit": 200}
            if community:
                body["Next"] = cursor
            else:
                body["Offset"] = offset
            page = self.ok(GROUP, "get_group_member_info", body)
            for m in page.get("MemberList", []):
                out[m["Member_Account"]] = m
            offset += len(page.get("MemberList", []))
            cursor = page.get("Next", "")
            if community and not cursor:
                return out
            if not community and (offset >= page.get("MemberNum", 0) or not page["MemberList"]):
                return out

    def online(self, gid: str, mark: int | None = None) -> set[str]:
        out: set[str] = set()
        timestamp = 0
        while True:
            body: dict = {"GroupId": gid, "Timestamp": timestamp}
            if mark is not None:
                body["Mark"] = mark
            page = self.ok(AV, "get_members", body)
            out.update(m["Member_Account"] for m in page.get("MemberList", []))
            timestamp = page.get("NextTimestamp", 0)
            if not timestamp:
                return out


def _member_fields(want, have: dict | None, now: int) -> dict:
    """modify_group_member_info fields for the declared attributes that differ."""
    have = have or {}
    body: dict = {}
    if want.role in ("Admin", "Member") and want.role != have.get("Role", "Member"):
        body["Role"] = want.role
    if want.name_card is not None and want.name_card != have.get("NameCard", ""):
        body["NameCard"] = want.name_card
    if want.msg_flag is not None and want.msg_flag != have.get("MsgFlag", "AcceptAndNotify"):
        body["MsgFlag"] = want.msg_flag
    if want.muted_until is not None:
        live = have.get("MuteUntil", 0)
        live = live if live > now else 0
        target = want.muted_until if want.muted_until > now else 0
        if abs(live - target) > MUTE_TOLERANCE_S:
            body["MuteTime"] = max(0, target - now)
    live_custom = {kv["Key"]: kv["Value"] for kv in have.get("AppMemberDefinedData", [])}
    changed = {k: v for k, v in want.custom.items() if live_custom.get(k) != v}
    if changed:
        body["AppMemberDefinedData"] = [
            {"Key": k, "Value": "" if v is None else v} for k, v in changed.items()
        ]
    return body


def sync(n: Naive, groups, admin: str) -> int:
    done = 0
    for g in groups:
        gid = g.id
        info = n.ok(GROUP, "get_group_info", {"GroupIdList": [gid]})["GroupInfo"][0]
        exists = info.get("ErrorCode", 0) == 0
        now = int(time.time())
        if g.state == "absent":
            if exists:
                n.ok(GROUP, "destroy_group", {"GroupId": gid})
            done += 1
            continue
        custom = {k: v for k, v in g.custom.items() if v is not None}
        if not exists:
            body = {"Type": g.type.value, "GroupId": gid, "Name": g.name or gid}
            if g.owner:
                body["Owner_Account"] = g.owner
            if g.introduction is not None:
                body["Introduction"] = g.introduction
            if custom:
                body["AppDefinedData"] = [{"Key": k, "Value": v} for k, v in custom.items()]
            answer = n.call(GROUP, "create_group", body)
            if answer.get("ErrorCode") == ACCOUNT_MISSING and g.owner:
                n.ok(LOGIN, "multiaccount_import", {"Accounts": [g.owner]})
                answer = n.call(GROUP, "create_group", body)
            if answer.get("ErrorCode"):
                raise RuntimeError(f"create_group {gid}: {answer}")
            live: dict[str, dict] = {g.owner: {"Role": "Owner"}} if g.owner else {}
        else:
            live_custom = {kv["Key"]: kv["Value"] for kv in info.get("AppDefinedData", [])}
            body = {}
            if g.name is not None and g.name != info.get("Name"):
                body["Name"] = g.name
            if g.introduction is not None and g.introduction != info.get("Introduction"):
                body["Introduction"] = g.introduction
            changed = {k: v for k, v in custom.items() if live_custom.get(k) != v}
            if changed:
                body["AppDefinedData"] = [{"Key": k, "Value": v} for k, v in changed.items()]
            if body:
                n.ok(GROUP, "modify_group_base_info", {"GroupId": gid, **body})
            live = {}
            if g.members is not None:
                live = n.members(gid, g.type is GroupType.Community)
        if g.members is not None:
            for account, want in g.members.items():
                have = live.get(account)
                if have is None:
                    n.add(gid, account)
                fields = _member_fields(want, have, now)
                if fields:
                    body = {"GroupId": gid, "Member_Account": account, **fields}
                    n.ok(GROUP, "modify_group_member_info", body)
            if g.members_mode == "authoritative":
                for account, have in live.items():
                    if account in g.members or have.get("Role") == "Owner" or account == admin:
                        continue
                    body = {"GroupId": gid, "Silence": 1, "MemberToDel_Account": [account]}
                    n.ok(GROUP, "delete_group_member", body)
        if g.marks is not None and exists:
            online = n.online(gid)
            for mark, accounts in g.marks.items():
                marked = n.online(gid, mark)
                for account in sorted(set(accounts) - marked):
                    if account in online:
                        entry = [{"Member_Account": account, "Marks": [mark]}]
                        body = {"GroupId": gid, "CommandType": 1, "MemberList": entry}
                        n.ok(AV, "modify_user_info", body)
                for account in sorted(marked - set(accounts)):
                    entry = [{"Member_Account": account, "Marks": [mark]}]
                    body = {"GroupId": gid, "CommandType": 2, "MemberList": entry}
                    n.ok(AV, "modify_user_info", body)
        done += 1
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.naive", description=__doc__)
    parser.add_argument("config")
    parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:8787")
    parser.add_argument("--timeout", type=float, default=600, help="stop after this many s")
    args = parser.parse_args(argv)
    key = os.environ.get("TIM_SECRET_KEY")
    if not key:
        raise SystemExit("set TIM_SECRET_KEY")
    config = load_config(args.config)
    started = time.monotonic()
    n = Naive(args.endpoint, config.app.sdkappid, config.app.admin, key, started + args.timeout)
    done, cut = 0, False
    try:
        done = sync(n, config.groups, config.app.admin)
    except OutOfTime:
        cut = True
    elapsed = time.monotonic() - started
    print(
        f"naive sync: {n.calls} calls in {elapsed:.1f} s"
        + (f" (cut off by --timeout {args.timeout:g} s)" if cut else ""),
        file=sys.stderr,
    )
    result = {
        "calls": n.calls,
        "retries": n.retries,
        "elapsed_s": round(elapsed, 3),
        "groups": len(config.groups),
        "cut": cut,
    }
    if not cut:
        result["groups_done"] = done
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
