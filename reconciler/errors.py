"""Every error the reconciler raises on purpose, rooted in one type.

The command line turns ``ReconcilerError`` into a message and an exit code in one place; an
exception outside this tree is a bug.

    ReconcilerError
    ├── ConfigError          the config (YAML, templates, values, types, limits) is wrong;
    │                        carries every issue with its file:line:col (reconciler.config)
    ├── UsageError           the command line asks for something that cannot be done
    ├── CredentialsError     the secret key is not in the environment
    ├── EndpointError        the app's endpoint cannot be used (e.g. local_db is not the emulator's)
    ├── TimError             a REST call failed (reconciler.tim.errors)
    │   ├── TimApiError      the server answered with an error code
    │   └── TimTransportError  no usable answer: network, timeout, HTTP status, not JSON
    ├── ObserveError         the live state was read but cannot be planned from
    ├── PlanFileError        a saved plan cannot be read or does not match the config
    │   └── StalePlanError   the groups a saved plan touches changed since it was made
    ├── PlanInvalid          the plan has errors (nothing is applied)
    │   └── RecreateRequired a group would have to be recreated (e.g. support_topic changed)
    ├── PlanRefused          a safety guard refused the plan (exit 3)
    └── LockError            another run holds the app's lock (reconciler.lock)
        └── LockLost         the lease this run held was broken or taken over
"""

from __future__ import annotations


class ReconcilerError(Exception):
    """Base of every error the reconciler raises on purpose."""

    location: str | None = None  # where, when not in the message's first words (file:line:col)

    @property
    def hint(self) -> str:
        """What to check ("" when there is nothing to add)."""
        return ""

    def report(self) -> str:
        """The text a person reads: what went wrong, and what to check."""
        return f"Error: {self}" + (f"\nHint: {self.hint}" if self.hint else "")


class UsageError(ReconcilerError):
    """The command line asks for something that cannot be done."""


class CredentialsError(ReconcilerError):
    """The app's secret key is not where the config says it is."""


class EndpointError(ReconcilerError):
    """The app's endpoint cannot be used as configured."""


class ObserveError(ReconcilerError):
    """The live state could not be read in a way that allows a plan."""


class PlanFileError(ReconcilerError):
    """A saved plan cannot be read, or it was made from other input than the one given."""


class StalePlanError(PlanFileError):
    """Groups a saved plan touches changed after it was made: live, or in the config (then
    ``message`` says how)."""

    def __init__(self, groups: list[str], message: str | None = None) -> None:
        self.groups = groups
        shown = ", ".join(groups[:20]) + (" ..." if len(groups) > 20 else "")
        super().__init__(
            message
            or f"Saved plan is stale: {len(groups)} group(s) changed since it was made ({shown}). "
            "Nothing was applied; run plan again and review the new plan."
        )


class PlanInvalid(ReconcilerError):
    """The plan has errors; nothing of it may be applied."""

    def __init__(self, errors: list[str], applying: bool = True) -> None:
        self.errors = errors
        tail = "; nothing was applied." if applying else "."
        super().__init__(f"The plan has {len(errors)} error(s){tail}")


class RecreateRequired(PlanInvalid):
    """The plan asks for something only recreating a group can give (a setting the API takes
    at creation only, such as support_topic)."""

    def __init__(self, errors: list[str], groups: list[str], applying: bool = True) -> None:
        super().__init__(errors, applying)
        self.groups = groups
        self.args = (
            f"{self.args[0]} Group(s) "
            f"{', '.join(groups[:10])} would have to be destroyed and created again.",
        )

    @property
    def hint(self) -> str:
        return (
            "support_topic is set only when a group is created: keep the live value, or "
            "recreate the group (state: absent, apply --allow-destroy, then declare it anew)"
        )


class PlanRefused(ReconcilerError):
    """A safety guard refused the plan (member removals, protected groups, destroys)."""

    def report(self) -> str:
        return str(self)


class LockError(ReconcilerError):
    """Another run holds the app's lock and did not let it go in time."""


class LockLost(LockError):
    """The lease this run held on the app's lock is no longer its own: it stopped writing."""
