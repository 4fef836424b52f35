"""Jinja2 templates: variables, values files, the sandbox, and located template errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.config import ConfigError, Location, load_config, render_sources

FIXTURES = Path(__file__).parent / "fixtures" / "config"


def put(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def issues(path: Path, variables=None, values=None) -> list:
    with pytest.raises(ConfigError) as err:
        load_config(path, variables, values)
    return err.value.issues


APP = "app:\n  sdkappid: 7\n"


def test_values_files_then_vars(tmp_path: Path) -> None:
    base = FIXTURES / "templated"
    config = load_config(
        base,
        {"card_prefix": "P-"},
        [base / "values" / "base.yaml", base / "values" / "term2.yaml"],
    )
    # term2.yaml overrides `prefix`; --var overrides `card_prefix`; the include renders members.
    assert [g.id for g in config.groups] == ["term2-7a", "term2-7b"]
    group = config.groups[0]
    assert group.name == "Class 7A"
    assert list(group.members) == ["teacher10", "s1", "s2"]
    assert group.members["s1"].name_card == "P-s1"
    assert config.files == [base / "app.yaml", base / "groups.yaml.j2"]


def test_values_merge_deeply_and_dotted_vars_set_nested_keys(tmp_path: Path) -> None:
    put(tmp_path, "cfg/app.yaml", APP)
    put(
        tmp_path,
        "cfg/g.yaml.j2",
        "groups:\n  - id: {{ school.code }}\n    type: Public\n"
        "    name: {{ school.name | tojson }}\n    introduction: {{ motto | tojson }}\n",
    )
    one = put(tmp_path, "one.yaml", "school: {code: hs, name: Hillside}\nmotto: first\n")
    two = put(tmp_path, "two.yaml", "school: {name: Hillside High}\n")
    config = load_config(tmp_path / "cfg", {"school.code": "hhs"}, [one, two])
    group = config.groups[0]
    assert (group.id, group.name, group.introduction) == ("hhs", "Hillside High", "first")


def test_undefined_variable_is_located(tmp_path: Path) -> None:
    put(tmp_path, "app.yaml", APP)
    path = put(
        tmp_path, "g.yaml.j2", "groups:\n  - id: x\n    type: Public\n    name: {{ title }}\n"
    )
    (issue,) = issues(tmp_path)
    assert issue.location == Location(str(path), 4, 14)
    assert issue.message.startswith(
        "template variable 'title' is undefined; pass it with --var title=... or in a values file"
    )


@pytest.mark.parametrize("expression", ["{{ title | tojson }}", "{{ title | string }}"])
def test_an_undefined_value_through_a_filter_is_named_with_the_values_files(
    tmp_path: Path, expression: str
) -> None:
    """Not `TypeError: Object of type StrictUndefined is not JSON serializable` (issue 27)."""
    put(tmp_path, "app.yaml", APP)
    values = put(tmp_path / "values", "prod.yaml", "other: 1\n")
    put(tmp_path, "g.yaml.j2", f"groups:\n  - id: x\n    type: Public\n    name: {expression}\n")
    (issue,) = issues(tmp_path, values=[values])
    assert issue.message.startswith("template variable 'title' is undefined")
    assert issue.message.endswith(f"values files read: {values}")
    (issue,) = issues(tmp_path)
    assert issue.message.endswith("no values file was given")


def test_undefined_attribute_is_located(tmp_path: Path) -> None:
    put(tmp_path, "app.yaml", APP)
    path = put(
        tmp_path,
        "g.yaml.j2",
        "groups:\n{% for c in classes %}\n  - id: {{ c.code }}\n{% endfor %}\n",
    )
    (issue,) = issues(tmp_path, values=[put(tmp_path / "v", "v.yaml", "classes: [{id: 1}]\n")])
    assert issue.location == Location(str(path), 3, 14)
    assert "has no attribute 'code'" in issue.message


def test_template_syntax_error_is_located(tmp_path: Path) -> None:
    put(tmp_path, "app.yaml", APP)
    path = put(tmp_path, "g.yaml.j2", "groups:\n{% for c in classes %}\n  - id: x\n")
    (issue,) = issues(tmp_path)
    assert issue.location is not None
    assert (issue.location.file, issue.location.line) == (str(path), 2)  # the unclosed tag
    assert issue.message.startswith("template syntax error: Unexpected end of template")


def test_syntax_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    put(tmp_path, "app.yaml", APP)
    put(tmp_path, "g.yaml.j2", "groups:\n{% include 'parts/p.j2' %}\n")
    part = put(tmp_path, "parts/p.j2", "  - id: x\n    type: {{ 'Public' }\n")
    (issue,) = issues(tmp_path)
    assert issue.location == Location(str(part), 2, 1)
    assert "template syntax error" in issue.message


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__.__mro__",
        "cycler.__init__.__globals__",
        "range.__self__",
        "lipsum.__globals__['os']",
    ],
)
def test_sandbox_blocks_python_internals(tmp_path: Path, expression: str) -> None:
    put(tmp_path, "app.yaml", APP)
    path = put(tmp_path, "g.yaml.j2", f"groups: []\n# {{{{ {expression} }}}}\n")
    (issue,) = issues(tmp_path)
    assert issue.location is not None and issue.location.file == str(path)
    assert issue.location.line == 2
    assert "sandbox" in issue.message or "undefined" in issue.message


def test_sandbox_is_immutable(tmp_path: Path) -> None:
    put(tmp_path, "app.yaml", APP)
    put(tmp_path, "g.yaml.j2", "{% set _ = items.append(4) %}groups: []\n")
    (issue,) = issues(tmp_path, {"items": "x"})  # a str has no append either way
    (issue,) = issues(tmp_path, values=[put(tmp_path / "v", "v.yaml", "items: [1, 2, 3]\n")])
    assert "sandbox" in issue.message and "append" in issue.message


def test_no_environment_or_file_access(tmp_path: Path) -> None:
    os.environ["TIM_TEST_SECRET"] = "hunter2"
    put(tmp_path, "app.yaml", APP)
    put(tmp_path, "g.yaml.j2", "groups: []\n# {{ env }}\n")
    (issue,) = issues(tmp_path)
    assert "'env' is undefined" in issue.message


def test_include_outside_the_config_directory_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    put(cfg, "app.yaml", APP)
    put(tmp_path, "secret.txt", "groups: [{id: leaked, type: Public}]\n")
    path = put(cfg, "g.yaml.j2", "{% include '../secret.txt' %}\n")
    (issue,) = issues(cfg)
    assert issue.location == Location(str(path), 1, 1)
    assert "not found in the config directory" in issue.message


def test_symlink_escaping_the_config_directory_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    put(cfg, "app.yaml", APP)
    outside = put(tmp_path, "outside.j2", "groups: [{id: leaked, type: Public}]\n")
    (cfg / "link.j2").symlink_to(outside)
    put(cfg, "g.yaml.j2", "{% include 'link.j2' %}\n")
    (issue,) = issues(cfg)
    assert "resolves outside the config directory" in issue.message


def test_errors_in_rendered_output_use_rendered_lines(tmp_path: Path) -> None:
    put(tmp_path, "app.yaml", APP)
    path = put(
        tmp_path,
        "g.yaml.j2",
        "groups:\n{% for n in range(3) %}\n  - id: g{{ n }}\n"
        "    type: {{ 'Public' if n != 1 else 'Pubic' }}\n{% endfor %}\n",
    )
    (issue,) = issues(tmp_path)
    # Rendered: line 1 "groups:", then each group takes 3 lines (the for-tag line is blank).
    assert issue.location == Location(str(path), 7, 11)
    assert issue.message.endswith("[line:col in the rendered template output]")
    assert render_sources(tmp_path)[path].splitlines()[6] == "    type: Pubic"


def test_values_file_errors_are_located(tmp_path: Path) -> None:
    put(tmp_path, "cfg/app.yaml", APP)
    bad = put(tmp_path, "bad.yaml", "a: [1\n")
    listy = put(tmp_path, "list.yaml", "- 1\n")
    found = issues(tmp_path / "cfg", values=[bad, listy])
    assert [i.location for i in found] == [Location(str(bad), 1, 4), Location(str(listy), 1, 1)]
    assert found[0].message == "YAML syntax error: unclosed bracket '['"
    assert found[1].message == "a values file must be a YAML mapping of names to values"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("9", "int 9"),
        ("-3", "int -3"),
        ("0.25", "float 0.25"),
        ("true", "bool True"),
        ("007", "str 007"),
        ("1e3", "str 1e3"),
        ("Class 7A", "str Class 7A"),
    ],
)
def test_var_values_become_numbers_only_when_exact(
    tmp_path: Path, given: str, expected: str
) -> None:
    put(tmp_path, "app.yaml", APP)
    kind = (
        "{{ 'bool' if x is boolean else 'int' if x is integer else 'float' if x is float "
        "else 'str' }}"
    )
    put(
        tmp_path,
        "g.yaml.j2",
        f"groups:\n  - id: g\n    type: Public\n    name: {kind} {{{{ x }}}}\n",
    )
    assert load_config(tmp_path, {"x": given}).groups[0].name == expected
