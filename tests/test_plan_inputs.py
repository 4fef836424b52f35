"""A saved plan carries what it was made from (issue 27 item 1): `apply PATH --plan` renders the
config with the values files the plan records and the same --vars, and refuses only when a
group the plan touches is declared otherwise than when it was made."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Workspace, dump_yaml, split_plan

from reconciler.planfile import declared_digest

TEMPLATE = """\
app: {{ app | tojson }}
groups:
{% for g in groups %}
  - id: {{ prefix }}{{ g.id }}
    type: Public
    name: {{ g.name | tojson }}
    owner: o1
    members: {{ (["o1"] + g.members) | tojson }}
{% endfor %}
"""


def _values(ws: Workspace, groups: dict[str, tuple[str, list[str]]]) -> Path:
    path = ws.dir / "values" / "env.yaml"
    path.parent.mkdir(exist_ok=True)
    doc = {
        "app": ws.app,
        "groups": [{"id": k, "name": n, "members": m} for k, (n, m) in groups.items()],
    }
    path.write_text(dump_yaml(doc))
    return path


def _setup(ws: Workspace) -> None:
    (ws.dir / "groups.yaml.j2").write_text(TEMPLATE)
    _values(ws, {"a": ("A", ["x"]), "b": ("B", ["y"])})
    args = ("--values", "values/env.yaml", "--var", "prefix=t-")
    assert ws.apply(*args).code == 0
    _values(ws, {"a": ("A2", ["x"]), "b": ("B", ["y"])})  # the reviewed change: rename t-a
    run = ws.plan(*args, "-o", "p.json")
    assert run.code == 0, run


def test_the_plan_records_values_files_and_vars_by_name_and_digest(ws: Workspace) -> None:
    _setup(ws)
    _, doc = split_plan((ws.dir / "p.json").read_bytes())
    assert [v["file"] for v in doc["inputs"]["values"]] == ["values/env.yaml"]
    assert [(v["name"], len(v["sha256"])) for v in doc["inputs"]["vars"]] == [("prefix", 64)]
    assert list(doc["group_digests"]) == ["t-a"]  # the touched group only


def test_apply_renders_the_config_with_the_recorded_values(ws: Workspace) -> None:
    _setup(ws)
    run = ws.cli("apply", ".", "--plan", "p.json", "--var", "prefix=t-")
    assert run.code == 0, run
    assert ws.live("t-a")["Name"] == "A2"


def test_a_var_the_plan_was_made_with_must_be_given_again_with_its_value(ws: Workspace) -> None:
    _setup(ws)
    run = ws.cli("apply", ".", "--plan", "p.json")
    assert run.code == 1 and "--var prefix=... is missing" in run.err, run
    run = ws.cli("apply", ".", "--plan", "p.json", "--var", "prefix=u-")
    assert run.code == 1 and "--var prefix has another value" in run.err, run
    assert ws.live("t-a")["Name"] == "A"


def test_an_unrelated_change_does_not_make_the_reviewed_plan_stale(ws: Workspace) -> None:
    _setup(ws)
    # Merged meanwhile: another group edited in the same values file, and a new file.
    _values(ws, {"a": ("A2", ["x"]), "b": ("B elsewhere", ["y", "z"])})
    (ws.dir / "more.yaml").write_text(
        dump_yaml({"groups": [{"id": "c", "type": "Public", "name": "C"}]})
    )
    run = ws.cli("apply", ".", "--plan", "p.json", "--var", "prefix=t-")
    assert run.code == 0, run
    assert ws.live("t-a")["Name"] == "A2"
    assert ws.live("t-b")["Name"] == "B"  # its own pull request applies it
    assert ws.live("c") is None


def test_a_change_to_a_touched_group_refuses_the_plan_naming_it(ws: Workspace) -> None:
    _setup(ws)
    _values(ws, {"a": ("A2", ["x", "w"]), "b": ("B", ["y"])})
    before = ws.dump()
    run = ws.cli("apply", ".", "--plan", "p.json", "--var", "prefix=t-", "--format", "json")
    assert run.code == 1, run
    error = json.loads(run.out)["error"]
    assert error["kind"] == "stale_plan"
    assert "group t-a changed" in error["message"] and "values/env.yaml" in error["message"]
    assert ws.dump() == before


def test_a_touched_group_no_longer_declared_refuses_the_plan(ws: Workspace) -> None:
    _setup(ws)
    _values(ws, {"b": ("B", ["y"])})
    run = ws.cli("apply", ".", "--plan", "p.json", "--var", "prefix=t-")
    assert run.code == 1 and "group t-a is no longer declared" in run.err, run


def test_a_recorded_values_file_that_is_gone_refuses_the_plan(ws: Workspace) -> None:
    _setup(ws)
    (ws.dir / "values" / "env.yaml").rename(ws.dir / "values" / "prod.yaml")
    run = ws.cli("apply", ".", "--plan", "p.json", "--var", "prefix=t-")
    assert run.code == 1 and "values/env.yaml, which no longer exists" in run.err, run


def test_the_same_values_files_may_be_given_again(ws: Workspace) -> None:
    _setup(ws)
    args = ("--values", "values/env.yaml", "--var", "prefix=t-")
    assert ws.cli("apply", ".", "--plan", "p.json", *args).code == 0


def test_the_declared_digest_ignores_member_order(ws: Workspace) -> None:
    from reconciler.state import Group, Member

    one = Group(id="g", type="Public", members={"a": Member(account="a"), "b": Member(account="b")})
    two = Group(id="g", type="Public", members={"b": Member(account="b"), "a": Member(account="a")})
    assert declared_digest(one) == declared_digest(two)
    assert declared_digest(one) != declared_digest(one.model_copy(update={"name": "x"}))
