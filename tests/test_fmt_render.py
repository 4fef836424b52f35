"""`reconciler fmt` keeps comments and meaning and makes one layout (`--check` for CI), and
`reconciler render` prints what templates expand to."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml_rs
from conftest import cli_in_process

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

LONG = "An introduction that fmt never re-wraps, " * 4  # well over any line width
MESSY = f"""\
# the app
app:
    sdkappid: 1400000000   # ours
    endpoint: local
groups:
-   id: "g1"     # quoted stays quoted
    type: Public
    name: Class 1
    introduction: {LONG.strip()}
    members:
    -   boss
    -   account: m1
        name_card: 'One'
    custom: {{}}
"""


def test_fmt_check_passes_on_every_example():
    paths = [EXAMPLES / "school", EXAMPLES / "community", EXAMPLES / "school" / "values"]
    paths += [EXAMPLES / "roster" / "values"]
    run = cli_in_process("fmt", "--check", *paths)
    assert run.code == 0, run
    assert "0 of 8 file(s) to reformat." in run.out


def test_fmt_check_fails_where_a_file_would_change_and_changes_nothing(tmp_path):
    path = tmp_path / "groups.yaml"
    path.write_text(MESSY)
    run = cli_in_process("fmt", "--check", tmp_path)
    assert run.code == 1 and f"would reformat {path}" in run.out
    assert path.read_text() == MESSY


def test_fmt_reads_a_directory_as_the_loader_does_type_directories_included(tmp_path):
    """The files of work/, community/... are config (export --layout per-group writes them);
    values/ is not: fmt of the directory checks the first and leaves the second alone."""
    grouped, values = tmp_path / "work" / "g.yaml", tmp_path / "values" / "v.yaml"
    for path in (grouped, values):
        path.parent.mkdir()
        path.write_text(MESSY)
    run = cli_in_process("fmt", "--check", tmp_path)
    assert run.code == 1 and f"would reformat {grouped}" in run.out, run
    assert str(values) not in run.out and "1 of 1 file(s)" in run.out


def test_fmt_rewrites_keeping_comments_quotes_and_data(tmp_path):
    path = tmp_path / "groups.yaml"
    path.write_text(MESSY)
    run = cli_in_process("fmt", path)
    assert run.code == 0 and f"reformatted {path}" in run.out
    text = path.read_text()
    assert yaml_rs.loads(text) == yaml_rs.loads(MESSY)
    for kept in ("# the app", "# ours", "# quoted stays quoted", 'id: "g1"', "name_card: 'One'"):
        assert kept in text
    assert f"introduction: {LONG.strip()}\n" in text  # one line, as it was
    assert "  sdkappid: 1400000000" in text and "  - id: " in text and "      - boss" in text
    assert cli_in_process("fmt", "--check", path).code == 0  # stable: formatted once is done
    assert cli_in_process("validate", tmp_path).code == 0


def test_fmt_names_the_place_of_a_yaml_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("app:\n  sdkappid: [1\n")
    run = cli_in_process("fmt", path)
    assert run.code == 1 and f"{path}:3:1: not valid YAML" in run.err
    assert path.read_text() == "app:\n  sdkappid: [1\n"


def test_fmt_follows_symlinks_only_inside_the_directory_and_writes_nothing_else(tmp_path):
    # Issue 25, 12: the loader's rule; a link out of the directory is refused before any write.
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    outside = tmp_path / "outside.yaml"
    outside.write_text(MESSY)
    (cfg / "a.yaml").write_text(MESSY)
    (cfg / "b.yaml").symlink_to(outside)
    (cfg / "c.yaml").symlink_to("a.yaml")  # inside: followed
    run = cli_in_process("fmt", cfg)
    assert run.code == 1, run
    assert f"{cfg / 'b.yaml'}: a symlink to a file outside the config directory ({cfg})" in run.err
    assert outside.read_text() == MESSY and (cfg / "a.yaml").read_text() == MESSY
    (cfg / "b.yaml").unlink()
    run = cli_in_process("fmt", cfg)
    assert run.code == 0 and f"reformatted {cfg / 'c.yaml'}" in run.out, run
    assert (cfg / "a.yaml").read_text() != MESSY


def test_fmt_leaves_templates_alone(tmp_path):
    shutil.copy(EXAMPLES / "roster" / "groups.yaml.j2", tmp_path)
    run = cli_in_process("fmt", "--check", tmp_path)
    assert run.code == 0 and "0 of 0 file(s)" in run.out


def test_render_prints_templates_expanded(tmp_path):
    roster = EXAMPLES / "roster"
    run = cli_in_process("render", roster, "--values", roster / "values" / "staging.yaml")
    assert run.code == 0, run
    assert run.out.startswith(f"--- # {roster / 'groups.yaml.j2'}\n")
    assert "{%" not in run.out and "{{" not in run.out
    doc = yaml_rs.loads(run.out.split("\n", 1)[1])
    assert doc["app"]["sdkappid"] == 1400000002 and doc["groups"]


def test_render_reports_template_errors_with_their_place():
    run = cli_in_process("render", EXAMPLES / "roster")  # no values: undefined variables
    assert run.code == 1 and "groups.yaml.j2:" in run.err
