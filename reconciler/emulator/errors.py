"""Error codes the emulator answers with, and the exception that carries one.

Numbers and meanings are the vendor's (shared/reference/tencent-chat-rest-api.md §11b and the seed
pages); the emulator never invents a code.
"""

from __future__ import annotations

# Group service (10000-10099).
INTERNAL = 10002  # internal error, retry
BAD_COMMAND = 10003  # invalid command word
BAD_PARAM = 10004  # invalid parameter (see ErrorInfo)
TOO_MANY_ACCOUNTS = 10005  # too many accounts in one request
NO_PERMISSION = 10007  # not allowed (not admin, or the group type forbids the operation)
OWNER_CANNOT_QUIT = 10009  # the owner may not leave this group
GROUP_GONE = 10010  # group does not exist or was dissolved
BODY_UNDECODABLE = 10011  # request body is JSON but not a decodable request
GROUP_FULL = 10014  # member count would exceed MaxMemberNum
BAD_GROUP_ID = 10015  # group ID invalid
RESPONSE_TOO_LARGE = 10018  # response would exceed 1 MB; page smaller
NO_SUCH_ACCOUNT = 10019  # an account does not exist (not imported)
GROUP_ID_USED = 10021  # custom group ID already in use
GROUP_ID_USED_BY_OWNER = 10025  # ID in use and the requested owner already owns it
TOPIC_DELETED = 110003  # destroy_topic: the topic was already deleted (EN-49470)
NO_TOPICS = 11000  # destroy_topic: the Community has no topics (EN-49470)

# Public REST codes (60000-79999).
HTTP_PARSE = 60002  # bad URL / HTTP request
JSON_PARSE = 60003  # request body is not JSON
BAD_ACCOUNT_OR_SIG = 60004  # identifier / usersig missing in the URL
BAD_SDKAPPID = 60006  # SDKAppID invalid
RATE_LIMITED = 60007  # REST call frequency over limit
BAD_RESOURCE = 60009  # bad URL path
NEED_ADMIN = 60010  # the identifier is not an App admin
NO_SDKAPPID = 60012  # sdkappid missing from the URL
REQUEST_DISABLED = 60017  # request disabled: the emulator's answer to the message APIs

# Account service.
ACCOUNT_BAD_PARAM = 70402  # bad parameter in an account request


class ApiError(Exception):
    """A documented failure: answered as ``{"ActionStatus":"FAIL","ErrorCode":code,...}``."""

    def __init__(self, code: int, info: str) -> None:
        super().__init__(f"{code}: {info}")
        self.code = code
        self.info = info
