"""Community topics and permission settings, end to end against the embedded emulator:
support_topic at creation only, topics created, modified and destroyed only with the explicit
opt-in, enable_permission and default_permission, export round trips, and located errors where
the keys do not apply."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from conftest import Workspace, cli_in_process
from test_e2e_groupapi import calls, observe_calls

from reconciler.tim import wire

GID = "@TGS#_hub"


def community(**extra: Any) -> dict[str, Any]:
    return {"id": GID, "type": "Community", "name": "Hub", "owner": "o1", **extra}


TOPICS = [
    {"id": "general", "name": "General", "introduction": "Talk", "custom_string": "x" * 3000},
    {"id": "news", "name": "News", "mute_all": True, "notification": "Read only"},
]


def live_topics(ws: Workspace) -> dict[str, dict[str, Any]]:
    return ws.live(GID)["Topics"]


def test_topics_are_created_with_the_community_then_modified_and_plan_after_is_empty(
    ws: Workspace,
) -> None:
    ws.write([community(support_topic=True, topics=TOPICS)])
    run = ws.plan()
    assert run.code == 0, run
    assert "support_topic: true" in run.out and "+ topic general" in run.out, run
    # One create_group, one create_topic per topic, and the muted one modified after (the
    # create call carries no mute-all).
    assert calls(ws) == {
        "create_group": 1,
        "create_topic": 2,
        "modify_topic": 1,
        "multiaccount_import": 1,
    }
    ws.converge()
    topics = live_topics(ws)
    assert set(topics) == {f"{GID}@TOPIC#_general", f"{GID}@TOPIC#_news"}
    assert topics[f"{GID}@TOPIC#_news"]["ShutUpAllMember"] == 1
    assert len(topics[f"{GID}@TOPIC#_general"]["CustomString"]) == 3000

    changed = [dict(TOPICS[0], name="Lobby"), dict(TOPICS[1], mute_all=False)]
    ws.write([community(support_topic=True, topics=changed)])
    run = ws.plan()
    assert "~ topic general" in run.out and '"General" -> "Lobby"' in run.out, run
    assert calls(ws) == {"modify_topic": 2}
    ws.converge()
    assert live_topics(ws)[f"{GID}@TOPIC#_general"]["TopicName"] == "Lobby"


def test_a_topic_is_destroyed_only_with_state_absent_and_allow_destroy(ws: Workspace) -> None:
    ws.write([community(support_topic=True, topics=TOPICS)])
    ws.converge()
    # Left out of the list: left alone.
    ws.write([community(support_topic=True, topics=TOPICS[:1])])
    ws.assert_clean()
    ws.write([community(support_topic=True, topics=[TOPICS[0], {"id": "news", "state": "absent"}])])
    run = ws.plan()
    assert "- topic news: destroy (needs --allow-destroy)" in run.out, run
    refused = ws.apply()
    assert refused.code == 3 and "news" in refused.text, refused
    assert f"{GID}@TOPIC#_news" in live_topics(ws)
    ws.converge("--allow-destroy")
    assert set(live_topics(ws)) == {f"{GID}@TOPIC#_general"}


def test_support_topic_cannot_change_on_an_existing_group(ws: Workspace) -> None:
    ws.write([community()])
    ws.converge()
    ws.write([community(support_topic=True, topics=TOPICS)])
    run = ws.plan()
    assert run.code == 1, run
    assert "must be recreated" in run.text and "SupportTopic only at creation" in run.text, run
    assert "would have to be destroyed and created again" in run.text, run
    assert "Hint:" in run.text
    assert ws.apply().code == 1
    assert "Topics" not in ws.live(GID)


def test_permission_settings_converge_and_export_round_trips(ws: Workspace) -> None:
    ws.write([community(support_topic=True, enable_permission=True, default_permission=5,
                        topics=TOPICS)])  # fmt: skip
    ws.converge()
    live = ws.live(GID)
    assert live["EnablePermission"] == 1 and live["DefaultPermission"] == 5
    ws.write([community(support_topic=True, enable_permission=True, default_permission=3)])
    assert calls(ws) == {"modify_group_base_info": 1}
    ws.converge()
    assert ws.live(GID)["DefaultPermission"] == 3

    out = ws.dir.parent / "export.yaml"  # outside: the config declares the group already
    run = cli_in_process("export", str(ws.dir), "--group", GID, "--output", str(out))
    assert run.code == 0, run
    text = out.read_text()
    for key in ("support_topic: true", "enable_permission: true", "default_permission: 3",
                "topics:", "custom_string:", "mute_all: true"):  # fmt: skip
        assert key in text, text
    run = cli_in_process("plan", str(out), "--detailed-exitcode")  # the export alone
    assert run.code == 0 and "No changes." in run.out, run


def test_topics_are_read_with_one_call_and_only_when_declared(ws: Workspace) -> None:
    ws.write([community(support_topic=True, topics=TOPICS)])
    ws.converge()
    assert observe_calls(ws) == {"get_group_info": 1, "get_topic": 1}
    ws.write([community(support_topic=True)])
    assert observe_calls(ws) == {"get_group_info": 1}


def test_plan_json_carries_topic_changes(ws: Workspace) -> None:
    ws.write([community(support_topic=True, topics=TOPICS[:1])])
    doc = json.loads(ws.plan("--format", "json").out)
    (change,) = doc["changes"]
    assert change["topics"][0]["topic"] == "general" and change["topics"][0]["action"] == "create"


@pytest.mark.parametrize(
    ("group", "where", "says"),
    [
        ({"id": "pub", "type": "Public", "name": "P", "topics": TOPICS}, "topics", "Community"),
        (
            {"id": "pub", "type": "Public", "name": "P", "support_topic": True},
            "support_topic",
            "Community groups only",
        ),  # fmt: skip
        (community(topics=TOPICS), "topics", "support_topic: true"),
        (community(enable_permission=True), "enable_permission", "support_topic: true"),
        (
            community(support_topic=True, default_permission=1),
            "default_permission",
            "enable_permission: true",
        ),  # fmt: skip
        (
            community(support_topic=True, topics=[{"id": "t", "name": "n" * 31}]),
            "name",
            "at most 30 bytes",
        ),  # fmt: skip
        (
            community(support_topic=True, topics=[{"id": "t", "custom_string": "é" * 1501}]),
            "custom_string",
            "at most 3000 bytes",
        ),  # fmt: skip
        (
            community(support_topic=True, topics=[{"id": "t", "name": "a"}, {"id": "t"}]),
            "topics",
            "listed twice",
        ),  # fmt: skip
        (
            community(support_topic=True, topics=[{"id": "@TGS#_other@TOPIC#_x", "name": "a"}]),
            "topic ID",
            "is not a topic of",
        ),  # fmt: skip
        (
            community(support_topic=True, topics=[{"id": "t", "nmae": "a"}]),
            "nmae",
            "did you mean 'name'",
        ),  # fmt: skip
    ],
)
def test_topic_keys_are_located_errors_where_they_do_not_apply(
    ws: Workspace, group: dict, where: str, says: str
) -> None:
    path = ws.write([group])
    run = ws.cli("validate", ".")
    assert run.code == 1, run
    assert f"{path.name}:" in run.text and says in run.text, run
    assert where in run.text


def test_a_full_topic_id_is_accepted_and_a_new_topic_needs_a_name(ws: Workspace) -> None:
    ws.write([community(support_topic=True, topics=[{"id": f"{GID}@TOPIC#_general",
                                                     "name": "General"}])])  # fmt: skip
    ws.converge()
    ws.write([community(support_topic=True, topics=[{"id": "general"}, {"id": "new"}])])
    run = ws.plan()
    assert run.code == 1 and "topic 'new' does not exist yet and has no name" in run.text, run


def test_emulator_topic_rules() -> None:
    from conftest import client_for, make_emulator

    from reconciler.tim.errors import TimApiError

    async def go(db) -> None:
        app = make_emulator(db)
        try:
            async with client_for(app, max_attempts=1) as client:
                await client.call("im_open_login_svc", "multiaccount_import", {"Accounts": ["o1"]})
                body = {"Type": "Community", "GroupId": GID, "Name": "Hub", "Owner_Account": "o1"}
                await wire.groups.create_group(client, {**body})
                with pytest.raises(TimApiError) as err:  # no SupportTopic: no topics
                    await wire.topics.create_topic(client, {"GroupId": GID, "TopicName": "t"})
                assert err.value.code == 10007
                await wire.groups.destroy_group(client, GID)
                await wire.groups.create_group(client, {**body, "SupportTopic": 1})
                for bad in ({"TopicName": "n" * 31}, {"TopicName": ""},
                            {"TopicName": "t", "TopicId": "@TGS#_x@TOPIC#_y"},
                            {"TopicName": "t", "CustomString": "x" * 3001}):  # fmt: skip
                    with pytest.raises(TimApiError) as err:
                        await wire.topics.create_topic(client, {"GroupId": GID, **bad})
                    assert err.value.code == 10004, bad
                tid = f"{GID}@TOPIC#_a"
                await wire.topics.create_topic(
                    client, {"GroupId": GID, "TopicId": tid, "TopicName": "A"}
                )
                with pytest.raises(TimApiError) as err:
                    await wire.topics.create_topic(
                        client, {"GroupId": GID, "TopicId": tid, "TopicName": "A"}
                    )
                assert err.value.code == 10021
                auto = await client.call(
                    "million_group_open_http_svc",
                    "create_topic",
                    {"GroupId": GID, "TopicName": "B"},
                )
                assert auto["TopicId"].startswith(f"{GID}@TOPIC#_@TOPIC#")
                assert set(await wire.topics.get_topic(client, GID)) == {
                    "a",
                    auto["TopicId"].split("_", 2)[2],
                }
                with pytest.raises(TimApiError) as err:  # From_Account is required
                    await client.call("million_group_open_http_svc", "get_topic", {"GroupId": GID})
                assert err.value.code == 10004
                with pytest.raises(TimApiError) as err:
                    await wire.topics.modify_topic(
                        client, {"GroupId": GID, "TopicId": f"{GID}@TOPIC#_zz"}
                    )
                assert err.value.code == 10010
                answer = await client.call(
                    "million_group_open_http_svc",
                    "destroy_topic",
                    {"GroupId": GID, "TopicIdList": [tid, f"{GID}@TOPIC#_zz"]},
                )
                codes = [i["ErrorCode"] for i in answer["DestroyResultItem"]]
                assert codes == [0, 110003]  # already deleted (EN-49470)
                await wire.topics.destroy_topic(client, GID, [tid])  # already gone: done
                assert set(await wire.topics.get_topic(client, GID)) == {
                    auto["TopicId"].split("_", 2)[2]
                }
        finally:
            app.state.store.close()

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(go(Path(tmp) / "emu.sqlite3"))


def test_a_members_mute_survives_leaving_and_rejoining_a_public_group(ws: Workspace) -> None:
    """CN 1627: a mute outlives the membership (the emulator used to forget it)."""
    from test_e2e_groupapi import FUTURE

    group = {"id": "pub-m", "type": "Public", "name": "P", "owner": "o1"}
    ws.write([group | {"members": ["o1", {"account": "a", "muted_until": FUTURE}]}])
    ws.converge()
    assert ws.members("pub-m")["a"]["MuteUntil"] > 0
    ws.write([group | {"members": ["o1"]}])
    ws.converge()
    ws.write([group | {"members": ["o1", "a"]}])
    ws.converge()
    assert ws.members("pub-m")["a"]["MuteUntil"] > 0


def pg(**extra: Any) -> dict[str, Any]:
    return {"id": "mods", "name": "Moderators", "permission": 7, **extra}


def with_pgs(groups: list[dict[str, Any]], members: list[str] = ("o1", "a", "b", "c")) -> dict:
    return community(support_topic=True, enable_permission=True, topics=TOPICS,
                     members=list(members), permission_groups=groups)  # fmt: skip


def test_permission_groups_converge_with_members_and_topic_permissions(ws: Workspace) -> None:
    ws.write([with_pgs([pg(members=["a", "b"], topic_permissions={"general": 3})])])
    run = ws.plan()
    assert "+ permission group mods" in run.out and "+ member a" in run.out, run
    ws.converge()
    live = ws.live(GID)["PermissionGroups"]["@PMG#_mods"]
    assert live["Members"] == ["a", "b"] and live["Permission"] == 7
    assert live["TopicPermission"] == {f"{GID}@TOPIC#_general": 3}

    # Members are exact; topic permissions of listed topics are added or set.
    ws.write([with_pgs([pg(permission=1, members=["b", "c"],
                           topic_permissions={"general": 1, "news": 2})])])  # fmt: skip
    assert calls(ws) == {
        "modify_permission_group": 1,
        "add_permission_group_member": 1,
        "delete_permission_group_member": 1,
        "add_topic_permission_group": 1,
        "set_topic_permission_group": 1,
    }
    ws.converge()
    live = ws.live(GID)["PermissionGroups"]["@PMG#_mods"]
    assert live["Members"] == ["b", "c"] and live["Permission"] == 1
    assert live["TopicPermission"] == {f"{GID}@TOPIC#_general": 1, f"{GID}@TOPIC#_news": 2}

    # Export round trip: plan on the export alone is empty.
    out = ws.dir.parent / "export.yaml"  # outside: the config declares the group already
    run = cli_in_process("export", str(ws.dir), "--group", GID, "--output", str(out))
    assert run.code == 0, run
    assert "permission_groups:" in out.read_text()
    run = cli_in_process("plan", str(out), "--detailed-exitcode")  # the export alone
    assert run.code == 0 and "No changes." in run.out, run


def test_a_permission_group_is_deleted_only_with_allow_destroy(ws: Workspace) -> None:
    ws.write([with_pgs([pg(members=["a"])])])
    ws.converge()
    ws.write([with_pgs([])])
    ws.assert_clean()  # not listed: left alone
    ws.write([with_pgs([{"id": "mods", "state": "absent"}])])
    assert "permission group mods: delete (needs --allow-destroy)" in ws.plan().out
    assert ws.apply().code == 3
    ws.converge("--allow-destroy")
    assert ws.live(GID)["PermissionGroups"] == {}


def test_permission_groups_are_read_only_when_declared(ws: Workspace) -> None:
    ws.write([with_pgs([pg(members=["a"])])])
    ws.converge()
    assert observe_calls(ws) == {
        "get_group_info": 1,
        "get_group_member_info": 1,  # a Community's declared members come by paging
        "get_topic": 1,
        "get_permission_group": 1,
        "get_permission_group_member_list": 1,  # members declared; topic permissions are not
    }


@pytest.mark.parametrize(
    ("pgs", "says"),
    [
        ([pg(name="n" * 151)], "at most 150 bytes"),
        ([pg(), pg()], "listed twice"),
        ([pg(members=["a", "a"])], "listed twice"),
        ([pg(topic_permissions={"@TGS#_x@TOPIC#_y": 1})], "is not a topic of"),
        ([pg(permission=-1)], "permission"),
    ],
)
def test_permission_group_errors_are_located(ws: Workspace, pgs: list, says: str) -> None:
    path = ws.write([with_pgs(pgs)])
    run = ws.cli("validate", ".")
    assert run.code == 1 and f"{path.name}:" in run.text and says in run.text, run


def test_a_topic_permission_on_a_topic_declared_absent_is_a_located_error(
    ws: Workspace,
) -> None:
    group = with_pgs([pg(topic_permissions={"news": 1})])
    group["topics"] = [TOPICS[0], {"id": "news", "state": "absent"}]
    path = ws.write([group])
    run = ws.cli("validate", ".")
    assert run.code == 1 and f"{path.name}:" in run.text, run
    assert "declared `state: absent`" in run.text, run


def test_an_empty_topic_or_permission_group_list_costs_no_read(ws: Workspace) -> None:
    ws.write([community(support_topic=True, topics=[], permission_groups=[])])
    ws.converge()
    assert observe_calls(ws) == {"get_group_info": 1}


def test_permission_groups_need_a_community_with_topics(ws: Workspace) -> None:
    ws.write([community(permission_groups=[pg()])])
    run = ws.cli("validate", ".")
    assert run.code == 1 and "support_topic: true" in run.text, run


class EditionLacks(httpx.AsyncBaseTransport):
    """The emulator, except that ``apis`` fail with ``code`` (10059: the app's edition lacks
    them, as the AVChatRoom admin, mute and ban reads do for an app below the Pro edition)."""

    def __init__(self, app: Any, apis: set[str], code: int = 10059) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._apis, self._code = apis, code

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.rsplit("/", 1)[-1] in self._apis:
            answer = {"ActionStatus": "FAIL", "ErrorCode": self._code, "ErrorInfo": "no"}
            return httpx.Response(200, json=answer)
        return await self._inner.handle_async_request(request)


def test_export_leaves_out_room_reads_the_edition_lacks_with_one_warning(ws: Workspace) -> None:
    from conftest import ADMIN, LOCAL_KEY, SDKAPPID, make_emulator

    from reconciler.export import export_groups
    from reconciler.tim.client import TimClient
    from reconciler.tim.errors import TimApiError

    room = {"id": "live-x", "type": "AVChatRoom", "name": "Live", "owner": "o1"}
    ws.write([room | {"admins": ["a1"]}])
    ws.converge()
    out = ws.dir.parent / "export.yaml"  # outside: the config declares the group already
    room_reads = {"get_admin_list", "get_group_muted_account", "get_group_ban_member"}

    async def go(code: int) -> list[str]:
        app = make_emulator(ws.db)
        try:
            transport = EditionLacks(app, room_reads, code)
            async with TimClient(sdkappid=SDKAPPID, admin=ADMIN, secret_key=LOCAL_KEY,
                                 base_url="http://emu", transport=transport) as client:  # fmt: skip
                return await export_groups(client, {"sdkappid": SDKAPPID}, ["live-x"], str(out))
        finally:
            app.state.store.close()

    lines = asyncio.run(go(10059))
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1 and "get_admin_list" in warnings[0], lines
    text = out.read_text()
    assert "live-x" in text and "admins:" not in text, text
    # Any other failure still fails the export.
    with pytest.raises(TimApiError):
        asyncio.run(go(10004))


def test_a_saved_plan_with_topics_and_permission_groups_applies_as_reviewed(
    ws: Workspace,
) -> None:
    ws.write([with_pgs([pg(members=["a"], topic_permissions={"news": 2})])])
    saved = ws.dir / "plan.json"
    assert ws.plan("--out", str(saved)).code == 0
    shown = ws.cli("show", str(saved))
    assert "+ topic news" in shown.out and "+ permission group mods" in shown.out, shown
    run = ws.cli("apply", "--plan", str(saved), "--auto-approve")
    assert run.code == 0, run
    ws.assert_clean()
    live = ws.live(GID)
    assert live["PermissionGroups"]["@PMG#_mods"]["TopicPermission"] == {f"{GID}@TOPIC#_news": 2}

    # A console edit of a declared topic between plan and apply makes the saved plan stale.
    ws.write([with_pgs([pg(members=["a"], topic_permissions={"news": 2})])
              | {"topics": [dict(TOPICS[0], name="Renamed"), TOPICS[1]]}])  # fmt: skip
    assert ws.plan("--out", str(saved)).code == 0
    from conftest import client_for, make_emulator

    async def edit() -> None:
        app = make_emulator(ws.db)
        try:
            async with client_for(app) as client:
                await wire.topics.modify_topic(
                    client,
                    {"GroupId": GID, "TopicId": f"{GID}@TOPIC#_general", "TopicName": "Edited"},
                )
        finally:
            app.state.store.close()

    asyncio.run(edit())
    stale = ws.cli("apply", "--plan", str(saved), "--auto-approve")
    assert stale.code == 1 and "stale" in stale.text, stale


def test_a_saved_plan_for_a_community_with_topics_is_not_stale_when_nothing_changed(
    ws: Workspace,
) -> None:
    """The stale check reads SupportTopic, EnablePermission and DefaultPermission back (they
    are in its ResponseFilter), so a declared permission switch does not make every saved plan
    of that Community stale."""
    group = with_pgs([pg(members=["a"])]) | {"default_permission": 1}
    ws.write([group])
    ws.converge()
    ws.write([group | {"notification": "new notice"}])
    saved = ws.dir / "plan.json"
    assert ws.plan("--out", str(saved)).code == 0
    run = ws.cli("apply", "--plan", str(saved), "--auto-approve")
    assert run.code == 0, run
    assert ws.live(GID)["Notification"] == "new notice"
    ws.assert_clean()


def test_emulator_permission_group_rules(tmp_path) -> None:
    from conftest import client_for, make_emulator

    from reconciler.tim.errors import TimApiError

    async def go() -> None:
        app = make_emulator(tmp_path / "emu.sqlite3")
        try:
            async with client_for(app, max_attempts=1) as client:

                async def code(api: str, body: dict) -> int:
                    try:
                        await client.call("group_open_http_svc", api, {"GroupId": GID, **body})
                    except TimApiError as err:
                        return err.code
                    return 0

                accounts = ["o1", "a", "out", *(f"m{i:03d}" for i in range(101))]
                for i in range(0, len(accounts), 100):
                    await wire.accounts.multiaccount_import(client, accounts[i : i + 100])
                body = {"Type": "Community", "GroupId": GID, "Name": "Hub", "Owner_Account": "o1"}
                await wire.groups.create_group(client, body)
                pgid = {"PermissionGroupId": "@PMG#_mods"}
                create = {**pgid, "PermissionGroupName": "Mods", "Permission": 0}
                assert await code("create_permission_group", create) == 10007  # no topics
                await wire.groups.destroy_group(client, GID)
                await wire.groups.create_group(client, {**body, "SupportTopic": 1, "MemberList": [
                    {"Member_Account": "a"}, *({"Member_Account": f"m{i:03d}"} for i in range(99))
                ]})  # fmt: skip
                bad_name = {**create, "PermissionGroupName": "n" * 151}
                assert await code("create_permission_group", bad_name) == 10004
                bad_id = {**create, "PermissionGroupId": "mods"}
                assert await code("create_permission_group", bad_id) == 10004
                # Permission is required on create (CN-103966); "@PMG#_@PMG#" is the server's.
                no_bits = {k: v for k, v in create.items() if k != "Permission"}
                assert await code("create_permission_group", no_bits) == 10004
                server_id = {**create, "PermissionGroupId": "@PMG#_@PMG#x"}
                assert await code("create_permission_group", server_id) == 10004
                assert await code("create_permission_group", create) == 0
                assert await code("create_permission_group", create) == 10021

                def members(*names: str) -> dict:
                    return {**pgid, "MemberList": [{"Member_Account": n} for n in names]}

                # Each account's own Result (CN-103974): not a member of the Community: 0.
                added = await client.call(
                    "group_open_http_svc",
                    "add_permission_group_member",
                    {"GroupId": GID, **members("out")},
                )
                assert added["MemberList"] == [{"Member_Account": "out", "Result": 0}]
                many = members(*(f"m{i:03d}" for i in range(101)))
                assert await code("add_permission_group_member", many) == 10005
                assert await code("add_permission_group_member", members("a")) == 0
                assert await wire.permission_groups.get_permission_group_member_list(
                    client, GID, "@PMG#_mods"
                ) == ["a"]
                tid = f"{GID}@TOPIC#_t"
                perm = {**pgid, "TopicPermissionList": [{"TopicId": tid, "Permission": 1}]}
                assert await code("add_topic_permission_group", perm) == 10010  # no such topic
                await wire.topics.create_topic(
                    client, {"GroupId": GID, "TopicId": tid, "TopicName": "T"}
                )
                assert await code("set_topic_permission_group", perm) == 10004  # none to set
                assert await code("add_topic_permission_group", perm) == 0
                assert await code("add_topic_permission_group", perm) == 10004  # set it instead
                assert await wire.permission_groups.get_topic_permission_group(
                    client, GID, "@PMG#_mods"
                ) == {"t": 1}
                # Leaving the community leaves its permission groups; a destroyed topic drops
                # its permissions.
                await wire.members.delete_group_member(client, GID, ["a"])
                assert (
                    await wire.permission_groups.get_permission_group_member_list(
                        client, GID, "@PMG#_mods"
                    )
                    == []
                )
                await wire.topics.destroy_topic(client, GID, [tid])
                assert (
                    await wire.permission_groups.get_topic_permission_group(
                        client, GID, "@PMG#_mods"
                    )
                    == {}
                )
                destroy = {"PermissionGroupIdList": ["@PMG#_mods"]}
                assert await code("destroy_permission_group", destroy) == 0
                assert await wire.permission_groups.get_permission_group(client, GID) == {}
        finally:
            app.state.store.close()

    asyncio.run(go())


def test_export_leaves_out_topic_reads_the_edition_lacks(ws: Workspace) -> None:
    from conftest import ADMIN, LOCAL_KEY, SDKAPPID, make_emulator

    from reconciler.export import export_groups
    from reconciler.tim.client import TimClient

    ws.write([with_pgs([pg(members=["a"])])])
    ws.converge()
    out = ws.dir.parent / "export.yaml"  # outside: the config declares the group already

    async def go() -> list[str]:
        app = make_emulator(ws.db)
        try:
            transport = EditionLacks(app, {"get_topic", "get_permission_group"})
            async with TimClient(sdkappid=SDKAPPID, admin=ADMIN, secret_key=LOCAL_KEY,
                                 base_url="http://emu", transport=transport) as client:  # fmt: skip
                return await export_groups(client, {"sdkappid": SDKAPPID}, [GID], str(out))
        finally:
            app.state.store.close()

    lines = asyncio.run(go())
    (warning,) = [line for line in lines if line.startswith("warning:")]
    assert "get_permission_group, get_topic" in warning, lines
    text = out.read_text()
    assert "support_topic: true" in text and "topics:" not in text, text
    assert "permission_groups:" not in text
