"""Where the REST API lives: region names, explicit URLs, or the embedded emulator."""

from __future__ import annotations

import difflib
import ipaddress
from urllib.parse import urlsplit

# Primary domains per region (reference §1.2).
REGIONS: dict[str, str] = {
    "china": "https://console.tim.qq.com",
    "singapore": "https://adminapisgp.im.qcloud.com",
    "seoul": "https://adminapikr.im.qcloud.com",
    "tokyo": "https://adminapijpn.im.qcloud.com",
    "frankfurt": "https://adminapiger.im.qcloud.com",
    "silicon-valley": "https://adminapiusa.im.qcloud.com",
    "jakarta": "https://adminapiidn.im.qcloud.com",
}

LOCAL = "local"

ACCEPTED_FORMS = (
    f"a region ({', '.join(REGIONS)}), an https:// URL, "
    "an http:// URL on a loopback host (127.0.0.0/8, ::1, localhost), "
    f"or {LOCAL!r} for the embedded emulator"
)


def _is_loopback(host: str) -> bool:
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_endpoint(value: str) -> str:
    """Return the base URL for ``value``, or ``"local"`` for the embedded emulator."""
    text = value.strip()
    key = text.lower()
    if key == LOCAL:
        return LOCAL
    if key in REGIONS:
        return REGIONS[key]
    if "://" not in text:
        close = difflib.get_close_matches(key, [*REGIONS, LOCAL], n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? Otherwise " if close else ""
        raise ValueError(f"unknown endpoint {value!r}; {hint}expected {ACCEPTED_FORMS}")
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"invalid endpoint URL {value!r}: {exc}") from None
    if not host:
        raise ValueError(f"endpoint URL {value!r} has no host; expected {ACCEPTED_FORMS}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(
            f"endpoint URL {value!r} must not contain credentials, a query or a fragment"
        )
    if parts.scheme == "https":
        return text.rstrip("/")
    if parts.scheme == "http":
        if _is_loopback(host):
            return text.rstrip("/")
        raise ValueError(
            f"endpoint {value!r} uses plain http on a non-loopback host; use https:// "
            "(http is allowed only for 127.0.0.0/8, ::1 and localhost)"
        )
    raise ValueError(f"unsupported URL scheme in endpoint {value!r}; expected {ACCEPTED_FORMS}")
