"""The emulator's profiles: ``default`` follows the seed pages, ``latest`` the strictest
documented reading (shared/reference/tencent-chat-rest-api.md §16.1). Each test names the page
whose rule it checks."""

from __future__ import annotations

import time

import httpx
import pytest

from reconciler.emulator import create_app
from reconciler.emulator.profiles import PROFILES
from reconciler.emulator.testing import RestCaller, serve_in_thread

SDKAPPID = 1400000001
KEY = "emulator-test-key"
G = "group_open_http_svc/"
ACCOUNTS = [f"u{i:04d}" for i in range(700)]


@pytest.fixture
async def make(tmp_path):
    """``await make(profile)`` -> (app, call); ``call(api, body, expect=0)`` checks the code."""
    clients: list[httpx.AsyncClient] = []

    async def make_app(profile: str):
        app = create_app(
            tmp_path / f"{profile}.db", sdkappid=SDKAPPID, secret_key=KEY, profile=profile
        )
        app.state.store.seed(accounts=ACCOUNTS)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e")
        clients.append(http)
        caller = RestCaller(http, SDKAPPID, KEY)

        async def call(api: str, body: dict, expect: int = 0) -> dict:
            answer = await caller(api, body)
            assert answer["ErrorCode"] == expect, answer
            return answer

        return app, call

    yield make_app
    for http in clients:
        await http.aclose()


def members(n: int, start: int = 0) -> list[dict]:
    return [{"Member_Account": a} for a in ACCOUNTS[start : start + n]]


def test_profile_names():
    assert set(PROFILES) == {"default", "latest"}
    with pytest.raises(ValueError, match="unknown emulator profile 'newest'"):
        create_app(":memory:", sdkappid=SDKAPPID, secret_key=KEY, profile="newest")


@pytest.mark.parametrize("api", ["add_group_member", "import_group_member"])
async def test_latest_takes_20_accounts_per_call(make, api):
    # CN-1621 (add_group_member, 2026-02-06) and CN-1636 (import_group_member, 2026-01-27):
    # at most 20 accounts per call; seed 002's "too many accounts" code, 10005, beyond.
    app, call = await make("latest")
    app.state.store.seed(groups=[{"GroupId": "g", "Type": "Public"}])
    await call(G + api, {"GroupId": "g", "MemberList": members(21)}, expect=10005)
    answer = await call(G + api, {"GroupId": "g", "MemberList": members(20)})
    assert [m["Result"] for m in answer["MemberList"]] == [1] * 20


@pytest.mark.parametrize("api", ["add_group_member", "import_group_member"])
async def test_default_takes_300_accounts_per_call(make, api):
    # Seed 002: "Up to 300 members can be added at a time" (and the EN add_group_member page).
    app, call = await make("default")
    app.state.store.seed(groups=[{"GroupId": "g", "Type": "Public"}])
    await call(G + api, {"GroupId": "g", "MemberList": members(301)}, expect=10005)
    answer = await call(G + api, {"GroupId": "g", "MemberList": members(300)})
    assert len(answer["MemberList"]) == 300


def _wide_groups(n_groups: int, n_members: int) -> list[dict]:
    """Groups whose get_group_info answer is about 0.2 MB each (long name cards, custom data)."""
    return [
        {
            "GroupId": f"wide{g}",
            "Type": "Public",
            "MemberList": [
                {
                    "Member_Account": a,
                    "NameCard": "n" * 50,
                    "AppMemberDefinedData": [{"Key": "k", "Value": "v" * 200}],
                }
                for a in ACCOUNTS[:n_members]
            ],
        }
        for g in range(n_groups)
    ]


async def test_latest_refuses_get_group_info_over_1mb(make):
    # The Web SDK's error table: 10018 = answer over 1 MB; CN-1616 (2025-12-15) applies it to
    # get_group_info, and the client then asks for fewer groups.
    ids = [f"wide{g}" for g in range(8)]
    app, call = await make("latest")
    app.state.store.seed(groups=_wide_groups(8, 400))
    await call(G + "get_group_info", {"GroupIdList": ids}, expect=10018)
    fewer = await call(G + "get_group_info", {"GroupIdList": ids[:2]})
    assert [len(g["MemberList"]) for g in fewer["GroupInfo"]] == [400, 400]
    # The seed-era reading documents 10018 for the paged APIs only.
    app, call = await make("default")
    app.state.store.seed(groups=_wide_groups(8, 400))
    whole = await call(G + "get_group_info", {"GroupIdList": ids})
    assert len(whole["GroupInfo"]) == 8


async def test_latest_join_time_rules_on_import(make):
    # CN-1636: JoinTime must lie after the group's CreateTime and not in the future; a member
    # that breaks the rule gets Result 0 and the others are imported.
    now = int(time.time())
    created = now - 1000
    for profile, expected in (("latest", [0, 0, 0, 1, 1]), ("default", [1, 1, 1, 1, 1])):
        app, call = await make(profile)
        app.state.store.seed(groups=[{"GroupId": "g", "Type": "Public", "CreateTime": created}])
        body = {
            "GroupId": "g",
            "MemberList": [
                {"Member_Account": "u0000", "JoinTime": created - 1},  # before the group
                {"Member_Account": "u0001", "JoinTime": created},  # not after it
                {"Member_Account": "u0002", "JoinTime": now + 3600},  # in the future
                {"Member_Account": "u0003", "JoinTime": created + 1},
                {"Member_Account": "u0004"},  # omitted: now
            ],
        }
        answer = await call(G + "import_group_member", body)
        assert [m["Result"] for m in answer["MemberList"]] == expected, profile
        listed = await call(G + "get_group_member_info", {"GroupId": "g"})
        kept = {m["Member_Account"]: m["JoinTime"] for m in listed["MemberList"]}
        assert len(kept) == sum(expected)
        assert kept["u0003"] == created + 1
        if profile == "default":  # stored as sent
            assert kept["u0000"] == created - 1


async def test_latest_omits_invite_join_option_from_get_group_info(make):
    # InviteJoinOption in get_group_info answers is read only by DO; the EN sample, RS, TC and
    # DB do not show it (reference §3, §16.1). It is still accepted on create and modify.
    for profile, shown in (("latest", False), ("default", True)):
        app, call = await make(profile)
        body = {"Type": "Public", "Name": "p", "InviteJoinOption": "DisableInvite"}
        gid = (await call(G + "create_group", body))["GroupId"]
        whole = (await call(G + "get_group_info", {"GroupIdList": [gid]}))["GroupInfo"][0]
        asked = {"GroupIdList": [gid], "ResponseFilter": {"GroupBaseInfoFilter": ["Name"]}}
        asked["ResponseFilter"]["GroupBaseInfoFilter"].append("InviteJoinOption")
        filtered = (await call(G + "get_group_info", asked))["GroupInfo"][0]
        assert ("InviteJoinOption" in whole) is shown and ("InviteJoinOption" in filtered) is shown
        if shown:
            assert whole["InviteJoinOption"] == filtered["InviteJoinOption"] == "DisableInvite"


async def test_latest_omits_big_member_lists_and_pages_by_200(make):
    # CN-1616: big groups' member lists are not returned whole (the latest profile omits them
    # above 500 members), so a client compares MemberNum and pages with get_group_member_info,
    # whose Limit is at most 200 on CN-1617 (2025-11-03).
    big = PROFILES["latest"].info_member_list_max + 1
    app, call = await make("latest")
    app.state.store.seed(
        groups=[
            {"GroupId": "big", "Type": "Public", "MemberList": members(big)},
            {"GroupId": "small", "Type": "Public", "MemberList": members(big - 1)},
        ]
    )
    info = await call(G + "get_group_info", {"GroupIdList": ["big", "small"]})
    by_id = {g["GroupId"]: g for g in info["GroupInfo"]}
    assert "MemberList" not in by_id["big"] and by_id["big"]["MemberNum"] == big
    assert len(by_id["small"]["MemberList"]) == by_id["small"]["MemberNum"] == big - 1
    await call(G + "get_group_member_info", {"GroupId": "big", "Limit": 201}, expect=10004)
    seen: list[str] = []
    while True:
        page = await call(
            G + "get_group_member_info", {"GroupId": "big", "Limit": 200, "Offset": len(seen)}
        )
        seen += [m["Member_Account"] for m in page["MemberList"]]
        if len(page["MemberList"]) < 200:
            break
    assert seen == ACCOUNTS[:big]
    # default: the first 6,000 members are listed, so a 501-member group comes whole.
    app, call = await make("default")
    app.state.store.seed(groups=[{"GroupId": "big", "Type": "Public", "MemberList": members(big)}])
    info = await call(G + "get_group_info", {"GroupIdList": ["big"]})
    assert len(info["GroupInfo"][0]["MemberList"]) == big


def test_latest_profile_over_real_http(tmp_path):
    """``create_app(..., profile="latest")`` behind uvicorn (what ``serve(..., profile=)`` runs)."""
    app = create_app(tmp_path / "h.db", sdkappid=SDKAPPID, secret_key=KEY, profile="latest")
    app.state.store.seed(groups=[{"GroupId": "g", "Type": "Public"}], accounts=ACCOUNTS)
    with serve_in_thread(app) as base:
        params = RestCaller(None, SDKAPPID, KEY).params()  # type: ignore[arg-type]
        body = {"GroupId": "g", "MemberList": members(21)}
        answer = httpx.post(f"{base}/v4/{G}add_group_member", params=params, json=body).json()
        assert answer["ErrorCode"] == 10005
