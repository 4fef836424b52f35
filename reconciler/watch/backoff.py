"""Backoff like a Kubernetes controller: exponential, capped, with jitter, per key.

``Backoff.fail(key, now)`` starts (or lengthens) a key's backoff and returns how long it lasts
when this failure starts a new one, None when the key was already backing off (the same
episode: not counted or logged again); ``ok(key)`` ends it. The watch keeps one per group and
one for the app (key ``APP``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from reconciler.errors import LockError, LockLost, ReconcilerError
from reconciler.tim.errors import (
    NOT_ADMIN_CODES,
    USERSIG_CODES,
    TimApiError,
    TimTransportError,
)

APP = ""  # the key of the app-wide backoff
BASE_S = 5.0
CAP_S = 300.0
JITTER = 0.2  # each delay is drawn from +-20% around its exponential value

# The app's own failures, not a group's: its credentials, its admin, the app itself, the
# endpoint. Retrying another group would fail the same way.
APP_CODES = USERSIG_CODES | NOT_ADMIN_CODES | {60006, 60016, 60017, 60021, 70050}


def app_wide(err: BaseException) -> bool:
    """A failure that is the app's (bad signature, endpoint down, lock unavailable)."""
    if isinstance(err, LockLost):
        return False  # another writer took over: nothing is wrong with the app
    if isinstance(err, (LockError, TimTransportError)):
        return True
    return isinstance(err, TimApiError) and err.code in APP_CODES


@dataclass
class _State:
    failures: int
    until: float
    error: str


class Backoff:
    def __init__(
        self, base_s: float = BASE_S, cap_s: float = CAP_S, rng: random.Random | None = None
    ) -> None:
        self.base_s, self.cap_s = base_s, cap_s
        self._rng = rng or random.Random()
        self._state: dict[str, _State] = {}

    def fail(self, key: str, now: float, error: str) -> float | None:
        state = self._state.get(key)
        if state is not None and state.until > now:
            state.error = error
            return None
        failures = state.failures + 1 if state else 1
        delay = min(self.cap_s, self.base_s * 2 ** min(failures - 1, 30))
        delay = min(self.cap_s, delay * self._rng.uniform(1 - JITTER, 1 + JITTER))
        self._state[key] = _State(failures, now + delay, error)
        return delay

    def ok(self, key: str) -> None:
        self._state.pop(key, None)

    def until(self, key: str) -> float | None:
        """When the key's backoff ends (None: not backing off or never failed)."""
        state = self._state.get(key)
        return state.until if state else None

    def failing(self, key: str) -> tuple[int, str] | None:
        """Failures in a row and the last error, while the key has not succeeded since."""
        state = self._state.get(key)
        return (state.failures, state.error) if state else None

    def backing_off(self, now: float) -> list[str]:
        return sorted(k for k, s in self._state.items() if s.until > now)


def describe(err: ReconcilerError) -> str:
    """One line for a log or the status page: what failed, without the hint."""
    return str(err).splitlines()[0] if str(err) else type(err).__name__
