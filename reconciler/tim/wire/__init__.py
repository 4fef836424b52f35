"""Every API the client calls, one module per API family: each module states its service and
commands, builds each request's body and reads each answer next to the call that gets it.

The emulator's handlers live in modules of the same names (``reconciler.emulator.api``).
"""

from __future__ import annotations

from reconciler.tim.wire import (
    accounts,
    avchatroom,
    groups,
    members,
    permission_groups,
    topics,
)

FAMILIES = (groups, members, avchatroom, topics, permission_groups, accounts)

# Every API the client calls -> its service: what `app.limits.rates` may name.
SERVICE_OF: dict[str, str] = {
    command: family.SERVICE for family in FAMILIES for command in family.COMMANDS
}
APIS = tuple(SERVICE_OF)
