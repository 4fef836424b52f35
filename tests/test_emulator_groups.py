"""Group rules: lifecycle, members, paging, filters, marks (in-process, ASGI transport)."""

from __future__ import annotations

import re

import httpx
import pytest

from reconciler.emulator import create_app
from reconciler.emulator.testing import RestCaller

SDKAPPID = 1400000001
KEY = "emulator-test-key"
G = "group_open_http_svc/"
AV = "group_open_avchatroom_http_svc/"
LOGIN = "im_open_login_svc/"


@pytest.fixture
def app(tmp_path):
    app = create_app(tmp_path / "emu.db", sdkappid=SDKAPPID, secret_key=KEY)
    app.state.store.seed(accounts=["leckie", "bob", "tommy", "jared", "peter"])
    return app


@pytest.fixture
async def http(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://console.tim.qq.com") as c:
        yield c


@pytest.fixture
def tim(http):
    async def call(api: str, body: dict, expect: int = 0) -> dict:
        answer = await RestCaller(http, SDKAPPID, KEY)(api, body)
        assert answer["ErrorCode"] == expect, answer
        return answer

    return call


async def control(http, name: str, body: dict, expect: int = 0) -> dict:
    answer = (await http.post(f"/emulator/{name}", json=body)).json()
    assert answer["ErrorCode"] == expect, answer
    return answer


async def info(tim, gid: str, **filters) -> dict:
    body = {"GroupIdList": [gid]}
    if filters:
        body["ResponseFilter"] = filters
    return (await tim(G + "get_group_info", body))["GroupInfo"][0]


async def test_create_group_lifecycle(tim):
    created = await tim(
        G + "create_group",
        {
            "Type": "Work",
            "Name": "team",
            "Owner_Account": "leckie",
            "MaxMemberCount": 50,
            "MaxMemberNum": 7,  # modify's name: ignored by create_group, as unknown fields are
            "MemberList": [{"Member_Account": "bob", "Role": "Admin"}, {"Member_Account": "tommy"}],
            "AppDefinedData": [{"Key": "k", "Value": "v"}],
        },
    )
    gid = created["GroupId"]
    assert re.fullmatch(r"@TGS#1[0-9A-Z]{8}", gid)
    g = await info(tim, gid)
    assert (g["Type"], g["MaxMemberNum"], g["MemberNum"], g["Owner_Account"]) == (
        "Private",
        50,
        3,
        "leckie",
    )
    assert g["AppDefinedData"] == [{"Key": "k", "Value": "v"}]
    assert [(m["Member_Account"], m["Role"]) for m in g["MemberList"]] == [
        ("leckie", "Owner"),
        ("bob", "Admin"),
        ("tommy", "Member"),
    ]
    # Both names of the mute-all flag (current EN: MuteAllMember; TC, DB, PY: ShutUpAllMember).
    assert g["MuteAllMember"] == g["ShutUpAllMember"] == "Off"
    await tim(G + "destroy_group", {"GroupId": gid})
    assert (await info(tim, gid))["ErrorCode"] == 10010


async def test_server_assigned_ids(tim):
    ids = {}
    for gtype in ("Private", "Public", "ChatRoom", "AVChatRoom", "Community"):
        answer = await tim(G + "create_group", {"Type": gtype, "Name": gtype})
        ids[gtype] = answer["GroupId"]
        if gtype == "Community":
            assert (answer["Type"], answer["HugeGroupFlag"]) == ("Community", 0)
    assert ids["AVChatRoom"].startswith("@TGS#a")
    assert ids["Community"].startswith("@TGS#_@TGS#")
    assert ids["Public"].startswith("@TGS#2")
    assert len(set(ids.values())) == 5


async def test_custom_ids(tim):
    await tim(G + "create_group", {"GroupId": "team a/1", "Type": "Public", "Name": "a"})
    await tim(G + "create_group", {"GroupId": "@TGS#_mine", "Type": "Community", "Name": "c"})
    await tim(G + "create_group", {"GroupId": "x" * 48, "Type": "Meeting", "Name": "m"})
    # a destroyed custom ID can be used again at once
    await tim(G + "destroy_group", {"GroupId": "team a/1"})
    await tim(G + "create_group", {"GroupId": "team a/1", "Type": "Private", "Name": "again"})
    assert (await info(tim, "team a/1"))["Type"] == "Private"


async def test_avchatroom_profile_has_no_members(tim, http):
    gid = (
        await tim(
            G + "create_group", {"Type": "AVChatRoom", "Name": "live", "Owner_Account": "leckie"}
        )
    )["GroupId"]
    await control(http, "online", {"GroupId": gid, "Account": "bob", "Online": True})
    g = await info(tim, gid)
    assert g["Owner_Account"] == "leckie"
    assert "MemberList" not in g and "MemberNum" not in g and "InviteJoinOption" not in g
    await tim(
        G + "create_group",
        {"Type": "AVChatRoom", "Name": "x", "MemberList": [{"Member_Account": "bob"}]},
        expect=10007,  # EN-34895 (reference §16.1)
    )
    # modify_group_base_info works on every type; MaxMemberNum is ignored for AVChatRoom
    await tim(
        G + "modify_group_base_info", {"GroupId": gid, "MaxMemberNum": 10, "MuteAllMember": "On"}
    )
    assert (await info(tim, gid))["MuteAllMember"] == "On"


async def test_add_import_delete_results(tim):
    gid = (
        await tim(G + "create_group", {"Type": "Public", "Name": "p", "Owner_Account": "leckie"})
    )["GroupId"]
    added = await tim(
        G + "add_group_member",
        {
            "GroupId": gid,
            "Silence": 1,
            "MemberList": [
                {"Member_Account": "bob"},
                {"Member_Account": "leckie"},
                {"Member_Account": "bob"},
            ],
        },
    )
    assert [m["Result"] for m in added["MemberList"]] == [1, 2, 2]
    await tim(
        G + "import_group_member",
        {"GroupId": gid, "MemberList": [{"Member_Account": "tommy", "Role": "Member"}]},
        expect=10004,
    )
    await tim(
        G + "delete_group_member",
        {"GroupId": gid, "MemberToDel_Account": ["bob", "jared", "nobody"]},
    )
    g = await info(tim, gid)
    assert [m["Member_Account"] for m in g["MemberList"]] == ["leckie"]


async def test_owner_rules(tim):
    gid = (
        await tim(
            G + "create_group",
            {
                "Type": "Public",
                "Name": "p",
                "Owner_Account": "leckie",
                "MemberList": [{"Member_Account": "bob"}],
            },
        )
    )["GroupId"]
    before = (await info(tim, gid))["InfoSeq"]
    await tim(
        G + "modify_group_member_info",
        {"GroupId": gid, "Member_Account": "leckie", "Role": "Admin"},
        expect=10004,
    )
    await tim(
        G + "modify_group_member_info",
        {"GroupId": gid, "Member_Account": "jared", "NameCard": "x"},
        expect=10004,
    )
    await tim(G + "change_group_owner", {"GroupId": gid, "NewOwner_Account": "tommy"}, expect=10004)
    await tim(G + "change_group_owner", {"GroupId": gid, "NewOwner_Account": "ghost"}, expect=10019)
    await tim(G + "change_group_owner", {"GroupId": gid, "NewOwner_Account": "bob"})
    g = await info(tim, gid)
    assert g["Owner_Account"] == "bob" and g["InfoSeq"] == before + 1
    assert {m["Member_Account"]: m["Role"] for m in g["MemberList"]} == {
        "leckie": "Member",
        "bob": "Owner",
    }


async def test_modify_base_info_old_names_and_infoseq(tim):
    gid = (await tim(G + "create_group", {"Type": "Public", "Name": "p"}))["GroupId"]
    seq = (await info(tim, gid))["InfoSeq"]
    await tim(G + "modify_group_base_info", {"GroupId": gid, "ShutUpAllMember": "On"})
    g = await info(tim, gid)
    assert g["MuteAllMember"] == "On" and g["InfoSeq"] == seq + 1
    await tim(
        G + "modify_group_base_info",
        {"GroupId": gid, "MuteAllMember": "Off", "InviteJoinOption": "DisableInvite"},
    )
    g = await info(tim, gid)
    assert (g["MuteAllMember"], g["InviteJoinOption"]) == ("Off", "DisableInvite")
    await tim(G + "modify_group_base_info", {"GroupId": gid, "MuteAllMember": "yes"}, expect=10004)


async def test_mute_time_old_name_and_unmute(tim, http):
    gid = (
        await tim(
            G + "create_group",
            {"Type": "Meeting", "Name": "m", "MemberList": [{"Member_Account": "bob"}]},
        )
    )["GroupId"]
    now = (await control(http, "clock", {}))["Now"]
    await tim(
        G + "modify_group_member_info", {"GroupId": gid, "Member_Account": "bob", "ShutUpTime": 60}
    )
    bob = (await info(tim, gid))["MemberList"][0]
    assert now + 60 <= bob["MuteUntil"] <= now + 65
    await tim(
        G + "modify_group_member_info", {"GroupId": gid, "Member_Account": "bob", "MuteTime": 0}
    )
    assert (await info(tim, gid))["MemberList"][0]["MuteUntil"] == 0


async def test_max_member_num(tim):
    gid = (
        await tim(
            G + "create_group",
            {
                "Type": "Public",
                "Name": "p",
                "Owner_Account": "leckie",
                "MemberList": [{"Member_Account": "bob"}],
            },
        )
    )["GroupId"]
    assert (await info(tim, gid))["MaxMemberNum"] == 6000  # documented default
    await tim(G + "modify_group_base_info", {"GroupId": gid, "MaxMemberNum": 1}, expect=10004)
    await tim(G + "modify_group_base_info", {"GroupId": gid, "MaxMemberNum": 2})
    await tim(
        G + "add_group_member",
        {"GroupId": gid, "MemberList": [{"Member_Account": "tommy"}]},
        expect=10014,
    )
    comm = (await tim(G + "create_group", {"Type": "Community", "Name": "c"}))["GroupId"]
    assert (await info(tim, comm))["MaxMemberNum"] == 100000


async def test_response_filter(tim):
    gid = (
        await tim(
            G + "create_group",
            {
                "Type": "Public",
                "Name": "p",
                "Owner_Account": "leckie",
                "AppDefinedData": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
                "MemberList": [
                    {"Member_Account": "bob", "AppMemberDefinedData": [{"Key": "m", "Value": "x"}]}
                ],
            },
        )
    )["GroupId"]
    g = await info(
        tim,
        gid,
        GroupBaseInfoFilter=["Name", "MemberNum", "ShutUpAllMember"],
        MemberInfoFilter=["Role"],
        AppDefinedDataFilter_Group=["b"],
    )
    assert g == {
        "GroupId": gid,
        "ErrorCode": 0,
        "ErrorInfo": "",
        "Name": "p",
        "MemberNum": 2,
        "MuteAllMember": "Off",
        "ShutUpAllMember": "Off",
        "AppDefinedData": [{"Key": "b", "Value": "2"}],
        "MemberList": [
            {"Member_Account": "leckie", "Role": "Owner"},
            {"Member_Account": "bob", "Role": "Member"},
        ],
    }
    g = await info(tim, gid, MemberInfoFilter=["Account"], AppDefinedDataFilter_GroupMember=["m"])
    assert g["MemberList"][1] == {
        "Member_Account": "bob",
        "AppMemberDefinedData": [{"Key": "m", "Value": "x"}],
    }


async def test_get_appid_group_list_paging(app, tim):
    app.state.store.seed(
        groups=[{"GroupId": f"p{i}", "Type": "Public"} for i in range(5)]
        + [{"GroupId": "@TGS#_c", "Type": "Community"}]
    )
    seen, nxt, calls = [], 0, 0
    while True:
        page = await tim(
            G + "get_appid_group_list", {"Limit": 2, "Next": nxt, "GroupType": "Public"}
        )
        calls += 1
        assert page["TotalCount"] == 5
        seen += [g["GroupId"] for g in page["GroupIdList"]]
        nxt = page["Next"]
        if nxt == 0:
            break
        assert nxt > 2**32  # a uint64 cursor
    assert seen == [f"p{i}" for i in range(5)] and calls == 3
    everything = await tim(G + "get_appid_group_list", {})
    assert everything["TotalCount"] == 6 and everything["Next"] == 0
    await tim(G + "get_appid_group_list", {"GroupType": "Nope"}, expect=10004)


async def test_get_group_member_info_paging(app, tim):
    app.state.store.seed(
        groups=[
            {
                "GroupId": "big",
                "Type": "Public",
                "Owner_Account": "o",
                "MemberList": [{"Member_Account": f"m{i:03d}"} for i in range(250)],
            },
            {
                "GroupId": "@TGS#_big",
                "Type": "Community",
                "Owner_Account": "o",
                "MemberList": [{"Member_Account": f"m{i:03d}"} for i in range(250)],
            },
        ]
    )
    page = await tim(G + "get_group_member_info", {"GroupId": "big", "Limit": 100, "Offset": 200})
    assert page["MemberNum"] == 251 and len(page["MemberList"]) == 51 and "Next" not in page
    owners = await tim(
        G + "get_group_member_info", {"GroupId": "big", "MemberRoleFilter": ["Owner"]}
    )
    assert [m["Member_Account"] for m in owners["MemberList"]] == ["o"]
    await tim(G + "get_group_member_info", {"GroupId": "@TGS#_big", "Offset": 100}, expect=10004)
    accounts, nxt = [], ""
    while True:
        page = await tim(
            G + "get_group_member_info", {"GroupId": "@TGS#_big", "Limit": 100, "Next": nxt}
        )
        accounts += [m["Member_Account"] for m in page["MemberList"]]
        nxt = page["Next"]
        if nxt == "":
            break
    assert len(accounts) == len(set(accounts)) == 251


async def test_get_specified_group_member_info_reads_named_members_only(app, tim):
    """CN-112002: up to 50 named accounts; not AVChatRoom; its documented codes."""
    members = [{"Member_Account": f"m{i:03d}", "NameCard": f"c{i}"} for i in range(80)]
    app.state.store.seed(
        groups=[
            {"GroupId": "@TGS#_big", "Type": "Community", "Owner_Account": "o",
             "MemberList": members},
            {"GroupId": "live", "Type": "AVChatRoom", "Owner_Account": "o"},
        ]
    )  # fmt: skip
    api = G + "get_specified_group_member_info"
    named = {"GroupId": "@TGS#_big", "Member_List_Account": ["m005", "stranger", "o"]}
    answer = await tim(api, named)
    assert answer["GroupId"] == "@TGS#_big"
    assert [(m["Member_Account"], m["NameCard"]) for m in answer["MemberList"]] == [
        ("o", ""),
        ("m005", "c5"),
    ]  # join order; a non-member is left out
    roles = await tim(api, {**named, "MemberRoleFilter": ["Owner"]})
    assert [m["Member_Account"] for m in roles["MemberList"]] == ["o"]
    only = await tim(api, {**named, "MemberInfoFilter": ["Role"]})
    assert only["MemberList"][0] == {"Member_Account": "o", "Role": "Owner"}
    fifty = [f"m{i:03d}" for i in range(50)]
    assert (
        len((await tim(api, {"GroupId": "@TGS#_big", "Member_List_Account": fifty}))["MemberList"])
        == 50
    )
    await tim(api, {"GroupId": "@TGS#_big", "Member_List_Account": [*fifty, "o"]}, expect=10005)
    await tim(api, {"GroupId": "@TGS#_big", "Member_List_Account": []}, expect=10004)
    await tim(api, {"GroupId": "@TGS#_big"}, expect=10004)
    await tim(api, {"GroupId": "live", "Member_List_Account": ["o"]}, expect=10007)
    await tim(api, {"GroupId": "gone", "Member_List_Account": ["o"]}, expect=10010)


async def test_get_group_info_caps_member_list(app, tim):
    app.state.store.seed(
        groups=[
            {
                "GroupId": "@TGS#_huge",
                "Type": "Community",
                "MemberList": [{"Member_Account": f"m{i}"} for i in range(6100)],
            }
        ]
    )
    g = await info(tim, "@TGS#_huge")
    assert g["MemberNum"] == 6100 and len(g["MemberList"]) == 6000


async def test_accounts(tim):
    await tim(LOGIN + "account_import", {"UserID": "new-user", "Nick": "N", "FaceUrl": "http://f"})
    await tim(LOGIN + "account_import", {"UserID": "new-user"})  # again: fine
    imported = await tim(LOGIN + "multiaccount_import", {"Accounts": ["a1", "a2", "x" * 33]})
    assert imported["FailAccounts"] == ["x" * 33]
    check = await tim(
        LOGIN + "account_check",
        {"CheckItem": [{"UserID": "a1"}, {"UserID": "zz"}, {"UserID": "administrator"}]},
    )
    assert [(r["UserID"], r["ResultCode"], r["AccountStatus"]) for r in check["ResultItem"]] == [
        ("a1", 0, "Imported"),
        ("zz", 0, "NotImported"),
        ("administrator", 0, "Imported"),
    ]
    await tim(LOGIN + "account_import", {"UserID": ""}, expect=70402)


async def test_self_join(tim, http):
    pub = (await tim(G + "create_group", {"Type": "Public", "Name": "p"}))["GroupId"]
    work = (await tim(G + "create_group", {"Type": "Private", "Name": "w"}))["GroupId"]
    assert (await control(http, "join", {"GroupId": pub, "Account": "bob"}))["Result"] == 1
    assert (await control(http, "join", {"GroupId": pub, "Account": "bob"}))["Result"] == 2
    await control(http, "join", {"GroupId": work, "Account": "bob"}, expect=10007)
    await control(http, "leave", {"GroupId": pub, "Account": "bob"})
    assert (await info(tim, pub))["MemberNum"] == 0


# -- AVChatRoom marks ------------------------------------------------------------------------


async def marks_of(tim, gid: str, mark: int | None = None) -> dict[str, list[int]]:
    body = {"GroupId": gid, "Timestamp": 0}
    if mark is not None:
        body["Mark"] = mark
    page = await tim(AV + "get_members", body)
    return {m["Member_Account"]: m["Marks"] for m in page["MemberList"]}


def mark_body(gid: str, command: int, **marks: list[int]) -> dict:
    items = [{"Member_Account": a, "Marks": m} for a, m in marks.items()]
    return {"GroupId": gid, "CommandType": command, "MemberList": items}


async def test_marks_only_on_online_members(tim, http):
    gid = (await tim(G + "create_group", {"Type": "AVChatRoom", "Name": "live"}))["GroupId"]
    await control(http, "online", {"GroupId": gid, "Account": "bob", "Online": True})
    answer = await tim(AV + "modify_user_info", mark_body(gid, 1, bob=[1000], tommy=[1000]))
    assert answer["MemberList"] == [{"Member_Account": "bob", "Marks": [1000]}]
    await tim(AV + "modify_user_info", mark_body(gid, 1, tommy=[1000]), expect=10004)
    await tim(AV + "modify_user_info", mark_body(gid, 1, bob=[999]), expect=10004)
    await tim(AV + "modify_user_info", mark_body(gid, 3, bob=[1000]), expect=10004)
    # going offline drops the member and its marks; coming back starts clean
    await control(http, "online", {"GroupId": gid, "Account": "bob", "Online": False})
    assert await marks_of(tim, gid) == {}
    await control(http, "online", {"GroupId": gid, "Account": "bob", "Online": True})
    assert await marks_of(tim, gid) == {"bob": []}


async def test_at_most_ten_distinct_marks(tim, http):
    gid = (await tim(G + "create_group", {"Type": "AVChatRoom", "Name": "live"}))["GroupId"]
    await control(http, "online", {"GroupId": gid, "Account": "bob", "Online": True})
    await tim(AV + "modify_user_info", mark_body(gid, 1, bob=list(range(1000, 1010)) + [500, 600]))
    await tim(AV + "modify_user_info", mark_body(gid, 1, bob=[1010]), expect=10004)
    await tim(AV + "modify_user_info", mark_body(gid, 2, bob=[1009]))
    await tim(AV + "modify_user_info", mark_body(gid, 1, bob=[1010]))


async def test_mark_500_keeps_member_online_for_three_days(tim, http):
    gid = (await tim(G + "create_group", {"Type": "AVChatRoom", "Name": "live"}))["GroupId"]
    for who in ("bob", "tommy"):
        await control(http, "online", {"GroupId": gid, "Account": who, "Online": True})
    await tim(AV + "modify_user_info", mark_body(gid, 1, bob=[500, 1000]))
    for who in ("bob", "tommy"):
        await control(http, "online", {"GroupId": gid, "Account": who, "Online": False})
    assert await marks_of(tim, gid) == {"bob": [500, 1000]}
    await tim(AV + "modify_user_info", mark_body(gid, 1, bob=[1001], tommy=[1001]))
    await control(http, "clock", {"Advance": 3 * 86400 + 10})
    assert await marks_of(tim, gid) == {}
    await tim(AV + "modify_user_info", mark_body(gid, 1, bob=[1002]), expect=10004)


async def test_mark_600_hides_member(tim, http):
    gid = (await tim(G + "create_group", {"Type": "AVChatRoom", "Name": "live"}))["GroupId"]
    for who in ("bob", "tommy"):
        await control(http, "online", {"GroupId": gid, "Account": who, "Online": True})
    await tim(AV + "modify_user_info", mark_body(gid, 1, tommy=[600]))
    assert await marks_of(tim, gid) == {"bob": []}
    assert await marks_of(tim, gid, mark=600) == {"tommy": [600]}


async def test_get_members_paging(app, tim):
    app.state.store.seed(
        groups=[
            {
                "GroupId": "live",
                "Type": "AVChatRoom",
                "MemberList": [
                    {"Member_Account": f"v{i:04d}", "Marks": [1000] if i % 2 else []}
                    for i in range(1200)
                ],
            }
        ]
    )
    pages, ts, seen = 0, 0, []
    while True:
        page = await tim(AV + "get_members", {"GroupId": "live", "Timestamp": ts})
        pages += 1
        assert len(page["MemberList"]) <= 500
        seen += [m["Member_Account"] for m in page["MemberList"]]
        ts = page["NextTimestamp"]
        if ts == 0:
            break
    # only the latest 1,000 online joiners are listed
    assert pages == 2 and seen == [f"v{i:04d}" for i in range(200, 1200)]
    marked = await tim(AV + "get_members", {"GroupId": "live", "Timestamp": 0, "Mark": 1000})
    assert len(marked["MemberList"]) == 500 and marked["NextTimestamp"] != 0
