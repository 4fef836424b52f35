"""--group and --exclude-group take IDs or shell-style patterns; a name that matches nothing is
refused with a did-you-mean, as is a region name with a typo."""

from __future__ import annotations

import pytest
from conftest import Workspace

from reconciler.engine import Selection, select
from reconciler.errors import UsageError
from reconciler.state import Group, GroupType
from reconciler.tim.endpoints import resolve_endpoint

IDS = ["stg-chat", "stg-news", "prod-chat", "team-a", "odd[1]"]
GROUPS = [Group(id=gid, type=GroupType.Public, name=gid) for gid in IDS]


def _ids(only=(), exclude=()) -> list[str]:
    return [g.id for g in select(GROUPS, Selection(list(only), list(exclude)))]


def test_patterns_select_and_exclude():
    assert _ids(["stg-*"]) == ["stg-chat", "stg-news"]
    assert _ids(["*-chat"], ["prod-*"]) == ["stg-chat"]
    assert _ids(exclude=["stg-????"]) == ["prod-chat", "team-a", "odd[1]"]
    assert _ids(["[ps]*-chat"]) == ["stg-chat", "prod-chat"]


def test_an_existing_id_is_taken_literally():
    assert _ids(["odd[1]"]) == ["odd[1]"]


def test_patterns_are_case_sensitive_like_ids():
    with pytest.raises(UsageError, match="'STG-\\*' matches no group"):
        _ids(["STG-*"])


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("Team-A", "team-a"), ("stg-chta", "stg-chat"), ("prod-chat2", "prod-chat")],
)
def test_an_unknown_name_gets_a_did_you_mean(name, suggestion):
    with pytest.raises(UsageError) as caught:
        _ids([name])
    assert f"--group {name!r} matches no group in the config; did you mean '{suggestion}'?" in str(
        caught.value
    )


def test_every_unknown_name_is_reported_at_once():
    with pytest.raises(UsageError) as caught:
        _ids(["nope-*"], ["Team-A"])
    text = str(caught.value)
    assert "--group 'nope-*' matches no group" in text
    assert "--exclude-group 'Team-A' matches no group in the config; did you mean 'team-a'?" in text


def test_the_cli_refuses_before_any_call(ws: Workspace):
    ws.write([{"id": "team-a", "type": "Public", "name": "A"}])
    run = ws.plan("--group", "Team-A")
    assert run.code == 1 and "did you mean 'team-a'?" in run.err
    assert not ws.db.exists()
    run = ws.plan("--group", "team-*")
    assert run.code == 0 and "+ group team-a" in run.out


def test_a_region_typo_gets_a_did_you_mean():
    with pytest.raises(ValueError, match="unknown endpoint 'singapur'; did you mean 'singapore'"):
        resolve_endpoint("singapur")
    with pytest.raises(ValueError, match="did you mean 'silicon-valley'"):
        resolve_endpoint("silicon_valley")


def test_a_selection_that_leaves_no_group_is_refused():
    with pytest.raises(UsageError, match="--exclude-group '\\*' leaves none of the config's 5"):
        _ids(exclude=["*"])
    with pytest.raises(UsageError, match="--group 'stg-\\*' --exclude-group 'stg-\\*' leaves"):
        _ids(["stg-*"], ["stg-*"])


def test_excluding_every_group_never_says_no_changes(ws: Workspace):
    """Issue 25, item 18: with drift in the app, `--exclude-group '*'` is an error (exit 1),
    not "No changes" (exit 0 under --detailed-exitcode), and nothing is written."""
    ws.write([{"id": "team-a", "type": "Public", "name": "A"}])
    ws.converge()
    ws.write([{"id": "team-a", "type": "Public", "name": "A2"}])  # drift: a rename
    assert ws.plan("--detailed-exitcode").code == 2
    before = ws.dump()
    run = ws.plan("--detailed-exitcode", "--exclude-group", "*")
    assert run.code == 1, run.out + run.err
    assert "--exclude-group '*' leaves none of the config's 1 group(s)" in run.err
    assert "No changes" not in run.out
    assert ws.dump() == before
