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
