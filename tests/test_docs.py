"""The README documents what the tool does: the config reference and the command flags."""

from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.docs import updated_readme

README = Path(__file__).resolve().parent.parent / "README.md"


def test_config_reference_matches_the_schema():
    text = README.read_text()
    assert updated_readme(text) == text, "README reference is stale: run python -m reconciler.docs"


def test_every_command_and_flag_is_in_the_readme():
    text = README.read_text()
    for name, command in cli.commands.items():
        commands = command.commands.items() if hasattr(command, "commands") else [(None, command)]
        for sub, leaf in commands:
            full = f"reconciler {name}" + (f" {sub}" if sub else "")
            assert full in text, f"{full} is not documented in README.md"
            for param in leaf.params:
                for flag in param.opts:
                    if flag.startswith("--") and flag != "--help":
                        assert flag in text, f"{full} {flag} is not documented in README.md"
    for flag in ("--debug", "--quiet", "--version"):
        assert flag in text


def test_help_is_readable():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("validate", "plan", "apply", "export", "schema", "emulator"):
        assert name in result.output


def test_the_site_builds_strict_with_every_key_command_and_option(tmp_path):
    """The MkDocs site (mkdocs.yml, docs/hooks.py) builds with --strict, and a config key, a
    command or an option missing from it fails here."""
    import html
    import os
    import re
    import subprocess
    import sys

    from reconciler.config import json_schema

    root = README.parent
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr

    def text(page: str) -> str:
        return html.unescape(re.sub(r"<[^>]+>", "", (site / page / "index.html").read_text()))

    configuration = text("reference/configuration")
    schema = json_schema()
    for name, definition in schema["$defs"].items():
        for key in definition.get("properties", {}):
            assert key in configuration, f"{name}.{key} is missing from the site"
    commands = text("reference/commands")
    for name, command in cli.commands.items():
        leaves = command.commands.items() if hasattr(command, "commands") else [(None, command)]
        for sub, leaf in leaves:
            full = f"reconciler {name}" + (f" {sub}" if sub else "")
            assert full in commands, f"{full} is missing from the site"
            for param in leaf.params:
                for flag in param.opts:
                    if flag.startswith("--"):
                        assert flag in commands, f"{full} {flag} is missing from the site"
    assert "Quickstart" in text("")  # the home page is the README's head
