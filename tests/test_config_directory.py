"""A config directory: which files are read, in what order, and how they merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import ConfigError, Location, config_files, load_config


def put(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors(path: Path, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(path, **kwargs)
    return [str(i) for i in err.value.issues]


def test_files_are_merged_in_sorted_order(tmp_path: Path) -> None:
    put(tmp_path, "b-groups.yml", "groups:\n  - {id: b, type: Public}\n")
    put(tmp_path, "a-groups.yaml", "groups:\n  - {id: a, type: Public}\n")
    put(tmp_path, "z-app.yaml", "app:\n  sdkappid: 7\n")
    put(tmp_path, "c.yaml.j2", "groups:\n  - {id: c{{ n }}, type: Work}\n")
    config = load_config(tmp_path, {"n": "1"})
    assert [g.id for g in config.groups] == ["a", "b", "c1"]
    assert [p.name for p in config.files] == [
        "a-groups.yaml",
        "b-groups.yml",
        "c.yaml.j2",
        "z-app.yaml",
    ]
    assert config.app.sdkappid == 7
    assert config.base_dir == tmp_path
    assert config.locations["b"] == Location(str(tmp_path / "b-groups.yml"), 2, 5)


def test_not_recursive_hidden_and_other_files_are_ignored(tmp_path: Path) -> None:
    put(tmp_path, "app.yaml", "app:\n  sdkappid: 7\n")
    put(tmp_path, "sub/more.yaml", "groups:\n  - {id: sub, type: Public}\n")
    put(tmp_path, ".hidden.yaml", "this: is not loaded\n")
    put(tmp_path, "notes.txt", "not yaml\n")
    put(tmp_path, "partial.j2", "{{ nope }}\n")
    config = load_config(tmp_path)
    assert config.groups == []
    assert [p.name for p in config.files] == ["app.yaml"]
    assert config_files(tmp_path) == [tmp_path / "app.yaml"]


def test_type_directories_are_read_and_no_other_subdirectory(tmp_path: Path) -> None:
    """work/, public/, meeting/, avchatroom/, community/ (as export --layout per-group writes
    them) are part of the config, one level down; values/ and the like, and a link named like a
    type directory, are not."""
    put(tmp_path, "app.yaml", "app:\n  sdkappid: 7\n")
    put(tmp_path, "work/w1.yaml", "groups:\n  - {id: w1, type: Work}\n")
    put(tmp_path, "community/@TGS#_c.yaml", "groups:\n  - {id: '@TGS#_c', type: Community}\n")
    put(tmp_path, "work/deeper/no.yaml", "groups:\n  - {id: deep, type: Work}\n")
    put(tmp_path, "values/prod.yaml", "school: Hillside\n")
    put(tmp_path, "elsewhere/p.yaml", "groups:\n  - {id: linked, type: Public}\n")
    (tmp_path / "public").symlink_to(tmp_path / "elsewhere")
    config = load_config(tmp_path)
    assert sorted(g.id for g in config.groups) == ["@TGS#_c", "w1"]
    assert config_files(tmp_path) == [
        tmp_path / "app.yaml",
        tmp_path / "community" / "@TGS#_c.yaml",
        tmp_path / "work" / "w1.yaml",
    ]
    assert config.locations["w1"] == Location(str(tmp_path / "work" / "w1.yaml"), 2, 5)


def test_values_file_inside_the_directory_is_not_config(tmp_path: Path) -> None:
    put(tmp_path, "app.yaml", "app:\n  sdkappid: 7\n")
    values = put(tmp_path, "values.yaml", "school: Hillside\n")
    put(tmp_path, "g.yaml.j2", "groups:\n  - {id: g, type: Public, name: '{{ school }}'}\n")
    config = load_config(tmp_path, values_files=[values])
    assert config.groups[0].name == "Hillside"
    assert values not in config.files
    # Without --values the file is config, and the error says what to do.
    messages = errors(tmp_path, variables={"school": "x"})
    assert messages == [
        f"{tmp_path / 'values.yaml'}:1:1: unknown top-level key 'school'; allowed: app, policy, "
        "groups (a values file belongs outside the config directory, or in a subdirectory such "
        "as values/)"
    ]


def test_app_twice_names_both_places(tmp_path: Path) -> None:
    put(tmp_path, "a.yaml", "app:\n  sdkappid: 7\n")
    put(tmp_path, "b.yaml", "# second\napp:\n  sdkappid: 8\npolicy: {}\n")
    put(tmp_path, "c.yaml", "policy:\n  max_removal_fraction: 0.5\n")
    assert errors(tmp_path) == [
        f"{tmp_path / 'b.yaml'}:2:1: `app` is declared twice: here and at "
        f"{tmp_path / 'a.yaml'}:1:1; declare it once across all files",
        f"{tmp_path / 'c.yaml'}:1:1: `policy` is declared twice: here and at "
        f"{tmp_path / 'b.yaml'}:4:1; declare it once across all files",
    ]


def test_group_id_twice_across_files_names_both_places(tmp_path: Path) -> None:
    put(tmp_path, "a.yaml", "app:\n  sdkappid: 7\ngroups:\n  - id: dup\n    type: Public\n")
    put(
        tmp_path,
        "b.yaml",
        "groups:\n  - id: other\n    type: Public\n  - id: dup\n    type: Work\n",
    )
    assert errors(tmp_path) == [
        f"{tmp_path / 'b.yaml'}:4:9: group ID 'dup' is declared twice: here and at "
        f"{tmp_path / 'a.yaml'}:4:9; group IDs must be unique across all files"
    ]


def test_every_file_is_checked_and_issues_are_in_file_order(tmp_path: Path) -> None:
    put(tmp_path, "a.yaml", "app:\n  sdkappid: 7\ngroups:\n  - {id: a, type: Pub}\n")
    put(tmp_path, "b.yaml", "groups: [\n")
    put(tmp_path, "c.yaml", "groups:\n  - {id: c, typ: Public}\n")
    messages = errors(tmp_path)
    assert len(messages) == 4
    assert messages[0].startswith(f"{tmp_path / 'a.yaml'}:4:19: group 'a': type: 'Pub'")
    assert messages[1].startswith(f"{tmp_path / 'b.yaml'}:1:9: YAML syntax error: unclosed bracket")
    assert messages[2] == f"{tmp_path / 'c.yaml'}:2:5: group 'c': missing required key 'type'"
    assert messages[3] == (
        f"{tmp_path / 'c.yaml'}:2:13: group 'c': typ: unknown key 'typ'; did you mean 'type'?"
    )


def test_missing_app_and_empty_directory(tmp_path: Path) -> None:
    assert errors(tmp_path) == [
        f"{tmp_path}: no config files (*.yaml, *.yml, *.yaml.j2, *.yml.j2) in this directory"
    ]
    put(tmp_path, "g.yaml", "groups: []\n")
    assert errors(tmp_path) == [
        f"{tmp_path}: no `app:` section; add one with at least `sdkappid:` (in any one file of "
        "the config)"
    ]
    assert errors(tmp_path / "nope") == [f"{tmp_path / 'nope'}: no such file or directory"]


def test_empty_files_are_fine(tmp_path: Path) -> None:
    put(tmp_path, "app.yaml", "app:\n  sdkappid: 7\n")
    put(tmp_path, "empty.yaml", "# nothing yet\n")
    put(tmp_path, "none.yaml.j2", "{% if false %}groups: []{% endif %}\n")
    put(tmp_path, "nogroups.yaml", "groups:\n")
    assert load_config(tmp_path).groups == []


def test_single_file_path_uses_its_directory_as_base(tmp_path: Path) -> None:
    path = put(tmp_path, "sub/one.yaml", "app:\n  sdkappid: 7\n")
    put(tmp_path, "sub/other.yaml", "groups: [oops\n")  # not part of a single-file config
    config = load_config(path)
    assert config.base_dir == tmp_path / "sub"
    assert config.files == [path]
