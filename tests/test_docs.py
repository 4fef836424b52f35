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
