"""Where the REST API lives: region names, explicit URLs, or the embedded emulator."""

from __future__ import annotations

import difflib
import ipaddress
import re
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


# How an endpoint is written in a config, as regexes (Python's and ECMA-262's syntax alike): the
# config's check and its JSON Schema share them. Every text they match resolve_endpoint accepts:
# names in lower case, no spaces around, a port of at most 65535, a loopback address as
# 127.0.0.0/8 in dotted decimal or [::1], no credentials, query or fragment.
_PORT = "(:0*(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})?)?"
_PATH = '(/[!-"$->@-~]*)?'  # printable ASCII but ? and #
_HOST = "[A-Za-z0-9._~%!$&'()*+,;=-]+"  # a registered name (RFC 3986), or an IPv4 address
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_LOOPBACK = f"(localhost|{_HOST}\\.localhost|127(\\.{_OCTET}){{3}}|\\[::1\\])"
WRITTEN_URL_PATTERNS = (
    f"^https://{_HOST}{_PORT}{_PATH}$",
    f"^http://{_LOOPBACK}{_PORT}{_PATH}$",
)
_WRITTEN_URL = re.compile("|".join(f"({pattern})" for pattern in WRITTEN_URL_PATTERNS))


def check_written(value: str) -> str:
    """``value`` as a config may write it (the forms above, or a name); ValueError otherwise."""
    resolve_endpoint(value)  # the client's rules first: its messages name the problem
    if value not in (LOCAL, *REGIONS) and not _WRITTEN_URL.fullmatch(value):
        if value.strip().lower() in (LOCAL, *REGIONS):
            raise ValueError(f"write the endpoint {value!r} as {value.strip().lower()!r}")
        raise ValueError(
            f"endpoint {value!r}: write an https:// URL (http:// only on a loopback host: "
            "localhost, 127.x.x.x, [::1]): the scheme in lower case, a host name or IPv4 "
            "address, an optional port up to 65535 and path, no spaces"
        )
    return value


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
