"""UserSig v2 (TLSSigAPIv2): generate and verify.

The algorithm is the vendor's (reference §12): HMAC-SHA256 over a fixed text, a JSON document,
zlib, then base64 with the characters ``+ / =`` replaced by ``* - _``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import zlib
from dataclasses import dataclass

DEFAULT_EXPIRE_S = 180 * 86400


class UserSigError(Exception):
    """A UserSig that cannot be accepted. ``code`` is the documented server error code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# Documented server codes for bad signatures (reference §11b).
SIG_EXPIRED = 70001
SIG_MALFORMED = 70003
SIG_MISMATCH = 70009
SIG_WRONG_IDENTIFIER = 70013
SIG_WRONG_SDKAPPID = 70014


def _content(identifier: str, sdkappid: int, now: int, expire: int) -> bytes:
    return (
        f"TLS.identifier:{identifier}\n"
        f"TLS.sdkappid:{sdkappid}\n"
        f"TLS.time:{now}\n"
        f"TLS.expire:{expire}\n"
    ).encode()


def _hmac(key: str, content: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), content, hashlib.sha256).digest()).decode()


def _to_url64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().translate(str.maketrans("+/=", "*-_"))


def _from_url64(text: str) -> bytes:
    return base64.b64decode(text.translate(str.maketrans("*-_", "+/=")), validate=True)


def generate(
    sdkappid: int,
    key: str,
    identifier: str,
    expire: int = DEFAULT_EXPIRE_S,
    now: int | None = None,
) -> str:
    """Return a UserSig for ``identifier`` valid for ``expire`` seconds from ``now``."""
    now = int(time.time()) if now is None else int(now)
    doc = {
        "TLS.ver": "2.0",
        "TLS.identifier": str(identifier),
        "TLS.sdkappid": int(sdkappid),
        "TLS.expire": int(expire),
        "TLS.time": now,
        "TLS.sig": _hmac(key, _content(identifier, int(sdkappid), now, int(expire))),
    }
    return _to_url64(zlib.compress(json.dumps(doc).encode()))


@dataclass(frozen=True)
class VerifiedSig:
    identifier: str
    sdkappid: int
    time: int
    expire: int


def verify(
    usersig: str,
    sdkappid: int,
    key: str,
    identifier: str,
    now: int | None = None,
) -> VerifiedSig:
    """Check a UserSig the way the server does; raise UserSigError with the documented code."""
    try:
        doc = json.loads(zlib.decompress(_from_url64(usersig)))
        sig_identifier = str(doc["TLS.identifier"])
        sig_appid = int(doc["TLS.sdkappid"])
        sig_time = int(doc["TLS.time"])
        sig_expire = int(doc["TLS.expire"])
        sig = str(doc["TLS.sig"])
    except Exception:  # any decoding failure is one documented case: the sig cannot be parsed
        raise UserSigError(SIG_MALFORMED, "UserSig cannot be parsed") from None
    if sig_appid != int(sdkappid):
        raise UserSigError(SIG_WRONG_SDKAPPID, "SDKAppID in the UserSig does not match")
    if sig_identifier != identifier:
        raise UserSigError(SIG_WRONG_IDENTIFIER, "identifier in the UserSig does not match")
    now = int(time.time()) if now is None else int(now)
    if now > sig_time + sig_expire:
        raise UserSigError(SIG_EXPIRED, "UserSig expired")
    expected = _hmac(key, _content(sig_identifier, sig_appid, sig_time, sig_expire))
    if not hmac.compare_digest(expected.encode(), sig.encode()):  # str form rejects non-ASCII
        raise UserSigError(SIG_MISMATCH, "UserSig verification failed")
    return VerifiedSig(sig_identifier, sig_appid, sig_time, sig_expire)
