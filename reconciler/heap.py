"""Building millions of long-lived objects without the cyclic garbage collector in the way."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause cyclic garbage collection while a large, acyclic structure is built.

    A config or an observation of a million memberships is millions of objects that live until
    the process ends and hold no cycles; at the default thresholds the collector walks them again
    and again, for nothing. Cycles
    made meanwhile (a few KB per API call) are collected once it resumes. Call ``gc.freeze()``
    inside to keep later collections from walking what was built.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
