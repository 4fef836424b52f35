"""The documentation says what the tool does: the landing page, its links, the generated references
and the site."""

from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.docs import reference_pages

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_reference_pages_match_the_schema_and_the_commands():
    for path, text in reference_pages().items():
        assert path.read_text() == text, f"{path} is stale: run python -m reconciler.docs"


def test_the_readme_is_a_landing_page_whose_links_resolve():
    """Under 250 lines; every link to a file of the repository (the site's pages among them)
    names one that exists, and every #anchor a heading of that page."""
    import re

    def slug(title: str) -> str:  # a heading's anchor, as GitHub and MkDocs make it
        return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")

    text = README.read_text()
    assert len(text.splitlines()) < 250
    pages = [README, *sorted((README.parent / "docs").rglob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name}: {target} does not exist"
            if anchor:
                headings = re.findall(r"^#{1,6} (.+)$", linked.read_text(), flags=re.M)
                assert anchor in {slug(h) for h in headings}, f"{page.name}: {target}: no anchor"


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
