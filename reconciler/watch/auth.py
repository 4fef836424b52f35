"""Which callbacks come from the vendor: the app's SdkAppid, a Sign made with the token, a
RequestTime within a minute of now, and no exact replay inside that minute."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import deque
from collections.abc import Callable, Mapping

from reconciler.tim.callbacks import (
    COMMAND_PARAM,
    SDKAPPID_PARAM,
    SIGN_PARAM,
    SIGN_WINDOW_S,
    TIME_PARAM,
    sign,
)


class Refused(Exception):
    """A callback refused before anything is done with it."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


class CallbackAuth:
    """``check(query, body)`` raises Refused for a callback that is not the vendor's.

    With ``token`` None (``--insecure-no-callback-auth``) only the SdkAppid is checked.
    """

    def __init__(
        self, sdkappid: int, token: str | None, clock: Callable[[], float] = time.time
    ) -> None:
        self._sdkappid = str(sdkappid)
        self._token = token
        self._clock = clock
        # Digests of the callbacks accepted in the last window, oldest first.
        self._seen: set[bytes] = set()
        self._order: deque[tuple[float, bytes]] = deque()

    def check(self, query: Mapping[str, str], body: bytes) -> None:
        if query.get(SDKAPPID_PARAM) != self._sdkappid:
            raise Refused(403, "wrong_sdkappid", f"SdkAppid {query.get(SDKAPPID_PARAM)!r}")
        if self._token is None:
            return
        sent_sign, sent_time = query.get(SIGN_PARAM), query.get(TIME_PARAM)
        if not sent_sign or not sent_time:
            raise Refused(401, "unsigned", "no Sign or RequestTime")
        if not sent_time.isdigit():
            raise Refused(401, "stale", f"RequestTime {sent_time!r} is not unix seconds")
        now = self._clock()
        if abs(now - int(sent_time)) > SIGN_WINDOW_S:
            raise Refused(401, "stale", f"RequestTime {sent_time} is over {SIGN_WINDOW_S} s away")
        if not hmac.compare_digest(sent_sign.lower(), sign(self._token, sent_time)):
            raise Refused(401, "bad_sign", "Sign does not match the token")
        # Several callbacks share a Sign when sent in the same second: a replay is the same
        # command, time, Sign and body again.
        digest = hashlib.sha256(
            f"{query.get(COMMAND_PARAM)}\n{sent_time}\n{sent_sign}\n".encode() + body
        ).digest()
        while self._order and self._order[0][0] < now - 2 * SIGN_WINDOW_S:
            self._seen.discard(self._order.popleft()[1])
        if digest in self._seen:
            raise Refused(403, "replay", "the same callback was received before")
        self._seen.add(digest)
        self._order.append((now, digest))
