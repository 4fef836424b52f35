"""The seed pages' sample requests, sent as written, get the documented answers."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from reconciler.emulator import create_app
from reconciler.emulator.testing import RestCaller

SDKAPPID = 88888888  # the seed pages' sample SDKAppID
KEY = "sample-secret-key"
ADMIN = "admin"  # the seed pages' sample identifier


def doc_json(text: str) -> object:
    """Parse a documentation sample: drop ``//`` comments and trailing commas (not in strings)."""
    out: list[str] = []
    i, in_string = 0, False
    while i < len(text):
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\":
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif ch in "]}":
            while out and out[-1].isspace():
                out.pop()
            if out and out[-1] == ",":
                out.pop()
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return json.loads("".join(out))


@pytest.fixture
def app(tmp_path):
    return create_app(tmp_path / "emu.db", sdkappid=SDKAPPID, secret_key=KEY, admin=ADMIN)


class SampleCaller(RestCaller):
    """Every answer carries a RequestId (the newer samples' envelope, 647/60703); the seed
    pages' samples predate it, so it is checked and set aside before they are compared."""

    async def __call__(self, *args, **kwargs) -> dict:
        answer = await super().__call__(*args, **kwargs)
        assert re.fullmatch(r"Id-[0-9a-f]{32}-O-Seq-[0-9]+", answer.pop("RequestId"))
        return answer


@pytest.fixture
async def tim(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://xxxxxx") as http:
        yield SampleCaller(http, SDKAPPID, KEY, ADMIN)


OK = {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}


def group_info(app, gid: str) -> dict:
    return app.state.store.dump()["groups"][gid]


# -- modify_group_base_info (seed 003) ------------------------------------------------------

BASE_INFO_SAMPLE = """{
"GroupId": "@TGS#1NVTZEAE4", // Group whose basic profile you want to modify (required)
"Name": "NewName", // Group name (optional)
"Introduction": "NewIntroduction", // Group introduction (optional)
"Notification": "NewNotification", // Group notice (optional)
"FaceUrl": "http://this.is.new.face.url", // Group profile photo (optional)
"MaxMemberNum": 500, // Maximum number of group members (optional)
"ApplyJoinOption": "NeedPermission", // Method for applying to join the group (optional)
"MuteAllMember": "On" // Mutes all members (optional). "On": Enable, "Off": Disable
}"""

CUSTOM_SET_SAMPLE = """{
"GroupId": "@TGS#1NVTZEAE4", // Group whose basic profile you want to modify (required)
"AppDefinedData": [ // Custom field (optional)
{
"Key": "GroupTestData1", // Custom field key to be modified
"Value": "NewData" // New value of the custom field
}
]
}"""

CUSTOM_DELETE_SAMPLE = """{
"GroupId": "@TGS#1NVTZEAE4", // Group whose basic profile you want to modify (required)
"AppDefinedData": [ // Custom field (optional)
{
"Key": "GroupTestData2",
"Value": "" // If this parameter is empty, the custom field is to be deleted.
}
]
}"""


async def test_modify_group_base_info_samples(app, tim):
    app.state.store.seed(
        groups=[
            {
                "GroupId": "@TGS#1NVTZEAE4",
                "Type": "Public",
                "Name": "Old",
                "Owner_Account": "leckie",
                "AppDefinedData": [{"Key": "GroupTestData2", "Value": "old"}],
            }
        ]
    )
    assert await tim("group_open_http_svc/modify_group_base_info", doc_json(BASE_INFO_SAMPLE)) == OK
    g = group_info(app, "@TGS#1NVTZEAE4")
    assert (g["Name"], g["Introduction"], g["Notification"]) == (
        "NewName",
        "NewIntroduction",
        "NewNotification",
    )
    assert g["FaceUrl"] == "http://this.is.new.face.url"
    assert (g["MaxMemberNum"], g["ApplyJoinOption"], g["MuteAllMember"]) == (
        500,
        "NeedPermission",
        "On",
    )
    assert (
        await tim("group_open_http_svc/modify_group_base_info", doc_json(CUSTOM_SET_SAMPLE)) == OK
    )
    assert group_info(app, "@TGS#1NVTZEAE4")["AppDefinedData"] == {
        "GroupTestData2": "old",
        "GroupTestData1": "NewData",
    }
    sample = doc_json(CUSTOM_DELETE_SAMPLE)
    assert await tim("group_open_http_svc/modify_group_base_info", sample) == OK
    assert group_info(app, "@TGS#1NVTZEAE4")["AppDefinedData"] == {"GroupTestData1": "NewData"}


# -- modify_group_member_info (seed 001) ----------------------------------------------------

MEMBER_SAMPLES = [
    ('{"GroupId": "@TGS#2CLUZEAEJ", "Member_Account": "bob", "Role": "Admin"}', "Role", "Admin"),
    ('{"GroupId": "@TGS#2CLUZEAEJ", "Member_Account": "bob", "Role": "Member"}', "Role", "Member"),
    (
        """{
"GroupId": "@TGS#2CLUZEAEJ", // Target group (required)
"Member_Account": "bob", // Target group member (required)
"MsgFlag": "AcceptAndNotify" // Message blocking type
}""",
        "MsgFlag",
        "AcceptAndNotify",
    ),
    (
        """{
"GroupId": "@TGS#2CLUZEAEJ", // Target group (required)
"Member_Account": "bob", // Target group member (required)
"NameCard": "bob" // Group name card (optional)
}""",
        "NameCard",
        "bob",
    ),
    (
        """{
"GroupId": "@TGS#2CLUZEAEJ", // Target group (required)
"Member_Account": "bob", // Target group member (required)
"AppMemberDefinedData": [ // Target member custom field (optional)
{
"Key":"MemberDefined1", // Key of the target group member custom field
"Value":"ModifyData1" // Value of the key
},
{
"Key":"MemberDefined3",
"Value":"ModifyData3"
}
]
}""",
        "AppMemberDefinedData",
        {"MemberDefined1": "ModifyData1", "MemberDefined3": "ModifyData3"},
    ),
]


@pytest.mark.parametrize(("sample", "field", "expected"), MEMBER_SAMPLES)
async def test_modify_group_member_info_samples(app, tim, sample, field, expected):
    app.state.store.seed(
        groups=[
            {
                "GroupId": "@TGS#2CLUZEAEJ",
                "Type": "Public",
                "Owner_Account": "leckie",
                "MemberList": [{"Member_Account": "bob", "MsgFlag": "Discard"}],
            }
        ]
    )
    assert await tim("group_open_http_svc/modify_group_member_info", doc_json(sample)) == OK
    bob = group_info(app, "@TGS#2CLUZEAEJ")["MemberList"][1]
    assert bob["Member_Account"] == "bob"
    assert bob[field] == expected


async def test_modify_group_member_info_mute_sample(app, tim):
    app.state.store.seed(
        groups=[
            {
                "GroupId": "@TGS#2CLUZEAEJ",
                "Type": "Public",
                "MemberList": [{"Member_Account": "bob"}],
            },
            {"GroupId": "work-group", "Type": "Private", "MemberList": [{"Member_Account": "bob"}]},
        ]
    )
    now = (await tim.http.post("/emulator/clock", json={})).json()["Now"]
    sample = doc_json('{"GroupId": "@TGS#2CLUZEAEJ", "Member_Account": "bob", "MuteTime": 86400}')
    assert await tim("group_open_http_svc/modify_group_member_info", sample) == OK
    muted = group_info(app, "@TGS#2CLUZEAEJ")["MemberList"][0]["MuteUntil"]
    assert now + 86400 <= muted <= now + 86400 + 5
    # "Private groups (Work) do not support muting group users."
    answer = await tim(
        "group_open_http_svc/modify_group_member_info", {**sample, "GroupId": "work-group"}
    )
    assert answer["ErrorCode"] == 10004


# -- import_group_member (seed 002) ---------------------------------------------------------

IMPORT_SAMPLE = """{"GroupId": "@TGS#2J4SZEAEL", // (Required) Target group
"MemberList": [ // Up to 300 members can be added at a time.
{"Member_Account": "tommy", // (Required) ID of the member to be added
"Role":"Admin", // (Optional) Role of the group member to be imported.
"JoinTime":1448357837, // (Optional) Time when the group member to be imported joined the group
"UnreadMsgNum":5 // (Optional) Unread message count of the member
},
{"Member_Account": "jared","JoinTime":1448357857,"UnreadMsgNum":2}]}"""

IMPORT_RESPONSE = """{"ActionStatus": "OK","ErrorInfo": "","ErrorCode": 0,"MemberList": [{
"Member_Account": "tommy","Result": 1 // Result of the import. 0: Failed; 1: Succeeded; 2: Already
},{"Member_Account": "jared","Result": 1}]}"""


async def test_import_group_member_sample(app, tim):
    app.state.store.seed(
        groups=[{"GroupId": "@TGS#2J4SZEAEL", "Type": "Public", "Owner_Account": "leckie"}],
        accounts=["tommy", "jared"],
    )
    answer = await tim("group_open_http_svc/import_group_member", doc_json(IMPORT_SAMPLE))
    assert answer == doc_json(IMPORT_RESPONSE)
    members = {m["Member_Account"]: m for m in group_info(app, "@TGS#2J4SZEAEL")["MemberList"]}
    assert (members["tommy"]["Role"], members["tommy"]["JoinTime"]) == ("Admin", 1448357837)
    assert (members["jared"]["Role"], members["jared"]["JoinTime"]) == ("Member", 1448357857)
    again = await tim("group_open_http_svc/import_group_member", doc_json(IMPORT_SAMPLE))
    assert [m["Result"] for m in again["MemberList"]] == [2, 2]


# -- modify_user_info (seed 000) -------------------------------------------------------------

MARKS_SET = (
    '{"GroupId": "@TGS#a6I4ZUUGO","CommandType": 1,"MemberList": [{"Member_Account": "teacher10",'
    '"Marks": [1000]},{"Member_Account": "student9","Marks": [1001]},]}'
)
MARKS_DELETE = MARKS_SET.replace('"CommandType": 1', '"CommandType": 2')
MARKS_RESPONSE = (
    '{"ActionStatus": "OK","ErrorCode": 0,"ErrorInfo": "","CommandType": 1,"MemberList": '
    '[{"Member_Account": "teacher10","Marks": [1000]},{"Member_Account": "student9","Marks": '
    "[1001]}]}"
)


async def test_modify_user_info_samples(app, tim):
    app.state.store.seed(groups=[{"GroupId": "@TGS#a6I4ZUUGO", "Type": "AVChatRoom"}])
    for account in ("teacher10", "student9"):
        app.state.store.seed(accounts=[account])
        online = {"GroupId": "@TGS#a6I4ZUUGO", "Account": account, "Online": True}
        assert (await tim.http.post("/emulator/online", json=online)).json()["ErrorCode"] == 0
    answer = await tim("group_open_avchatroom_http_svc/modify_user_info", doc_json(MARKS_SET))
    assert answer == doc_json(MARKS_RESPONSE)
    members = await tim(
        "group_open_avchatroom_http_svc/get_members", {"GroupId": "@TGS#a6I4ZUUGO", "Timestamp": 0}
    )
    assert {m["Member_Account"]: m["Marks"] for m in members["MemberList"]} == {
        "teacher10": [1000],
        "student9": [1001],
    }
    answer = await tim("group_open_avchatroom_http_svc/modify_user_info", doc_json(MARKS_DELETE))
    assert answer == {**doc_json(MARKS_RESPONSE), "CommandType": 2}
    by_mark = await tim(
        "group_open_avchatroom_http_svc/get_members",
        {"GroupId": "@TGS#a6I4ZUUGO", "Timestamp": 0, "Mark": 1000},
    )
    assert by_mark["MemberList"] == []


async def test_doc_sample_with_its_trailing_comma_as_written(app, tim):
    """Seed 000's modify_user_info sample, byte for byte (a trailing comma after the last
    member), gets the page's sample answer; ``//`` comments are annotations: 60003."""
    app.state.store.seed(groups=[{"GroupId": "@TGS#a6I4ZUUGO", "Type": "AVChatRoom"}])
    for account in ("teacher10", "student9"):
        app.state.store.seed(accounts=[account])
        online = {"GroupId": "@TGS#a6I4ZUUGO", "Account": account, "Online": True}
        assert (await tim.http.post("/emulator/online", json=online)).json()["ErrorCode"] == 0
    answer = await tim("group_open_avchatroom_http_svc/modify_user_info", raw=MARKS_SET.encode())
    assert answer == doc_json(MARKS_RESPONSE)
    commented = IMPORT_SAMPLE  # seed 002, with its // comments
    answer = await tim("group_open_http_svc/import_group_member", raw=commented.encode())
    assert answer["ErrorCode"] == 60003
