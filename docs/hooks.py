"""MkDocs hooks (mkdocs.yml: hooks): the pages that have one source elsewhere are generated at
build time, so the site cannot disagree with it.

- `index.md` is README.md (the landing page); its links into `docs/` point to the pages.
- `changelog.md` is CHANGELOG.md.

Links from any page to files of the repository outside `docs/` (`../examples/ci`, which GitHub
resolves from the file itself) point to the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _repo_links(markdown: str, page_dir: Path, repo: str) -> str:
    """Point links that leave docs/ to the repository; leave links between pages alone."""

    def link(match: re.Match[str]) -> str:
        target = match.group(1)
        if target.startswith("#") or re.match(r"[a-z]+:", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = (page_dir / path).resolve()
        if resolved.is_relative_to(DOCS):
            return f"]({resolved.relative_to(DOCS).as_posix()}{'#' + anchor if anchor else ''})"
        where = resolved.relative_to(ROOT).as_posix()
        kind = "tree" if resolved.is_dir() else "blob"
        return f"]({repo}/{kind}/HEAD/{where}{'#' + anchor if anchor else ''})"

    return LINK.sub(link, markdown)


def generated(config) -> list[tuple[str, str]]:
    repo = config["repo_url"].rstrip("/")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return [
        ("index.md", _repo_links(readme, ROOT, repo)),
        ("changelog.md", _repo_links(changelog, ROOT, repo)),
    ]


def on_files(files: Files, config) -> Files:
    for path, content in generated(config):
        files.append(File.generated(config, path, content=content))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.generated_by:
        return markdown
    page_dir = (DOCS / page.file.src_uri).parent
    return _repo_links(markdown, page_dir, config["repo_url"].rstrip("/"))
