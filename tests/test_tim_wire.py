"""The wire modules' registry (reconciler.tim.wire): every API the client calls is registered by
its family, and what the config may name follows from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.config import ConfigError, load_config
from reconciler.tim import wire
from reconciler.tim.calls import REQUEST_TYPES


def _config(tmp_path: Path, rates: dict) -> Path:
    doc = {
        "app": {
            "sdkappid": 1400000001,
            "admin": "admin",
            "endpoint": "local",
            "limits": {"rates": rates},
        },
        "groups": [{"id": "g", "type": "Public", "name": "G"}],
    }
    (tmp_path / "app.yaml").write_text(json.dumps(doc))
    return tmp_path / "app.yaml"


def test_every_request_and_read_is_registered_with_its_service() -> None:
    assert set(REQUEST_TYPES) <= set(wire.APIS)
    assert {"get_topic", "get_admin_list", "get_permission_group_member_list"} <= set(wire.APIS)
    assert wire.SERVICE_OF["get_topic"] == "million_group_open_http_svc"
    assert wire.SERVICE_OF["modify_admin"] == "group_open_avchatroom_http_svc"
    assert wire.SERVICE_OF["account_check"] == "im_open_login_svc"
    assert len(wire.APIS) == len(set(wire.APIS)) == 37


def test_a_rate_may_name_any_api_the_client_calls(tmp_path: Path) -> None:
    # Issue 26: limits.APIS listed 16 of the 37 APIs called, so this was refused.
    config = load_config(_config(tmp_path, {"forbid_send_msg": 50, "get_topic": 20}))
    table = config.app.limits_table()
    assert table.rate_of("forbid_send_msg") == 50 and table.rate_of("get_topic") == 20
    with pytest.raises(ConfigError, match="send_group_msg"):
        load_config(_config(tmp_path, {"send_group_msg": 50}))
