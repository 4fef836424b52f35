import pytest

from reconciler.tim.errors import (
    ERROR_CODES,
    TimApiError,
    TimError,
    TimTransportError,
    describe,
)


def test_documented_codes() -> None:
    assert describe(10010) == "group does not exist or was dissolved"
    assert "frequency" in describe(60007)
    assert "expired" in describe(70001)
    assert "not imported" in describe(70107)
    assert describe(70398).startswith("account count over the limit")
    assert describe(12345) == "undocumented error code"
    assert describe(110003) == "the topic was already deleted"  # destroy_topic, EN-49470
    topic_codes = {110003, 11000}
    assert all(10000 <= c <= 10099 or 60000 <= c <= 79999 or c in topic_codes for c in ERROR_CODES)


@pytest.mark.parametrize("code", [10002, 10006, 60007, 60008, 60011, 60018, 60019])
def test_transient_codes(code: int) -> None:
    assert TimApiError("svc/cmd", code, "").transient


@pytest.mark.parametrize("code", [10004, 10007, 10010, 10014, 10019, 70001, 70009, 0])
def test_client_errors_are_not_transient(code: int) -> None:
    assert not TimApiError("svc/cmd", code, "").transient


def test_api_error_message() -> None:
    err = TimApiError("group_open_http_svc/add_group_member", 10014, "group is full!")
    text = str(err)
    assert "group_open_http_svc/add_group_member" in text
    assert "10014" in text
    assert "group is full" in text  # documented meaning
    assert "group is full!" in text  # server's ErrorInfo
    assert isinstance(err, TimError)
    assert (err.api, err.code, err.info) == (
        "group_open_http_svc/add_group_member",
        10014,
        "group is full!",
    )


def test_transport_error_message() -> None:
    err = TimTransportError("im_open_login_svc/account_check", "HTTP 502 Bad Gateway")
    assert str(err) == "im_open_login_svc/account_check: HTTP 502 Bad Gateway"
    assert isinstance(err, TimError)
    assert not err.transient
