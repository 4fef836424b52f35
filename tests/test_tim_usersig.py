import base64
import json
import types
import zlib

import pytest
import TLSSigAPIv2 as vendor
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.tim import usersig
from reconciler.tim.usersig import UserSigError

APP = 1400000000
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
NOW = 1_700_000_000


def _vendor_sig(monkeypatch: pytest.MonkeyPatch, identifier: str, expire: int, now: int) -> str:
    # Patch only the vendor module's reference to `time`, not the global time module.
    monkeypatch.setattr(vendor, "time", types.SimpleNamespace(time=lambda: now))
    return vendor.TLSSigAPIv2(APP, KEY).gen_sig(identifier, expire)


def _decode(sig: str) -> dict:
    raw = base64.b64decode(sig.translate(str.maketrans("*-_", "+/=")))
    return json.loads(zlib.decompress(raw))


def _encode(doc: dict) -> str:
    raw = zlib.compress(json.dumps(doc).encode())
    return base64.b64encode(raw).decode().translate(str.maketrans("+/=", "*-_"))


@pytest.mark.parametrize(
    ("identifier", "expire"),
    [("administrator", 180 * 86400), ("xiaojun", 86400), ("a_b-c", 1), ("管理员", 3600)],
)
def test_generate_matches_vendor_package(
    monkeypatch: pytest.MonkeyPatch, identifier: str, expire: int
) -> None:
    expected = _vendor_sig(monkeypatch, identifier, expire, NOW)
    assert usersig.generate(APP, KEY, identifier, expire=expire, now=NOW) == expected


def test_default_expire_matches_vendor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vendor, "time", types.SimpleNamespace(time=lambda: NOW))
    expected = vendor.TLSSigAPIv2(APP, KEY).gen_sig("administrator")
    assert usersig.generate(APP, KEY, "administrator", now=NOW) == expected


def test_vendor_sig_verifies() -> None:
    sig = usersig.generate(APP, KEY, "administrator", expire=600, now=NOW)
    got = usersig.verify(sig, APP, KEY, "administrator", now=NOW + 600)
    assert got == usersig.VerifiedSig("administrator", APP, NOW, 600)
    assert set("+/=").isdisjoint(sig)


@settings(max_examples=50, deadline=None)
@given(
    identifier=st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=32
    ),
    expire=st.integers(min_value=1, max_value=10 * 365 * 86400),
    now=st.integers(min_value=0, max_value=2**32),
)
def test_roundtrip(identifier: str, expire: int, now: int) -> None:
    sig = usersig.generate(APP, KEY, identifier, expire=expire, now=now)
    assert usersig.verify(sig, APP, KEY, identifier, now=now + expire).identifier == identifier


def _code(sig: str, **kw: object) -> int:
    args: dict = {"sdkappid": APP, "key": KEY, "identifier": "administrator", "now": NOW}
    args.update(kw)
    with pytest.raises(UserSigError) as info:
        usersig.verify(sig, **args)
    return info.value.code


def test_rejects_tampered() -> None:
    sig = usersig.generate(APP, KEY, "administrator", expire=60, now=NOW)
    doc = _decode(sig)
    doc["TLS.expire"] = 10**9  # extend the validity without re-signing
    assert _code(_encode(doc)) == 70009


def test_rejects_non_ascii_signature() -> None:
    doc = _decode(usersig.generate(APP, KEY, "administrator", now=NOW))
    doc["TLS.sig"] = "签名"
    assert _code(_encode(doc)) == 70009


def test_rejects_wrong_key() -> None:
    sig = usersig.generate(APP, "another-key", "administrator", expire=60, now=NOW)
    assert _code(sig) == 70009


def test_rejects_expired() -> None:
    sig = usersig.generate(APP, KEY, "administrator", expire=60, now=NOW)
    usersig.verify(sig, APP, KEY, "administrator", now=NOW + 60)  # last valid second
    assert _code(sig, now=NOW + 61) == 70001


def test_rejects_other_app() -> None:
    sig = usersig.generate(APP + 1, KEY, "administrator", now=NOW)
    assert _code(sig) == 70014


def test_rejects_other_identifier() -> None:
    sig = usersig.generate(APP, KEY, "mallory", now=NOW)
    assert _code(sig) == 70013


@pytest.mark.parametrize(
    "sig",
    [
        "",
        "not a sig",
        "eJzzSM3JyVcIzy_KSQEAGgQEXQ__!",
        base64.b64encode(b"not zlib").decode(),
        _encode({"TLS.ver": "2.0"}),  # fields missing
        base64.b64encode(zlib.compress(b"[1, 2")).decode().translate(str.maketrans("+/=", "*-_")),
    ],
)
def test_rejects_malformed(sig: str) -> None:
    assert _code(sig) == 70003
