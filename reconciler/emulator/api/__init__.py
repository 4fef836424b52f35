"""The documented commands, one module per API family (named like ``reconciler.tim.wire``'s):
one handler per ``<service>/<command>``.

Each handler gets the request body (a dict), an open transaction and a :class:`Ctx`, and returns
the response fields after the envelope, or raises :class:`ApiError`; the caller rolls the
transaction back on error, so a failed call changes nothing. The rules applied and the codes
answered are the vendor's; choices on unconfirmed points are listed in ``reconciler.emulator``.
"""

from __future__ import annotations

from ...tim.limits import LOGIN_SVC
from .. import rules as R
from . import accounts, avchatroom, groups, members, messages, permission_groups, topics
from .common import Ctx, Handler
from .controls import CONTROLS

FAMILIES = (groups, members, avchatroom, topics, permission_groups, accounts, messages)
# The families the client has no module of: messages are outside the project's scope, and the
# emulator answers them only to say so.
EMULATOR_ONLY = (messages,)

# (service, command) -> (handler, writes?)
HANDLERS: dict[tuple[str, str], tuple[Handler, bool]] = {
    (family.SERVICE, command): handler
    for family in FAMILIES
    for command, handler in family.HANDLERS.items()
}
SERVICES = frozenset(service for service, _ in HANDLERS)
# Answers above 1 MB are refused with 10018 on the APIs of ``Profile.size_limited``.

__all__ = [
    "CONTROLS",
    "EMULATOR_ONLY",
    "FAMILIES",
    "HANDLERS",
    "LOGIN_SVC",
    "SERVICES",
    "Ctx",
    "Handler",
    "R",
]
