"""One test per documented error code the emulator answers (in-process, ASGI transport)."""

from __future__ import annotations

import httpx
import pytest

from reconciler.emulator import create_app
from reconciler.emulator.testing import RestCaller
from reconciler.tim.usersig import generate

SDKAPPID = 1400000001
KEY = "emulator-test-key"
ADMIN = "administrator"
G = "group_open_http_svc/"
AV = "group_open_avchatroom_http_svc/"
LOGIN = "im_open_login_svc/"


@pytest.fixture
def app(tmp_path):
    app = create_app(tmp_path / "emu.db", sdkappid=SDKAPPID, secret_key=KEY)
    app.state.store.seed(
        groups=[
            {"GroupId": "pub", "Type": "Public", "Owner_Account": "leckie"},
            {"GroupId": "work", "Type": "Private", "Owner_Account": "leckie"},
            {"GroupId": "av", "Type": "AVChatRoom", "Owner_Account": "leckie"},
            {"GroupId": "@TGS#_comm", "Type": "Community", "Owner_Account": "leckie"},
            {"GroupId": "tiny", "Type": "Public", "MaxMemberNum": 2, "Owner_Account": "leckie"},
        ],
        accounts=["bob", "tommy", "jared"] + [f"u{i}" for i in range(600)],
    )
    return app


@pytest.fixture
async def http(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://console.tim.qq.com") as c:
        yield c


@pytest.fixture
def tim(http):
    return RestCaller(http, SDKAPPID, KEY)


def code(answer: dict) -> int:
    assert set(answer) >= {"ActionStatus", "ErrorCode", "ErrorInfo"}
    assert answer["ActionStatus"] == ("OK" if answer["ErrorCode"] == 0 else "FAIL")
    return answer["ErrorCode"]


def members(n: int, start: int = 0) -> list[dict]:
    return [{"Member_Account": f"u{i}"} for i in range(start, start + n)]


# -- request layer ---------------------------------------------------------------------------


async def test_60009_bad_path(tim, http):
    assert code(await tim("no_such_svc/get_group_info", {})) == 60009
    assert code(await tim("group_open_http_svc", {})) == 60009
    assert code((await http.post("/v5/group_open_http_svc/get_group_info")).json()) == 60009


async def test_10003_unknown_command(tim):
    assert code(await tim(G + "no_such_command", {})) == 10003


async def test_60002_method_random_contenttype(tim, http):
    assert code((await http.get("/v4/" + G + "get_group_info", params=tim.params())).json()) == (
        60002
    )
    assert code(await tim(G + "get_appid_group_list", {}, random="x")) == 60002
    assert code(await tim(G + "get_appid_group_list", {}, random=1 << 32)) == 60002
    assert code(await tim(G + "get_appid_group_list", {}, random=None)) == 60002
    assert code(await tim(G + "get_appid_group_list", {}, contenttype="xml")) == 60002
    assert code(await tim(G + "get_appid_group_list", {}, random=4294967295)) == 0


async def test_60012_60006_sdkappid(tim):
    assert code(await tim(G + "get_appid_group_list", {}, sdkappid=None)) == 60012
    assert code(await tim(G + "get_appid_group_list", {}, sdkappid=1400000002)) == 60006


async def test_60004_missing_identifier_or_usersig(tim):
    assert code(await tim(G + "get_appid_group_list", {}, usersig=None)) == 60004
    assert code(await tim(G + "get_appid_group_list", {}, identifier="")) == 60004


async def test_70001_expired_usersig(tim):
    old = generate(SDKAPPID, KEY, ADMIN, expire=60, now=1_600_000_000)
    assert code(await tim(G + "get_appid_group_list", {}, usersig=old)) == 70001


async def test_70003_unparseable_usersig(tim):
    assert code(await tim(G + "get_appid_group_list", {}, usersig="not-a-sig")) == 70003


async def test_70009_wrong_key(tim):
    forged = generate(SDKAPPID, "another-key", ADMIN)
    assert code(await tim(G + "get_appid_group_list", {}, usersig=forged)) == 70009


async def test_70013_usersig_of_another_identifier(tim):
    bob_sig = generate(SDKAPPID, KEY, "bob")
    assert code(await tim(G + "get_appid_group_list", {}, usersig=bob_sig)) == 70013


async def test_70014_usersig_of_another_app(tim):
    other = generate(1400000002, KEY, ADMIN)
    assert code(await tim(G + "get_appid_group_list", {}, usersig=other)) == 70014


async def test_60010_not_admin(http):
    bob = RestCaller(http, SDKAPPID, KEY, identifier="bob")
    assert code(await bob(G + "get_appid_group_list", {})) == 60010


async def test_60003_body_not_json(tim):
    assert code(await tim(G + "get_group_info", raw=b"{not json")) == 60003
    assert code(await tim(G + "get_group_info", raw=b"")) == 60003


async def test_10011_body_not_an_object(tim):
    assert code(await tim(G + "get_group_info", raw=b"[1, 2]")) == 10011
    assert code(await tim(LOGIN + "account_check", raw=b'"x"')) == 70402


# -- group service ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "limit"),
    [("Name", 30), ("Introduction", 240), ("Notification", 300), ("FaceUrl", 100)],
)
async def test_10004_byte_limits_on_group_fields(tim, field, limit):
    fits = "\u4e2d" * (limit // 3) + "a" * (limit % 3)  # 3 bytes per CJK character
    over = fits + "a"
    body = {"GroupId": "pub", field: fits}
    assert code(await tim(G + "modify_group_base_info", body)) == 0
    assert code(await tim(G + "modify_group_base_info", {**body, field: over})) == 10004
    create = {"Type": "Public", "Name": "n", field: over}
    assert code(await tim(G + "create_group", create)) == 10004


async def test_10004_name_card_limit(tim):
    await tim(G + "add_group_member", {"GroupId": "pub", "MemberList": [{"Member_Account": "bob"}]})
    body = {"GroupId": "pub", "Member_Account": "bob", "NameCard": "\u00e9" * 25}
    assert code(await tim(G + "modify_group_member_info", body)) == 0
    body["NameCard"] += "x"
    assert code(await tim(G + "modify_group_member_info", body)) == 10004


async def test_10004_type_rules(tim):
    assert (
        code(
            await tim(
                G + "modify_group_base_info",
                {"GroupId": "@TGS#_comm", "ApplyJoinOption": "FreeAccess"},
            )
        )
        == 10004
    )
    assert (
        code(
            await tim(
                G + "modify_group_base_info", {"GroupId": "av", "InviteJoinOption": "FreeAccess"}
            )
        )
        == 10004
    )
    assert (
        code(
            await tim(G + "delete_group_member", {"GroupId": "av", "MemberToDel_Account": ["bob"]})
        )
        == 10004
    )
    assert code(await tim(G + "create_group", {"Type": "BChatRoom", "Name": "x"})) == 10004
    assert (
        code(await tim(G + "modify_group_base_info", {"GroupId": "pub", "MaxMemberNum": 6001}))
        == 10004
    )


@pytest.mark.parametrize(
    ("api", "body"),
    [
        (G + "add_group_member", {"GroupId": "pub", "MemberList": members(301)}),
        (G + "import_group_member", {"GroupId": "pub", "MemberList": members(301)}),
        (
            G + "delete_group_member",
            {"GroupId": "pub", "MemberToDel_Account": [f"u{i}" for i in range(101)]},
        ),
        (
            AV + "modify_user_info",
            {
                "GroupId": "av",
                "CommandType": 1,
                "MemberList": [{"Member_Account": f"u{i}", "Marks": [1000]} for i in range(501)],
            },
        ),
        (G + "create_group", {"Type": "Public", "Name": "big", "MemberList": members(101)}),
    ],
)
async def test_10005_too_many_accounts(tim, api, body):
    assert code(await tim(api, body)) == 10005
    at_limit = dict(body)
    for field in ("MemberList", "MemberToDel_Account"):
        if field in at_limit:
            at_limit[field] = at_limit[field][:-1]
    assert code(await tim(api, at_limit)) != 10005


async def test_batch_limits_of_other_calls(tim):
    ids = [f"g{i}" for i in range(51)]
    assert code(await tim(G + "get_group_info", {"GroupIdList": ids})) == 10004
    assert code(await tim(G + "get_group_info", {"GroupIdList": ids[:50]})) == 0
    accounts = [f"x{i}" for i in range(101)]
    assert code(await tim(LOGIN + "multiaccount_import", {"Accounts": accounts})) == 70402
    items = [{"UserID": a} for a in accounts]
    assert code(await tim(LOGIN + "account_check", {"CheckItem": items})) == 70402
    assert code(await tim(LOGIN + "account_check", {"CheckItem": items[:100]})) == 0


@pytest.mark.parametrize(
    ("api", "body"),
    [
        (G + "add_group_member", {"GroupId": "av", "MemberList": [{"Member_Account": "bob"}]}),
        (G + "import_group_member", {"GroupId": "av", "MemberList": [{"Member_Account": "bob"}]}),
        (G + "get_group_member_info", {"GroupId": "av"}),
        (
            G + "modify_group_member_info",
            {"GroupId": "av", "Member_Account": "bob", "NameCard": "x"},
        ),
        (G + "change_group_owner", {"GroupId": "av", "NewOwner_Account": "bob"}),
        (
            AV + "modify_user_info",
            {
                "GroupId": "pub",
                "CommandType": 1,
                "MemberList": [{"Member_Account": "leckie", "Marks": [1000]}],
            },
        ),
        (AV + "get_members", {"GroupId": "work", "Timestamp": 0}),
        (G + "delete_group_member", {"GroupId": "pub", "MemberToDel_Account": ["leckie"]}),
    ],
)
async def test_10007_not_allowed(tim, api, body):
    assert code(await tim(api, body)) == 10007


async def test_10009_owner_cannot_leave(http):
    answer = await http.post("/emulator/leave", json={"GroupId": "pub", "Account": "leckie"})
    assert code(answer.json()) == 10009


async def test_10010_destroyed_group(tim):
    assert code(await tim(G + "destroy_group", {"GroupId": "pub"})) == 0
    assert code(await tim(G + "destroy_group", {"GroupId": "pub"})) == 10010
    assert code(await tim(G + "modify_group_base_info", {"GroupId": "pub", "Name": "x"})) == 10010
    assert code(await tim(G + "get_group_member_info", {"GroupId": "pub"})) == 10010
    info = await tim(G + "get_group_info", {"GroupIdList": ["pub", "work"]})
    assert code(info) == 0
    assert [g["ErrorCode"] for g in info["GroupInfo"]] == [10010, 0]


async def test_10014_group_full(tim):
    add = {
        "GroupId": "tiny",
        "MemberList": [{"Member_Account": "bob"}, {"Member_Account": "tommy"}],
    }
    assert code(await tim(G + "add_group_member", add)) == 10014
    assert code(await tim(G + "import_group_member", add)) == 10014
    add["MemberList"] = add["MemberList"][:1]
    assert code(await tim(G + "add_group_member", add)) == 0
    full = {"GroupId": "tiny", "MemberList": [{"Member_Account": "jared"}]}
    assert code(await tim(G + "add_group_member", full)) == 10014


async def test_10015_invalid_group_id(tim):
    assert code(await tim(G + "destroy_group", {"GroupId": "x" * 49})) == 10015
    assert code(await tim(G + "get_group_member_info", {"GroupId": "bad\u00e9id"})) == 10015
    info = await tim(G + "get_group_info", {"GroupIdList": ["", "x" * 49]})
    assert [g["ErrorCode"] for g in info["GroupInfo"]] == [10015, 10015]
    for gid, gtype in [("@TGS#mine", "Public"), ("x" * 49, "Public"), ("my-comm", "Community")]:
        body = {"GroupId": gid, "Type": gtype, "Name": "n"}
        assert code(await tim(G + "create_group", body)) == 10015


async def test_10018_response_over_1mb(app, tim):
    card = "n" * 50
    app.state.store.seed(
        groups=[
            {
                "GroupId": "huge",
                "Type": "Public",
                "MemberList": [
                    {
                        "Member_Account": f"member-{i:05d}",
                        "NameCard": card,
                        "AppMemberDefinedData": [{"Key": "k", "Value": "v" * 60}],
                    }
                    for i in range(5000)
                ],
            }
        ]
    )
    assert code(await tim(G + "get_group_member_info", {"GroupId": "huge"})) == 10018
    page = await tim(G + "get_group_member_info", {"GroupId": "huge", "Limit": 200})
    assert code(page) == 0 and len(page["MemberList"]) == 200


async def test_10019_account_not_imported(tim):
    add = {"GroupId": "pub", "MemberList": [{"Member_Account": "bob"}, {"Member_Account": "ghost"}]}
    assert code(await tim(G + "add_group_member", add)) == 10019
    assert (
        code(
            await tim(G + "create_group", {"Type": "Public", "Name": "n", "Owner_Account": "ghost"})
        )
        == 10019
    )
    info = await tim(G + "get_group_member_info", {"GroupId": "pub"})
    assert [m["Member_Account"] for m in info["MemberList"]] == ["leckie"]  # nothing applied


async def test_10021_and_10025_group_id_used(tim):
    assert (
        code(await tim(G + "create_group", {"GroupId": "pub", "Type": "Public", "Name": "n"}))
        == 10021
    )
    assert (
        code(
            await tim(
                G + "create_group",
                {"GroupId": "pub", "Type": "Public", "Name": "n", "Owner_Account": "leckie"},
            )
        )
        == 10025
    )


async def test_60007_rate_limited(tmp_path):
    app = create_app(tmp_path / "rl.db", sdkappid=SDKAPPID, secret_key=KEY, rate_limit=5)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e") as http:
        tim = RestCaller(http, SDKAPPID, KEY)
        codes = [
            code(await tim(LOGIN + "account_check", {"CheckItem": [{"UserID": "a"}]}))
            for _ in range(8)
        ]
        assert codes == [0] * 5 + [60007] * 3
        # Each API has its own window; get_appid_group_list keeps its documented 1 call/s.
        lists = [code(await tim(G + "get_appid_group_list", {})) for _ in range(2)]
        assert lists == [0, 60007]
    stats = app.state.emulator.stats()
    assert stats["rate_limited"] == {
        "im_open_login_svc/account_check": 3,
        "group_open_http_svc/get_appid_group_list": 1,
    }


async def test_10002_injected_fault(tmp_path):
    app = create_app(tmp_path / "f.db", sdkappid=SDKAPPID, secret_key=KEY, fault_rate=1.0, seed=3)
    app.state.emulator.rng.random = lambda: 0.0  # always the first fault kind: 10002
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://e") as http:
        tim = RestCaller(http, SDKAPPID, KEY)
        body = {"Type": "Public", "Name": "n", "GroupId": "faulted"}
        assert code(await tim(G + "create_group", body)) == 10002
    assert "faulted" not in app.state.store.dump()["groups"]  # a 10002 fault applies nothing
