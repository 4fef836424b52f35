"""Which config a changed file belongs to, for hooks that are given file names (pre-commit).

A config is a directory whose config files (``loader.config_files``: its YAML and template
files, and those of its type directories) declare the ``app`` section once. A changed file
belongs to the nearest directory at or above it, up to ``top``, one of whose config files has a
top-level ``app:`` key (quoted or not); a type directory is taken as part of the directory above
it when that one declares the app section too (its config reads the type directory's files).
Files of no config (workflows, other tools' YAML) are skipped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from reconciler.config.loader import TYPE_DIRECTORIES, config_files

# `app:` in column 0, plain or quoted, on the first line after a UTF-8 byte-order mark too.
APP_KEY = re.compile(rb"^(?:\xef\xbb\xbf)?(?:app|\"app\"|'app')[ \t]*:", re.MULTILINE)
HEAD_BYTES = 1 << 20  # the app section comes first in practice; never read a huge file whole


def _declares_app(directory: Path) -> bool:
    for child in config_files(directory):
        if not child.is_file():
            continue
        try:
            with child.open("rb") as handle:
                if APP_KEY.search(handle.read(HEAD_BYTES)):
                    return True
        except OSError:
            continue
    return False


def _read_by_parent(directory: Path, top: Path) -> bool:
    """A type directory inside a config: that config reads its files (and reports a second
    app section)."""
    return (
        directory != top
        and directory.name in TYPE_DIRECTORIES.values()
        and _declares_app(directory.parent)
    )


def config_roots(paths: list[str], top: str | Path = ".") -> list[str]:
    """The config directories that ``paths`` (files or directories) belong to, in order and
    without repeats; a directory given is taken as a config itself."""
    top = Path(top).resolve()
    roots: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found: Path | None = path.resolve()
        else:
            found = None
            directory = path.resolve().parent
            while directory.is_relative_to(top):
                if _declares_app(directory):
                    found = directory.parent if _read_by_parent(directory, top) else directory
                    break
                if directory == top:
                    break
                directory = directory.parent
        if found is not None:
            shown = os.path.relpath(found)
            if shown not in roots:
                roots.append(shown)
    return roots
