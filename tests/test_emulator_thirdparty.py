"""Raw HTTP requests in the shapes real third-party clients send, where the documentation is
silent, get documented answers; where it is clear, the documented refusal. Bodies are built by
hand (bytes), as PHP, Go and Java SDKs build them, not through the project's client."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest

from reconciler.emulator import create_app
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
            {"GroupId": "pub", "Type": "Public", "Owner_Account": "leckie", "CreateTime": 1e9},
            {"GroupId": "av", "Type": "AVChatRoom"},
        ],
        accounts=["leckie", "bob", "tommy"],
    )
    return app


@pytest.fixture
async def post(app):
    """``await post(api, raw_body, headers=None, **query)`` -> the decoded answer."""
    usersig = generate(SDKAPPID, KEY, ADMIN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://console.tim.qq.com") as c:

        async def call(api: str, raw: bytes | str, headers: dict | None = None, **query) -> dict:
            params = {
                "sdkappid": SDKAPPID,
                "identifier": ADMIN,
                "usersig": usersig,
                "random": secrets.randbelow(2**32),
                "contenttype": "json",
                **query,
            }
            content = raw.encode() if isinstance(raw, str) else raw
            response = await c.post(f"/v4/{api}", params=params, content=content, headers=headers)
            assert response.status_code == 200
            return response.json()

        call.http = c  # type: ignore[attr-defined]
        yield call


def account(app, user_id: str) -> tuple[str, str] | None:
    with app.state.store.transaction() as c:
        row = c.execute(
            "SELECT nick, face_url FROM accounts WHERE user_id = ?", (user_id,)
        ).fetchone()
    return None if row is None else (row[0], row[1])


# -- legacy and newer field names (the docs are silent on the older ones) --------------------


async def test_account_import_with_the_older_identifier_field(app, post):
    # dobyte/tencent-im's AccountImport and PyPI timsdk send "Identifier" (reference §16.1).
    answer = await post(LOGIN + "account_import", '{"Identifier":"alice","Nick":"Alice"}')
    assert answer["ErrorCode"] == 0
    assert account(app, "alice") == ("Alice", "")
    # UserID, the documented name, wins when both come; a bad one is the page's 70402.
    await post(LOGIN + "account_import", '{"UserID":"carol","Identifier":"dave"}')
    assert account(app, "carol") is not None and account(app, "dave") is None
    assert (await post(LOGIN + "account_import", '{"Identifier":""}'))["ErrorCode"] == 70402


async def test_multiaccount_import_account_list_form(app, post):
    # doocs (2024-12): AccountList [{UserID, Nick, FaceUrl}] beside the page's Accounts, and it
    # updates accounts that exist; bad UserIDs are listed in FailAccounts like Accounts' are.
    body = {
        "Accounts": ["erin"],
        "AccountList": [
            {"UserID": "bob", "Nick": "Bob", "FaceUrl": "http://f/b.png"},
            {"UserID": "frank"},
            {"UserID": "x" * 33, "Nick": "too long"},
        ],
    }
    answer = await post(LOGIN + "multiaccount_import", json.dumps(body))
    assert answer["ErrorCode"] == 0 and answer["FailAccounts"] == ["x" * 33]
    assert account(app, "bob") == ("Bob", "http://f/b.png")
    assert account(app, "erin") == account(app, "frank") == ("", "")
    too_many = {"Accounts": [f"a{i}" for i in range(60)]}
    too_many["AccountList"] = [{"UserID": f"b{i}"} for i in range(41)]
    answer = await post(LOGIN + "multiaccount_import", json.dumps(too_many))
    assert answer["ErrorCode"] == 70402  # 100 accounts per call, whichever form carries them
    answer = await post(LOGIN + "multiaccount_import", '{"AccountList":["bob"]}')
    assert answer["ErrorCode"] == 70402


async def test_older_mute_names_in_requests_and_answers(app, post):
    # TC, DB and PY send ShutUpAllMember / ShutUpTime and read ShutUpUntil (reference §3, §16.1).
    await post(G + "add_group_member", '{"GroupId":"pub","MemberList":[{"Member_Account":"bob"}]}')
    body = '{"GroupId":"pub","Member_Account":"bob","ShutUpTime":60}'
    assert (await post(G + "modify_group_member_info", body))["ErrorCode"] == 0
    assert (await post(G + "modify_group_base_info", '{"GroupId":"pub","ShutUpAllMember":"On"}'))[
        "ErrorCode"
    ] == 0
    body = '{"GroupId":"pub","MemberInfoFilter":["ShutUpUntil"]}'
    bob = (await post(G + "get_group_member_info", body))["MemberList"][1]
    assert bob["ShutUpUntil"] == bob["MuteUntil"] > 0
    info = await post(G + "get_group_info", '{"GroupIdList":["pub"]}')
    group = info["GroupInfo"][0]
    assert group["ShutUpAllMember"] == group["MuteAllMember"] == "On"
    assert group["MemberList"][1]["ShutUpUntil"] == bob["MuteUntil"]


# -- numbers as strings (PHP and Go clients that build bodies from strings) ------------------


async def test_integer_fields_sent_as_decimal_strings(app, post):
    body = '{"Type":"Public","Name":"s","GroupId":"strs","MaxMemberCount":"50"}'
    assert (await post(G + "create_group", body))["ErrorCode"] == 0
    body = '{"GroupId":"strs","MaxMemberNum":"60"}'
    assert (await post(G + "modify_group_base_info", body))["ErrorCode"] == 0
    body = (
        '{"GroupId":"strs","MemberList":[{"Member_Account":"bob","JoinTime":"1448357837",'
        '"UnreadMsgNum":"5"},{"Member_Account":"tommy"}]}'
    )
    imported = await post(G + "import_group_member", body)
    assert [m["Result"] for m in imported["MemberList"]] == [1, 1]
    body = '{"GroupId":"strs","Member_Account":"bob","MuteTime":"86400"}'
    assert (await post(G + "modify_group_member_info", body))["ErrorCode"] == 0
    page = await post(G + "get_group_member_info", '{"GroupId":"strs","Limit":"1","Offset":"1"}')
    assert [m["Member_Account"] for m in page["MemberList"]] == ["tommy"]
    page = await post(G + "get_group_member_info", '{"GroupId":"strs","Limit":"1","Offset":"0"}')
    bob = page["MemberList"][0]
    assert bob["Member_Account"] == "bob" and bob["JoinTime"] == 1448357837
    assert bob["MuteUntil"] > 1448357837
    info = (await post(G + "get_group_info", '{"GroupIdList":["strs"]}'))["GroupInfo"][0]
    assert info["MaxMemberNum"] == 60
    listed = await post(G + "get_appid_group_list", '{"Limit":"1","Next":"0"}')
    assert listed["ErrorCode"] == 0 and len(listed["GroupIdList"]) == 1


async def test_command_type_and_marks_as_strings(app, post):
    online = {"GroupId": "av", "Account": "bob", "Online": True}
    assert (await post.http.post("/emulator/online", json=online)).json()["ErrorCode"] == 0
    body = '{"GroupId":"av","CommandType":"1","MemberList":[{"Member_Account":"bob","Marks":["1000"]}]}'  # noqa: E501
    answer = await post(AV + "modify_user_info", body)
    assert answer["ErrorCode"] == 0 and answer["CommandType"] == 1
    assert answer["MemberList"] == [{"Member_Account": "bob", "Marks": [1000]}]
    members = await post(AV + "get_members", '{"GroupId":"av","Timestamp":"0","Mark":"1000"}')
    assert [m["Member_Account"] for m in members["MemberList"]] == ["bob"]


@pytest.mark.parametrize(
    "value", ['"abc"', '"1.5"', '" 5"', '"5 "', "1.5", "true", '""', '"99999999999999999999"']
)
async def test_strings_that_are_not_decimal_integers_are_refused(post, value):
    # Integer fields (seed 003's MaxMemberNum, seed 001's MuteTime): anything but an integer
    # or its decimal digits is an invalid parameter, 10004.
    body = f'{{"GroupId":"pub","MaxMemberNum":{value}}}'
    assert (await post(G + "modify_group_base_info", body))["ErrorCode"] == 10004


# -- transport shapes ------------------------------------------------------------------------


async def test_trailing_commas_are_accepted(post):
    # Seed 000's modify_user_info samples end their MemberList with "},]}"; clients copy them.
    body = '{"GroupId":"pub","AppDefinedData":[{"Key":"k","Value":"v",},],"Name":"t",}'
    assert (await post(G + "modify_group_base_info", body))["ErrorCode"] == 0
    info = (await post(G + "get_group_info", '{"GroupIdList":["pub",],}'))["GroupInfo"][0]
    assert info["Name"] == "t" and info["AppDefinedData"] == [{"Key": "k", "Value": "v"}]
    # A comma inside a string is data, not syntax.
    body = '{"GroupId":"pub","Introduction":"a,]b,}",}'
    assert (await post(G + "modify_group_base_info", body))["ErrorCode"] == 0
    info = (await post(G + "get_group_info", '{"GroupIdList":["pub"]}'))["GroupInfo"][0]
    assert info["Introduction"] == "a,]b,}"
    # Still not JSON: an empty element, a doubled comma, a comment: 60003.
    for raw in ('{"GroupIdList":[,]}', '{"GroupIdList":["pub",,]}', '{"GroupIdList":[] // x\n}'):
        assert (await post(G + "get_group_info", raw))["ErrorCode"] == 60003, raw


async def test_without_content_type_or_with_a_form_content_type(post):
    # The body is read as JSON whatever the headers say: the REST overview names no header, and
    # PHP's curl with CURLOPT_POSTFIELDS (Tencent's old TimRestApi sample) sends a form type.
    body = '{"GroupIdList":["pub"]}'
    assert (await post(G + "get_group_info", body))["ErrorCode"] == 0  # httpx adds none here
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await post(G + "get_group_info", body, headers=form))["ErrorCode"] == 0
    text = {"Content-Type": "text/plain; charset=utf-8"}
    assert (await post(G + "get_group_info", body, headers=text))["ErrorCode"] == 0


async def test_contenttype_in_capitals_is_refused(post):
    # EN-34620 (and its TRTC sibling 647/63417): "both parameter names and their values are
    # case-sensitive", and contenttype "is fixed to json". The docs are clear here, so the
    # emulator refuses JSON with the request-format code, 60002, rather than guess.
    body = '{"GroupIdList":["pub"]}'
    assert (await post(G + "get_group_info", body, contenttype="JSON"))["ErrorCode"] == 60002
    assert (await post(G + "get_group_info", body, contenttype="json"))["ErrorCode"] == 0


async def test_a_documented_refusal_stays_one_in_a_third_party_shape(post):
    # Leniency about the shape never changes a rule: seed 002's batch limit (10005) and the
    # AVChatRoom type rule (10007) answer the same for string numbers and trailing commas.
    many = ",".join(f'{{"Member_Account":"m{i}","JoinTime":"1448357837"}}' for i in range(301))
    assert (await post(G + "import_group_member", f'{{"GroupId":"pub","MemberList":[{many},]}}'))[
        "ErrorCode"
    ] == 10005
    body = '{"GroupId":"av","MemberList":[{"Member_Account":"bob","JoinTime":"1448357837"},]}'
    assert (await post(G + "import_group_member", body))["ErrorCode"] == 10007
