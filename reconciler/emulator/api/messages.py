"""Messages (group_open_http_svc): outside this project's scope, answered as such.

tim-reconciler keeps groups, members and their settings as code; it neither sends, imports nor
stores messages. The group service's message commands (the ones third-party clients such as
PyPI timsdk call) are answered with one documented refusal, the vendor's 60017 "request
disabled", naming the reason, rather than 10003 "invalid command word": the command exists,
this server does not serve it. The emulator has no client-side counterpart of this module.
"""

from __future__ import annotations

import sqlite3

from ...tim.limits import GROUP_SVC
from .. import errors as E
from ..errors import ApiError
from .common import Ctx, Handler

SERVICE = GROUP_SVC

OUT_OF_SCOPE = (
    "send_group_msg",
    "send_group_system_notification",
    "import_group",
    "import_group_msg",
    "set_unread_msg_num",
    "group_msg_recall",
    "group_msg_get_simple",
    "delete_group_msg_by_sender",
)


def out_of_scope(ctx: Ctx, c: sqlite3.Connection, body: dict) -> dict:
    raise ApiError(
        E.REQUEST_DISABLED,
        "messages are outside tim-reconciler's scope: this emulator keeps groups and members,"
        " not messages (import_group included: create the group and import its members)",
    )


# command -> (handler, writes?)
HANDLERS: dict[str, tuple[Handler, bool]] = {
    command: (out_of_scope, False) for command in OUT_OF_SCOPE
}
