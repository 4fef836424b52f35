"""Errors of the Tencent Cloud Chat REST API and their documented meanings.

Sources: shared/reference/tencent-chat-rest-api.md §10 (account codes) and §11b (public codes
60000-79999, group codes 10000-10099).
"""

from __future__ import annotations

from reconciler.errors import ReconcilerError

# Group codes 10000-10099.
GROUP_CODES: dict[int, str] = {
    10002: "internal server error; retry",
    10003: "invalid command word (endpoint name)",
    10004: "invalid parameter (see the error info)",
    10005: "too many accounts in the request",
    10006: "operation frequency limit",
    10007: "permission denied (not an admin, or the group type forbids the operation)",
    10008: "illegal request (signature)",
    10009: "the owner may not quit this group",
    10010: "group does not exist or was dissolved",
    10011: "JSON body could not be parsed",
    10012: "operator UserID is invalid",
    10013: "invitee is already a member",
    10014: "group is full",
    10015: "group ID is invalid or not found",
    10016: "rejected by the app backend callback",
    10017: "muted; cannot send",
    10018: "response larger than 1 MB; request a smaller page",
    10019: "account does not exist",
    10021: "group ID is already in use",
    10023: "message frequency limit",
    10024: "invitation or application already handled",
    10025: "group ID is in use and the operator is its owner",
    10026: "command word is disabled for this SDKAppID",
    10030: "message recall/delete error",
    10031: "message recall/delete error",
    10032: "message recall/delete error",
    10033: "message recall/delete error",
    10034: "message recall/delete error",
    10035: "message recall/delete error",
    10036: "AVChatRoom creation count over the plan limit",
    10037: "a user's created/joined group count is over the plan limit",
    10038: "member count over the plan limit",
    10041: "the app is configured to disallow recall",
    10050: "group attribute key does not exist",
    10056: "group attribute write conflict",
    10059: "feature unavailable: requires the Pro/Ultimate edition",
}

# Public REST codes 60000-79999.
PUBLIC_CODES: dict[int, str] = {
    60002: "HTTP parse error (bad URL)",
    60003: "request JSON could not be parsed",
    60004: "account or signature in the URL/body is wrong",
    60005: "account or signature in the URL/body is wrong",
    60006: "SDKAppID is invalid",
    60007: "REST call frequency over the limit",
    60008: "service timeout or bad HTTP format",
    60009: "bad resource (URL path)",
    60010: "requires an App admin identifier",
    60011: "SDKAppID request frequency over the limit",
    60012: "sdkappid missing in the URL",
    60013: "response JSON could not be parsed",
    60014: "account swap timeout",
    60015: "account type is wrong (must be a string)",
    60016: "SDKAppID is disabled",
    60017: "request is disabled",
    60018: "too frequent; retry later",
    60019: "too frequent; retry later",
    60020: "Pro package expired",
    60021: "caller IP is not allowed",
    70001: "UserSig expired",
    70003: "UserSig could not be parsed",
    70009: "UserSig verification failed (wrong key or other SDKAppID)",
    70013: "UserID in the request does not match the UserID in the UserSig",
    70014: "SDKAppID in the request does not match the SDKAppID in the UserSig",
    70016: "key not found (wrong data centre? check the region)",
    70020: "SDKAppID not found (wrong data centre? check the region)",
    70050: "too many UserSig failures; rate-limited, retry after 1 minute",
    70051: "account is blacklisted",
    70107: "account not imported",
}

# Account codes (service im_open_login_svc, reference §10).
ACCOUNT_CODES: dict[int, str] = {
    70107: "UserID not imported",
    70169: "internal timeout",
    70202: "internal timeout",
    70398: "account count over the limit (trial apps: 100 accounts)",
    70402: "invalid parameter",
    70403: "requires an App admin",
    70500: "internal error",
    71000: "account delete failed",
}

# destroy_topic (EN-49470).
TOPIC_DELETED = 110003
NO_TOPICS = 11000
TOPIC_CODES: dict[int, str] = {
    TOPIC_DELETED: "the topic was already deleted",
    NO_TOPICS: "the Community has no topics",
}
ERROR_CODES: dict[int, str] = {**GROUP_CODES, **TOPIC_CODES, **PUBLIC_CODES, **ACCOUNT_CODES}

# Codes worth retrying with backoff: server hiccups and frequency limits.
TRANSIENT_CODES = frozenset({10002, 10006, 60007, 60008, 60011, 60018, 60019})
# Codes that mean "slow down".
RATE_LIMIT_CODES = frozenset({10006, 60007, 60011, 60018, 60019})
# "No such group": the reference could not confirm which one the server sends, so both count.
GROUP_GONE_CODES = frozenset({10010, 10015})
# create_group for an ID already taken: the group may be ours, from a run cut off after the call
# reached the server.
ID_TAKEN_CODES = frozenset({10021, 10025})
# A topic that does not exist: destroy_topic's codes (TOPIC_CODES); other calls' codes for a
# missing topic are not documented, so the group codes count too (the emulator's choice).
TOPIC_GONE_CODES = GROUP_GONE_CODES | {TOPIC_DELETED, NO_TOPICS}
# The API is not available to this app: its edition lacks it (10059), the Pro package expired
# (60020) or the command is disabled for the app (10026). Export leaves such reads out.
UNAVAILABLE_CODES = frozenset({10059, 60020, 10026})
# The UserSig (or the key, app or region behind it) was refused.
USERSIG_CODES = frozenset({70001, 70003, 70009, 70013, 70014, 70016, 70020})
# The identifier is not an App admin.
NOT_ADMIN_CODES = frozenset({60004, 60005, 60010})

# What reading an answer that is not shaped as documented raises (a missing key, a field of the
# wrong type, a list where a mapping belongs).
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def describe(code: int) -> str:
    """The documented meaning of ``code``, or a note that it is undocumented."""
    return ERROR_CODES.get(code, "undocumented error code")


class TimError(ReconcilerError):
    """Base of every error raised by the REST client."""


class TimApiError(TimError):
    """The server answered with a failure envelope (ActionStatus FAIL or ErrorCode != 0)."""

    def __init__(self, api: str, code: int, info: str, *, request_id: str | None = None) -> None:
        self.api = api
        self.code = code
        self.info = info
        self.meaning = describe(code)
        self.request_id = request_id
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"{self.api} failed: error {self.code} ({self.meaning})"
        if self.info:
            text += f": {self.info}"
        if self.request_id:
            text += f" [RequestId {self.request_id}]"
        return text

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES

    @property
    def hint(self) -> str:
        if self.code in USERSIG_CODES:
            return (
                "the UserSig was refused. Check that the secret key in the environment belongs "
                "to app.sdkappid, that app.admin is an App admin account, and that app.endpoint "
                "is the region the app was created in."
            )
        if self.code in NOT_ADMIN_CODES:
            return "app.admin must be an App admin account of this app."
        return ""

    @property
    def rate_limited(self) -> bool:
        return self.code in RATE_LIMIT_CODES


class TimTransportError(TimError):
    """No usable answer: network error, timeout, HTTP error status, non-JSON or no envelope."""

    def __init__(self, api: str, reason: str, *, transient: bool = False) -> None:
        self.api = api
        self.reason = reason
        self.transient = transient
        super().__init__(f"{api}: {reason}")

    @property
    def hint(self) -> str:
        return (
            "the endpoint could not be reached. Check app.endpoint, the network and any proxy; "
            "retries with backoff were already made."
        )


class TimAnswerError(TimTransportError):
    """An OK answer without what the API documents (a list a reader needs). Never read as an
    empty result: that would make a plan create, remove or drop what exists."""

    @property
    def hint(self) -> str:
        return "check that app.endpoint is a Tencent Cloud Chat REST API."


class TimCertificateError(TimTransportError):
    """The endpoint's TLS certificate was not trusted: not transient, so never retried."""

    def __init__(self, api: str, reason: str) -> None:
        super().__init__(api, reason, transient=False)

    @property
    def hint(self) -> str:
        return (
            "the endpoint's certificate could not be verified. Check app.endpoint (the host "
            "name must match the certificate); behind a proxy or with a private CA, point "
            "SSL_CERT_FILE (or SSL_CERT_DIR) at the CA bundle that signs it."
        )
