import pytest

from reconciler.tim.endpoints import REGIONS, resolve_endpoint


@pytest.mark.parametrize(
    ("region", "url"),
    [
        ("china", "https://console.tim.qq.com"),
        ("singapore", "https://adminapisgp.im.qcloud.com"),
        ("seoul", "https://adminapikr.im.qcloud.com"),
        ("tokyo", "https://adminapijpn.im.qcloud.com"),
        ("frankfurt", "https://adminapiger.im.qcloud.com"),
        ("silicon-valley", "https://adminapiusa.im.qcloud.com"),
        ("jakarta", "https://adminapiidn.im.qcloud.com"),
    ],
)
def test_regions_map_to_primary_domains(region: str, url: str) -> None:
    assert resolve_endpoint(region) == url
    assert resolve_endpoint(region.upper()) == url


def test_all_regions_are_https() -> None:
    assert len(REGIONS) == 7
    assert all(url.startswith("https://") for url in REGIONS.values())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://adminapisgp.my-imcloud.com", "https://adminapisgp.my-imcloud.com"),
        ("https://proxy.example.com/tim/", "https://proxy.example.com/tim"),
        ("https://example.com:8443/", "https://example.com:8443"),
    ],
)
def test_https_urls_pass_through_without_trailing_slash(value: str, expected: str) -> None:
    assert resolve_endpoint(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1:8080",
        "http://127.5.6.7/",
        "http://[::1]:9000",
        "http://localhost:8000/",
        "http://LOCALHOST",
    ],
)
def test_http_allowed_on_loopback(value: str) -> None:
    assert resolve_endpoint(value) == value.rstrip("/")


@pytest.mark.parametrize(
    "value", ["http://console.tim.qq.com", "http://10.0.0.1:8080", "http://128.0.0.1"]
)
def test_http_refused_elsewhere(value: str) -> None:
    with pytest.raises(ValueError, match="use https://"):
        resolve_endpoint(value)


def test_local_is_returned_as_is() -> None:
    assert resolve_endpoint("local") == "local"
    assert resolve_endpoint(" Local ") == "local"


@pytest.mark.parametrize(
    "value",
    ["mumbai", "", "console.tim.qq.com", "ftp://example.com", "https://", "https://a.b/?x=1"],
)
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve_endpoint(value)
    assert repr(value) in str(info.value)


def test_unknown_value_lists_accepted_forms() -> None:
    with pytest.raises(ValueError) as info:
        resolve_endpoint("atlantis")
    text = str(info.value)
    for word in ["china", "silicon-valley", "https://", "loopback", "'local'"]:
        assert word in text
