"""Safe YAML: syntax errors, duplicate keys, tags, aliases, encodings, and big files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.config import ConfigError, Location, load_config
from reconciler.config import loader as loader_module
from reconciler.config.source import SourceIndex, resolve_block, resolve_nodes

APP = "app:\n  sdkappid: 7\n"


def write(tmp_path: Path, text: str | bytes, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def issues(path: Path) -> list:
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return err.value.issues


def test_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, APP + "groups:\n  - id: g\n    type: [Public\n")
    (issue,) = issues(path)
    assert issue.location == Location(str(path), 5, 11)
    assert issue.message == "YAML syntax error: unclosed bracket '['"


def test_duplicate_key_in_a_group(tmp_path: Path) -> None:
    path = write(tmp_path, APP + "groups:\n  - id: g\n    type: Public\n    name: a\n    name: b\n")
    (issue,) = issues(path)
    assert str(issue) == f"{path}:7:5: duplicate key 'name' (first at line 6); remove one of them"


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, APP + "groups: []\napp:\n  sdkappid: 8\n")
    (issue,) = issues(path)
    assert str(issue) == f"{path}:4:1: duplicate key 'app' (first at line 1); remove one of them"


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!!python/name:os.system"])
def test_language_tags_are_rejected(tmp_path: Path, tag: str) -> None:
    path = write(tmp_path, APP + f"groups:\n  - id: g\n    type: Public\n    name: {tag} x\n")
    (issue,) = issues(path)
    assert issue.location == Location(str(path), 6, 11)
    assert "is not allowed" in issue.message and "no language-specific" in issue.message


def test_alias_bomb_is_stopped(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    path = write(tmp_path, "\n".join(lines) + "\n")
    (issue,) = issues(path)
    # Located at the alias that takes the expansion over its byte budget.
    assert issue.location is not None and issue.location.line == 7
    assert "too much alias expansion" in issue.message


def test_small_aliases_work(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        APP + "groups:\n  - id: a\n    type: Public\n    members: &staff [t1, t2]\n"
        "  - id: b\n    type: Public\n    members: *staff\n",
    )
    assert list(load_config(path).groups[1].members) == ["t1", "t2"]


def test_merge_keys_are_explained(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        APP + "groups:\n  - &base\n    id: a\n    type: Public\n  - <<: *base\n    id: b\n",
    )
    found = issues(path)
    assert any(
        i.location == Location(str(path), 7, 5) and "merge keys (<<) are not supported" in i.message
        for i in found
    )


def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, APP.encode() + b"groups:\n  - id: g\n    name: caf\xe9 \xff\n")
    (issue,) = issues(path)
    assert issue.location == Location(str(path), 5, 14)
    assert issue.message == "not valid UTF-8 (byte 0xe9); save the file as UTF-8"


def test_utf16_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, APP.encode("utf-16"))
    (issue,) = issues(path)
    assert "looks like UTF-16" in issue.message


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, ("\ufeff" + APP).encode())
    assert load_config(path).app.sdkappid == 7


@pytest.mark.parametrize(
    ("text", "got"),
    [("- a\n", "a list"), ("just text\n", "a scalar")],
)
def test_top_level_must_be_one_mapping(tmp_path: Path, text: str, got: str) -> None:
    path = write(tmp_path, text)
    (issue,) = issues(path)
    assert issue.location == Location(str(path), 1, 1)
    assert f"one YAML mapping with the keys app, policy, groups; got {got}" in issue.message


def test_a_second_document_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, APP + "---\ngroups: []\n")
    (issue,) = issues(path)
    assert issue.location == Location(str(path), 3, 1)
    assert "a second YAML document starts here" in issue.message


def test_yaml_1_2_scalars(tmp_path: Path) -> None:
    # YAML 1.2: `yes`/`on` are strings, so they are not silently turned into booleans.
    path = write(tmp_path, APP + "groups:\n  - id: g\n    type: Public\n    name: yes\n")
    assert load_config(path).groups[0].name == "yes"


def test_flow_style_errors_are_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"app": {"sdkappid": 7}, "groups": [{"id": "g", "type": "Public",\n'
        ' "members": [{"account": "a", "role": "Boss"}]}]}\n',
    )
    (issue,) = issues(path)
    assert issue.location == Location(str(path), 2, 39)
    assert "'Boss' is not allowed" in issue.message


# --- big files: parsed item by item, same result, errors still located -------------------------


def big_config(groups: int, members: int) -> str:
    out = [APP, "groups:\n"]
    for g in range(groups):
        out.append(f"  - id: g{g}\n    type: Public\n    name: Group {g}\n    members:\n")
        for m in range(members):
            if m % 7 == 0:
                out.append(f"      - account: u{g}-{m}\n        role: Admin\n")
            else:
                out.append(f"      - u{g}-{m}\n")
    return "".join(out)


def test_chunked_parse_gives_the_same_config(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, big_config(60, 40))
    monkeypatch.setattr(loader_module, "CHUNKED_PARSE_ABOVE", 10**12)
    whole = load_config(path)
    monkeypatch.setattr(loader_module, "CHUNKED_PARSE_ABOVE", 0)
    chunked = load_config(path)
    assert chunked.groups == whole.groups
    assert chunked.locations == whole.locations
    assert chunked.digest == whole.digest
    assert len(chunked.groups) == 60 and chunked.locations["g59"].line > 2000


@pytest.fixture
def chunked(monkeypatch) -> None:
    """Parse every file item by item, as big files are."""
    monkeypatch.setattr(loader_module, "CHUNKED_PARSE_ABOVE", 0)


def test_errors_deep_in_a_big_file_are_located(tmp_path: Path, chunked: None) -> None:
    text = big_config(400, 40)
    lines = text.splitlines(keepends=True)
    target = next(n for n, row in enumerate(lines) if row == "      - account: u300-7\n")
    lines[target + 1] = "        role: Admn\n"
    lines.insert(target + 2, "        role: Member\n")  # a duplicate key too
    path = write(tmp_path, "".join(lines))
    (issue,) = issues(path)  # yaml errors stop the file: the duplicate is reported
    assert issue.location == Location(str(path), target + 3, 9)
    assert issue.message == f"duplicate key 'role' (first at line {target + 2}); remove one of them"
    del lines[target + 2]
    write(tmp_path, "".join(lines))
    (issue,) = issues(path)
    assert issue.location == Location(str(path), target + 2, 15)
    assert issue.message.startswith("group 'g300': members[7].role: 'Admn' is not allowed")


def test_big_file_with_anchors_across_items_falls_back(tmp_path: Path, chunked: None) -> None:
    text = (
        big_config(300, 40)
        .replace("  - id: g0\n    type: Public\n", "  - id: g0\n    type: &t Public\n")
        .replace("  - id: g299\n    type: Public\n", "  - id: g299\n    type: *t\n")
    )
    path = write(tmp_path, text)
    assert load_config(path).groups[-1].type.value == "Public"


def test_big_file_syntax_error_is_located(tmp_path: Path, monkeypatch) -> None:
    text = big_config(300, 40)
    lines = text.splitlines(keepends=True)
    lines[5000] = "      - [unclosed\n"
    path = write(tmp_path, "".join(lines))
    (whole,) = issues(path)
    monkeypatch.setattr(loader_module, "CHUNKED_PARSE_ABOVE", 0)
    (chunked,) = issues(path)
    assert chunked == whole  # the same place as a parse of the whole file reports
    assert whole.location is not None and 5001 <= whole.location.line <= 5004
    assert whole.message.startswith("YAML syntax error")


# --- the block-style resolver agrees with ruamel.yaml -------------------------------------------

keys = st.sampled_from(["id", "name", "members", "role", "x_y", "1000", "a b", "k"])
scalars = st.one_of(
    st.integers(-5, 5000),
    st.booleans(),
    st.none(),
    st.text("abc xyz:-#", min_size=1, max_size=8),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4),
        st.dictionaries(keys, inner, min_size=1, max_size=4),
    ),
    max_leaves=25,
).filter(lambda d: isinstance(d, dict | list))


def paths(data: Any, prefix: tuple = ()):
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from paths(value, (*prefix, index))


def _at(data: Any, path: tuple) -> Any:
    for step in path:
        data = data[step]
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=documents, style=st.sampled_from([(2, 4, 2), (2, 2, 0), (4, 6, 4)]))
def test_resolver_matches_ruamel(data: Any, style: tuple[int, int, int]) -> None:
    yaml = YAML()
    yaml.indent(mapping=style[0], sequence=style[1], offset=style[2])
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    text = buffer.getvalue()
    node = YAML(typ="rt").compose(text)
    lines = text.split("\n")
    for path in paths(data):
        if _at(data, path) is None:
            continue  # an empty value: ruamel marks the next line, the resolver the key
        for target in ("value", "key"):
            if target == "key" and (not path or isinstance(path[-1], int)):
                continue
            expected = resolve_nodes(node, path, target)
            got = resolve_block(lines, path, target)
            if got is not None:
                assert got == expected, (text, path, target)


def test_index_finds_items_and_top_level_keys() -> None:
    text = (
        "# c\napp:\n  sdkappid: 1\ngroups:\n# note\n- id: a\n  type: Public\n-\n  id: b\n"
        "policy: {}\n"
    )
    index = SourceIndex(text)
    assert set(index.top_keys()) == {"app", "groups", "policy"}
    assert index.item_location(0, 2) == (6, 3)
    assert index.item_location(1, 2) == (9, 3)
    assert index.locate(("groups", 1, "id"), "value", 2) == (9, 7)
    assert index.locate(("policy",), "value", 2) == (10, 9)
