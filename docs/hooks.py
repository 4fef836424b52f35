"""MkDocs hooks (mkdocs.yml: hooks): the pages that have one source elsewhere are generated at
build time, so the site cannot disagree with it.

- Each `## ` section of README.md is a page (the README's intro and Quickstart the home page);
  links between sections point to their pages, links to files of the repository to the
  repository.
- `reference/configuration.md` is the config reference made from the JSON Schema
  (reconciler.docs, the same table as the README's).
- `reference/commands.md` is every command's help and options, read from the click commands.
- `changelog.md` is CHANGELOG.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
from mkdocs.structure.files import File, Files

from reconciler.cli import cli
from reconciler.docs import reference_markdown

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(title: str) -> str:
    """A heading's anchor, as GitHub and MkDocs's toc both make it."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def readme_pages() -> list[tuple[str, str, str]]:
    """(file, title, markdown) for the home page and each `## ` section of the README."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)\n", text, flags=re.M)
    head, sections = parts[0], list(zip(parts[1::2], parts[2::2], strict=True))
    quickstart = [(t, b) for t, b in sections if t == "Quickstart"]
    home = head + "".join(f"## {t}\n{b}" for t, b in quickstart)
    pages = [("index.md", "Home", home)]
    for title, body in sections:
        if title != "Quickstart":
            pages.append((f"{slug(title)}.md", title, f"# {title}\n{body}"))
    return pages


def _rewrite_links(pages: list[tuple[str, str, str]], repo: str) -> list[tuple[str, str, str]]:
    where: dict[str, str] = {}  # anchor -> page
    for file, _, body in pages:
        for heading in re.findall(r"^#{1,6} (.+)$", body, flags=re.M):
            where.setdefault(slug(heading), file)

    def link(match: re.Match[str], file: str) -> str:
        target = match.group(1)
        if target.startswith("#"):
            page = where.get(target[1:], file)
            return f"]({'' if page == file else page}{target})"
        if re.match(r"[a-z]+:", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        kind = "tree" if (ROOT / path).is_dir() else "blob"
        return f"]({repo}/{kind}/HEAD/{path.strip('/')}{'#' + anchor if anchor else ''})"

    return [
        (file, title, LINK.sub(lambda m, f=file: link(m, f), body)) for file, title, body in pages
    ]


def commands_markdown() -> str:
    lines = [
        "# Commands",
        "",
        "Generated from the commands themselves (`reconciler COMMAND --help`).",
        "",
    ]

    def walk(command: click.Command, name: str) -> None:
        lines.extend([f"## `{name}`", "", (command.help or "").strip(), ""])
        options = [p for p in command.params if isinstance(p, click.Option)]
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        if arguments:
            shown = " ".join(a.human_readable_name for a in arguments)
            lines.extend([f"Arguments: `{shown}`", ""])
        if options:
            lines.extend(["| option | description |", "|---|---|"])
            for option in options:
                flags = ", ".join(f"`{o}`" for o in option.opts + option.secondary_opts)
                text = (option.help or "").replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {flags} | {text} |")
            lines.append("")
        if isinstance(command, click.Group):
            for sub_name, sub in sorted(command.commands.items()):
                walk(sub, f"{name} {sub_name}")

    walk(cli, "reconciler")
    return "\n".join(lines)


def configuration_markdown() -> str:
    return (
        "# Configuration reference\n\n"
        "Generated from the JSON Schema "
        "(`reconciler schema`, committed as `schemas/reconciler.schema.json`): every key of "
        "every section, its type, default and limits.\n\n" + reference_markdown()
    )


def generated(config) -> list[tuple[str, str]]:
    repo = config["repo_url"].rstrip("/")
    pages = [(file, body) for file, _, body in _rewrite_links(readme_pages(), repo)]
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return pages + [
        ("reference/configuration.md", configuration_markdown()),
        ("reference/commands.md", commands_markdown()),
        ("changelog.md", changelog),
    ]


def on_config(config):
    # The navigation: the README's sections in its order, then the references.
    nav = [{title: file} for file, title, _ in readme_pages()]
    nav.append(
        {
            "Reference": [
                {"Configuration": "reference/configuration.md"},
                {"Commands": "reference/commands.md"},
            ]
        }
    )
    nav.append({"Changelog": "changelog.md"})
    config["nav"] = nav
    return config


def on_files(files: Files, config) -> Files:
    for path, content in generated(config):
        files.append(File.generated(config, path, content=content))
    return files
