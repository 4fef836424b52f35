"""Answers of the read APIs into the state model: members made on lookup, malformed answers."""

import pytest

from reconciler.errors import ObserveError
from reconciler.state import LiveMember
from reconciler.tim.wire.groups import parse_group_info
from reconciler.tim.wire.members import LiveMembers


def test_live_members_are_checked_members_on_lookup():
    live = LiveMembers(
        "g1",
        "get_group_info",
        [
            {"Member_Account": "a", "Role": "Admin", "MuteUntil": 7, "NameCard": "A"},
            {"Member_Account": "b", "AppMemberDefinedData": [{"Key": "k", "Value": "v"}]},
        ],
    )
    assert list(live) == ["a", "b"] and len(live) == 2 and "a" in live and "c" not in live
    assert live["a"] == LiveMember("a", "Admin", "A", "AcceptAndNotify", 7, {})
    assert live["b"] == LiveMember("b", "Member", "", "AcceptAndNotify", 0, {"k": "v"})
    # Unusual values are checked as a Member's would be.
    odd = LiveMembers("g1", "get_group_info", [{"Member_Account": "c", "MuteUntil": "9"}])
    assert odd["c"].muted_until == 9


def test_a_group_missing_from_the_answer_or_malformed_is_an_observe_error_naming_it():
    with pytest.raises(ObserveError, match="group g1: get_group_info answered without"):
        parse_group_info("g1", None)
    with pytest.raises(ObserveError, match="group g1: get_group_info answered something"):
        parse_group_info("g1", {"GroupId": "g1"})  # no Type
    assert parse_group_info("g1", {"GroupId": "g1", "ErrorCode": 10015}) is None
    assert parse_group_info("g1", {"GroupId": "g1", "ErrorCode": 10010}) is None
    with pytest.raises(ObserveError, match="10004"):
        parse_group_info("g1", {"GroupId": "g1", "ErrorCode": 10004, "ErrorInfo": "bad"})


def test_a_stale_check_keeps_only_the_named_members_of_a_whole_list():
    """The stale check names the members its fingerprints cover: of a list as long as
    MemberNum only they are kept; a list cut short is kept whole, to be paged."""
    info = {
        "GroupId": "g1",
        "Type": "Public",
        "MemberNum": 3,
        "MemberList": [{"Member_Account": a, "NameCard": a.upper()} for a in ("a", "b", "c")],
    }
    group = parse_group_info("g1", info, frozenset({"b", "z"}))
    assert group is not None and list(group.members or {}) == ["b"]
    assert group.members["b"].name_card == "B"
    assert group.members_selected and not group.members_partial()
    whole = parse_group_info("g1", info)
    assert whole is not None and list(whole.members or {}) == ["a", "b", "c"]
    assert not whole.members_selected
    short = parse_group_info("g1", {**info, "MemberNum": 4}, frozenset({"b"}))
    assert short is not None and len(short.members or {}) == 3 and short.members_partial()
    # an answer it drops members of is checked as a kept one is
    odd = {**info, "MemberList": [*info["MemberList"], {"Member_Account": 7}], "MemberNum": 4}
    with pytest.raises(ObserveError, match="not a string"):
        parse_group_info("g1", odd, frozenset({"b"}))
