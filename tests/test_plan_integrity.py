"""What is reviewed is what runs: a saved plan changed after `plan --out` made it applies nothing.

Set-up (issue 25): Public groups g1 {o1, a, b, c} and g2 {o1, x, y} applied; the config renames
g1; `plan --out p.json`. Each test edits p.json and runs `apply --plan p.json --auto-approve`:
it must exit 1 with a message that says why, make no call (the client is never built), and
leave the emulator's state as it was.

Two kinds of edit: those of someone without the app's secret key (the MAC refuses them), and
those re-signed with the key (a holder of the key, or a bug): the strict reader refuses what
the planner never writes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Workspace, sign_plan, split_plan

from reconciler import engine, planfile

Doc = dict[str, Any]


def _g1(name: str = "G1") -> dict:
    return {
        "id": "g1",
        "type": "Public",
        "name": name,
        "owner": "o1",
        "members": ["o1", "a", "b", "c"],
    }


G2 = {"id": "g2", "type": "Public", "name": "G2", "owner": "o1", "members": ["o1", "x", "y"]}


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The applied app and the reviewed plan (the rename of g1), made once for the module."""
    ws = Workspace(tmp_path_factory.mktemp("reviewed") / "cfg")
    ws.dir.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("TIM_SECRET_KEY", raising=False)
        ws.write([_g1(), G2])
        ws.converge()
        ws.write([_g1("G1b"), G2])
        run = ws.plan("--out", "p.json")
    assert run.code == 0, run
    return ws.dir


@pytest.fixture
def case(reviewed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.delenv("TIM_SECRET_KEY", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    shutil.copytree(reviewed, tmp_path / "cfg")
    ws = Workspace(tmp_path / "cfg")
    # The plan names its emulator's file by absolute path: point the copy at its own file.
    path = ws.dir / "p.json"
    _, doc = split(path.read_bytes())
    doc["app"]["local_db"] = str(ws.db)
    path.write_bytes(sign(doc))
    return ws


split, sign = split_plan, sign_plan


def refused(ws: Workspace, monkeypatch: pytest.MonkeyPatch, *needles: str, args=()) -> None:
    """apply --plan exits 1 naming the cause, having built no client and changed nothing."""
    before = ws.dump()
    built: list[object] = []

    def no_client(*a: object, **kw: object) -> None:
        built.append(a)
        raise AssertionError("a client was built for a refused plan")

    monkeypatch.setattr(engine, "make_client", no_client)
    run = ws.cli("apply", *args, "--plan", "p.json", "--auto-approve")
    assert run.code == 1, run
    for needle in needles:
        assert needle in run.err, run
    assert "G1b" not in run.out + run.err  # the reviewed view is not shown for a refused file
    assert not built and ws.dump() == before


def op(doc: Doc, api: str) -> Doc:
    return next(o for o in doc["operations"] if o["api"] == api)


def remove_x_from_g2(doc: Doc) -> None:
    doc["operations"].append(
        {
            "group": "g2",
            "step": "remove_members",
            "api": "delete_group_member",
            "request": {"group_id": "g2", "accounts": ["x"]},
        }
    )


# --- the issue's numbered findings, edited without the key ----------------------------------

Edit = Callable[[Doc], None]


def _filed_under_g1(doc: Doc) -> None:
    remove_x_from_g2(doc)
    doc["operations"][-1]["group"] = "g1"


def _destroy_g2_in_base(doc: Doc) -> None:
    doc["operations"].append(
        {"group": "g2", "step": "base", "api": "destroy_group", "request": {"group_id": "g2"}}
    )


def _evil_name(doc: Doc) -> None:
    op(doc, "modify_group_base_info")["request"]["name"] = "EVIL"


def _no_fingerprints(doc: Doc) -> None:
    doc["fingerprints"] = []


def _accounts_string(doc: Doc) -> None:
    doc["operations"].append(
        {
            "group": "g1",
            "step": "remove_members",
            "api": "delete_group_member",
            "request": {"group_id": "g1", "accounts": "ab"},
        }
    )


def _view_null(doc: Doc) -> None:
    doc["view"] = None
    _accounts_string(doc)


def _other_app(doc: Doc) -> None:
    doc["app"]["sdkappid"] = 1400000002


def _other_endpoint(doc: Doc) -> None:
    doc["endpoint"] = "http://127.0.0.1:9"
    doc["app"]["endpoint"] = "http://127.0.0.1:9"


def _tool_version(doc: Doc) -> None:
    doc["tool_version"] = "9.9.9"


def _unknown_step(doc: Doc) -> None:
    op(doc, "modify_group_base_info")["step"] = "no_such_step"


def _view_wrong_type(doc: Doc) -> None:
    doc["view"] = "a string"


ISSUE_EDITS: dict[str, Edit] = {
    "1 operation for an untouched group": remove_x_from_g2,
    "2 request for another group than its operation": _filed_under_g1,
    "3 destroy filed under base": _destroy_g2_in_base,
    "4 edited request value": _evil_name,
    "5 fingerprints emptied": _no_fingerprints,
    "6 accounts as a string": _accounts_string,
    "8 view null and a removal": _view_null,
    "9 another sdkappid": _other_app,
    "9 another endpoint": _other_endpoint,
    "9 another tool_version": _tool_version,
    "10 unknown step": _unknown_step,
    "10 view of the wrong type": _view_wrong_type,
}


@pytest.mark.parametrize("edit", ISSUE_EDITS.values(), ids=ISSUE_EDITS.keys())
def test_an_edit_without_the_key_is_refused_by_the_mac(
    case: Workspace, monkeypatch: pytest.MonkeyPatch, edit: Edit
) -> None:
    path = case.dir / "p.json"
    line, doc = split(path.read_bytes())
    edit(doc)
    path.write_bytes(line[:-1] + b",\n" + orjson.dumps(doc, option=orjson.OPT_INDENT_2)[2:] + b"\n")
    refused(case, monkeypatch, "p.json", "changed after plan made it", "nothing was applied")


def test_a_second_operations_key_is_refused(case: Workspace, monkeypatch) -> None:
    """7: two `operations` keys (the second would win in a JSON reader)."""
    path = case.dir / "p.json"
    data = path.read_bytes()
    path.write_bytes(data[:-2] + b',\n  "operations": []\n}\n')
    refused(case, monkeypatch, "changed after plan made it")


# --- re-signed with the key: the strict reader refuses what the planner never writes ---------

SIGNED_EDITS: dict[str, tuple[Edit, str]] = {
    "untouched group": (remove_x_from_g2, "not one the plan touches"),
    "request for another group": (_filed_under_g1, "its request is for group 'g2'"),
    "destroy in base": (_destroy_g2_in_base, "destroy_group.step"),
    "fingerprints a list": (_no_fingerprints, "fingerprints"),
    "accounts a string": (_accounts_string, "accounts"),
    "unknown step": (_unknown_step, "step"),
    "view of the wrong type": (_view_wrong_type, "view"),
}


@pytest.mark.parametrize(("edit", "needle"), SIGNED_EDITS.values(), ids=SIGNED_EDITS.keys())
def test_a_signed_file_the_planner_did_not_write_is_refused(
    case: Workspace, monkeypatch: pytest.MonkeyPatch, edit: Edit, needle: str
) -> None:
    path = case.dir / "p.json"
    _, doc = split(path.read_bytes())
    edit(doc)
    path.write_bytes(sign(doc))
    refused(case, monkeypatch, "p.json", needle)


def test_a_destroy_is_recognised_from_the_operations_whatever_the_file_says(
    case: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signed destroy of a group declared absent still needs --allow-destroy at apply."""
    path = case.dir / "p.json"
    _, doc = split(path.read_bytes())
    next(g for g in doc["groups"] if g["id"] == "g1")["state"] = "absent"
    doc["operations"] = [
        {"group": "g1", "step": "destroy", "api": "destroy_group", "request": {"group_id": "g1"}}
    ]
    doc["counts"]["groups_destroy"] = 0  # what the file claims does not matter
    path.write_bytes(sign(doc))
    before = case.dump()
    run = case.cli("apply", "--plan", "p.json", "--auto-approve")
    assert run.code == 3 and "--allow-destroy" in run.err, run
    assert case.dump() == before


def test_the_view_shown_is_made_from_the_operations_not_the_stored_view(
    case: Workspace,
) -> None:
    path = case.dir / "p.json"
    _, doc = split(path.read_bytes())
    doc["view"]["changes"] = []  # a stored view that hides the rename
    path.write_bytes(sign(doc))
    shown = case.cli("show", "p.json")
    assert shown.code == 0 and '~ name: "G1" -> "G1b"' in shown.out, shown


# --- a plan signed for one app or key is refused by an apply holding another ---------------


def test_a_plan_signed_with_another_key_is_refused(
    case: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = case.dir / "p.json"
    _, doc = split(path.read_bytes())
    path.write_bytes(sign(doc, key="another-apps-key"))
    refused(case, monkeypatch, "another app or with another secret key")


def test_a_plan_made_under_one_key_is_refused_when_apply_holds_another(
    case: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIM_SECRET_KEY", "the-key-of-this-run-0123456789")
    refused(case, monkeypatch, "another app or with another secret key")


def test_a_plan_signed_for_another_app_is_refused(
    case: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = case.dir / "p.json"
    _, doc = split(path.read_bytes())
    doc["app"]["sdkappid"] = 1400000009
    path.write_bytes(sign(doc, sdkappid=1400000000))
    refused(case, monkeypatch, "names another app than its content")


def test_apply_with_a_config_of_another_app_refuses_the_plan(
    case: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    case.write([_g1("G1b"), G2], app={**case.app, "sdkappid": 1400000005})
    refused(
        case, monkeypatch, "made for app 1400000000", "config is for app 1400000005", args=(".")
    )


def test_an_unchanged_plan_applies_and_converges(case: Workspace) -> None:
    shown = case.cli("show", "p.json")
    assert shown.code == 0 and '~ name: "G1" -> "G1b"' in shown.out, shown
    run = case.cli("apply", "--plan", "p.json", "--auto-approve")
    assert run.code == 0 and '~ name: "G1" -> "G1b"' in run.err + run.out, run
    assert case.live("g1")["Name"] == "G1b"
    case.assert_clean()


def test_the_text_a_saved_plan_shows_is_the_text_plan_showed(case: Workspace) -> None:
    live = case.plan()
    shown = case.cli("show", "p.json")
    assert shown.out.splitlines()[1:] == live.out.splitlines()[1:]


# --- 25 more tampered files of our own, one idea each, each refused before any call ---------


def _bytes(change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        path.write_bytes(change(path.read_bytes()))

    return apply


def _doc(edit: Edit, *, resign: bool) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        line, doc = split(path.read_bytes())
        edit(doc)
        body = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
        path.write_bytes(sign(doc) if resign else line[:-1] + b",\n" + body[2:] + b"\n")

    return apply


def _set(path: str, value: Any) -> Edit:
    def edit(doc: Doc) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _drop(key: str) -> Edit:
    return lambda doc: doc.pop(key)


def _swap_mac_digit(data: bytes) -> bytes:
    i = data.index(b"hmac-sha256:") + len(b"hmac-sha256:")
    digit = b"0" if data[i : i + 1] != b"0" else b"1"
    return data[:i] + digit + data[i + 1 :]


def _add_op(record: Doc) -> Edit:
    return lambda doc: doc["operations"].append(record)


def _create_g3(doc: Doc) -> None:
    doc["operations"].append(
        {
            "group": "g3",
            "step": "create",
            "api": "create_group",
            "request": {"group_id": "g3", "type": "Public", "name": "x", "members": []},
        }
    )


OWN: dict[str, Callable[[Path], None]] = {
    "MAC digit changed": _bytes(_swap_mac_digit),
    "MAC line removed": _bytes(lambda d: b"{\n" + d.partition(b"\n")[2]),
    "MAC scheme renamed": _bytes(lambda d: d.replace(b"hmac-sha256:", b"hmac-sha1:", 1)),
    "trailing byte appended": _bytes(lambda d: d + b" "),
    "whitespace re-indented": _bytes(lambda d: d.replace(b'\n  "tool"', b'\n    "tool"', 1)),
    "truncated": _bytes(lambda d: d[: len(d) // 2]),
    "empty file": _bytes(lambda d: b""),
    "head names another key variable": _bytes(
        lambda d: d.replace(b'"secret_key_env":"TIM_SECRET_KEY"', b'"secret_key_env":"HOME"', 1)
    ),
    "head claims a real endpoint": _bytes(lambda d: d.replace(b'"local":true', b'"local":false')),
    "signed: unknown top-level field": _doc(_set("extra", 1), resign=True),
    "signed: format_version 5": _doc(_set("format_version", 5), resign=True),
    "signed: tool renamed": _doc(_set("tool", "other-tool"), resign=True),
    "signed: operations dropped key": _doc(_drop("fingerprints"), resign=True),
    "signed: unknown api": _doc(_set("operations.0.api", "delete_everything"), resign=True),
    "signed: unknown request field": _doc(_set("operations.0.request.owner", "x"), resign=True),
    "signed: name a number": _doc(_set("operations.0.request.name", 7), resign=True),
    "signed: marks as strings": _doc(
        _add_op(
            {
                "group": "g1",
                "step": "set_marks",
                "api": "modify_user_info",
                "request": {"group_id": "g1", "marks": {"a": ["1000"]}, "delete": False},
            }
        ),
        resign=True,
    ),
    "signed: set_marks that deletes": _doc(
        _add_op(
            {
                "group": "g1",
                "step": "set_marks",
                "api": "modify_user_info",
                "request": {"group_id": "g1", "marks": {"a": [1000]}, "delete": True},
            }
        ),
        resign=True,
    ),
    "signed: app-wide operation that is not the account import": _doc(
        _add_op(
            {
                "group": "",
                "step": "remove_members",
                "api": "delete_group_member",
                "request": {"group_id": "", "accounts": ["a"]},
            }
        ),
        resign=True,
    ),
    "signed: create of a group the plan does not touch": _doc(_create_g3, resign=True),
    "signed: destroy of a group declared present": _doc(
        _add_op(
            {
                "group": "g1",
                "step": "destroy",
                "api": "destroy_group",
                "request": {"group_id": "g1"},
            }
        ),
        resign=True,
    ),
    "signed: scopes for another group": _doc(
        lambda doc: doc["scopes"].update({"g2": doc["scopes"]["g1"]}), resign=True
    ),
    "signed: app with an unknown field": _doc(_set("app.extra", 1), resign=True),
    "signed: selection a string": _doc(_set("selection.only", "g1"), resign=True),
    "signed: boolean for an int": _doc(
        _add_op(
            {
                "group": "g1",
                "step": "base",
                "api": "modify_group_base_info",
                "request": {"group_id": "g1", "max_members": True},
            }
        ),
        resign=True,
    ),
    "signed: revoke step that adds admins": _doc(
        _add_op(
            {
                "group": "g1",
                "step": "revoke_admins",
                "api": "modify_admin",
                "request": {"group_id": "g1", "accounts": ["a"], "remove": False},
            }
        ),
        resign=True,
    ),
    "not JSON at all": _bytes(lambda d: b"\x00\xff garbage"),
}


@pytest.mark.parametrize("tamper", OWN.values(), ids=OWN.keys())
def test_our_own_tampered_plan_files_are_refused_before_any_call(
    case: Workspace, monkeypatch: pytest.MonkeyPatch, tamper: Callable[[Path], None]
) -> None:
    tamper(case.dir / "p.json")
    refused(case, monkeypatch, "p.json")


def test_show_refuses_a_changed_file_too(case: Workspace) -> None:
    path = case.dir / "p.json"
    path.write_bytes(_swap_mac_digit(path.read_bytes()))
    run = case.cli("show", "p.json")
    assert run.code == 1 and "changed after plan made it" in run.err, run


def test_the_plan_file_matches_its_json_schema(case: Workspace) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = orjson.loads((Path(__file__).parents[1] / "schemas" / "plan.schema.json").read_bytes())
    jsonschema.validate(orjson.loads((case.dir / "p.json").read_bytes()), schema)


def test_the_committed_plan_schema_is_the_generated_one() -> None:
    committed = orjson.loads(planfile.SCHEMA_PATH.read_bytes())
    assert committed == orjson.loads(orjson.dumps(planfile.json_schema())), (
        "schemas/plan.schema.json is stale: "
        "run `reconciler schema --plan -o schemas/plan.schema.json`"
    )


def test_plan_out_refuses_the_runs_own_config_and_foreign_files(case: Workspace) -> None:
    config = case.dir / "groups.yaml"
    text = config.read_text()
    run = case.plan("--out", "groups.yaml")
    assert run.code == 1 and "is an input of this run" in run.err, run
    assert config.read_text() == text
    notes = case.dir / "notes.txt"
    notes.write_text("mine\n")
    run = case.plan("--out", "notes.txt")
    assert run.code == 1 and "exists and is not a plan file" in run.err, run
    assert notes.read_text() == "mine\n"
    assert case.plan("--out", "notes.txt", "--force").code == 0
    assert case.plan("--out", "p.json").code == 0  # a plan file is replaced


# --- what a saved plan shows is the text plan printed, for every kind of change -------------

_ROOM = {
    "id": "room",
    "type": "AVChatRoom",
    "name": "Room",
    "admins": ["h1"],
    "muted": {"m1": "2030-01-01T00:00:00Z"},
    "banned": {"b1": "2030-01-01T00:00:00Z"},
    "marks": {1000: ["h1"]},
}
_COMMUNITY = {
    "id": "@TGS#_c1",
    "type": "Community",
    "name": "C",
    "owner": "o1",
    "support_topic": True,
    "members": ["o1", "a", "b"],
    "topics": [{"id": "t1", "name": "T1"}, {"id": "t2", "name": "T2"}],
    "permission_groups": [
        {
            "id": "p1",
            "name": "P1",
            "permission": 1,
            "members": ["a"],
            "topic_permissions": {"t1": 1},
        }
    ],
}

CHANGES: dict[str, tuple[list[dict], list[dict]]] = {
    "profile, custom data, owner and members": (
        [{**_g1(), "custom": {"K": "v"}, "max_members": 50}],
        [
            {
                "id": "g1",
                "type": "Public",
                "name": "G1b",
                "owner": "a",
                "introduction": "new",
                "custom": {"K": "w"},
                "max_members": 10,
                "members": [
                    "o1",
                    {"account": "a", "name_card": "A"},
                    {"account": "b", "role": "Admin", "msg_flag": "Discard"},
                    {"account": "d", "muted_until": "2030-01-01T00:00:00Z"},
                ],
            }
        ],
    ),
    "room admins, mutes, bans and marks": (
        [_ROOM],
        [
            {
                **_ROOM,
                "admins": ["h2"],
                "muted": {"m1": None, "m2": "2031-01-01T00:00:00Z"},
                "banned": {"b1": None, "b2": "2031-01-01T00:00:00Z"},
                "marks": {1000: ["h2"]},
            }
        ],
    ),
    "topics and permission groups": (
        [_COMMUNITY],
        [
            {
                **_COMMUNITY,
                "topics": [
                    {"id": "t1", "name": "T1b", "mute_all": True},
                    {"id": "t3", "name": "T3"},
                ],
                "permission_groups": [
                    {
                        "id": "p1",
                        "name": "P1b",
                        "permission": 3,
                        "members": ["b"],
                        "topic_permissions": {"t1": 3},
                    },
                    {"id": "p2", "name": "P2", "permission": 1},
                ],
            }
        ],
    ),
    "a destroy": ([_g1(), G2], [_g1(), {**G2, "state": "absent"}]),
}


@pytest.mark.parametrize(("first", "then"), CHANGES.values(), ids=CHANGES.keys())
def test_a_saved_plan_shows_what_plan_showed(
    ws: Workspace, first: list[dict], then: list[dict]
) -> None:
    ws.write(first)
    ws.seed([], ["h1", "h2"])
    ws.converge()
    if then[0]["id"] == "room":  # marks are set and deleted on members who are online
        for host in ("h1", "h2"):
            ws.control("online", GroupId="room", Account=host, Online=True)
    ws.write(then)
    live = ws.plan("--out", "p.json", "--force")
    assert live.code == 0, live
    for fmt in ("text", "json"):
        planned = ws.plan("--format", fmt).out
        shown = ws.cli("show", "p.json", "--format", fmt).out
        if fmt == "json":
            planned_doc, shown_doc = json.loads(planned), json.loads(shown)
            assert {**planned_doc, "operations": None} == {**shown_doc, "operations": None}
        else:
            assert shown.splitlines()[1:] == planned.splitlines()[1:]
    run = ws.cli("apply", "--plan", "p.json", "--auto-approve", "--allow-destroy")
    assert run.code == 0, run
    ws.assert_clean()


def test_the_planfile_benchmark_runs_and_verifies_what_it_wrote() -> None:
    """benchmarks.planfile (the MAC's cost at a million memberships) at a small size."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.planfile", "--members", "2000", "--runs", "1"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["members"] == 2000 and summary["mac_s"] >= 0


def test_plan_out_replaces_a_plan_file_of_an_older_format(case: Workspace) -> None:
    older = case.dir / "old.json"
    older.write_text('{\n  "format_version": 5,\n  "tool": "tim-reconciler",\n  "groups": []\n}\n')
    assert case.plan("--out", "old.json").code == 0
    assert older.read_bytes().startswith(b'{"mac":"hmac-sha256:')
