"""Secrets out of sight: the UserSig in URLs and log records, and a holder whose repr hides it.

The secret key and UserSigs never appear in logs, exception messages or reprs.
"""

from __future__ import annotations

import logging
import re

_USERSIG_IN_TEXT = re.compile(r"(usersig=)[^&\s\"'<>]*", re.IGNORECASE)


def redact_url(text: str) -> str:
    """Replace the value of every ``usersig=`` query parameter in ``text`` with ``***``."""
    return _USERSIG_IN_TEXT.sub(r"\1***", text)


class RedactUserSigFilter(logging.Filter):
    """Rewrites log records whose message contains ``usersig=...`` (httpx logs request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        if "usersig=" in message.lower():
            record.msg = redact_url(message)
            record.args = None
        return True


_REDACT_FILTER = RedactUserSigFilter()
_THIRD_PARTY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    # The transport for real endpoints (reconciler.tim.transport).
    "aiohttp.client",
    "aiohttp.internal",
)


def install_log_redaction() -> None:
    """Attach the UserSig redaction filter to the HTTP libraries' loggers (idempotent)."""
    for name in _THIRD_PARTY_LOGGERS:
        target = logging.getLogger(name)
        if _REDACT_FILTER not in target.filters:
            target.addFilter(_REDACT_FILTER)


install_log_redaction()


class Secret:
    """Holds a secret; its repr never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def scrub(text: str, *secrets: str) -> str:
    """``text`` from elsewhere without a UserSig in a URL or any of ``secrets``."""
    text = redact_url(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
