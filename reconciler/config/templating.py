"""Jinja2 templates (*.yaml.j2, *.yml.j2) rendered in a sandbox before parsing.

The environment is ``ImmutableSandboxedEnvironment`` (no access to Python internals, no mutation
of passed-in values) with ``StrictUndefined`` (a missing variable is an error, not an empty
string). ``{% include %}`` / ``{% import %}`` read only files inside the config directory: the
loader resolves symlinks and refuses anything outside. Nothing else is reachable: no environment
variables, no other files.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from reconciler.config.errors import Issue, Location

TEMPLATE_SUFFIXES = (".yaml.j2", ".yml.j2")


class RootedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that never returns a file whose real path is outside ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        super().__init__(str(self.root), encoding="utf-8", followlinks=False)

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        real = Path(filename).resolve()
        if not real.is_relative_to(self.root):
            raise jinja2.TemplateNotFound(
                f"{template} (it resolves outside the config directory {self.root})"
            )
        return source, filename, uptodate


def make_environment(root: Path) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=RootedLoader(root),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        auto_reload=False,
    )


class TemplateIssue(Exception):
    def __init__(self, issue: Issue) -> None:
        super().__init__(str(issue))
        self.issue = issue


def render(
    env: ImmutableSandboxedEnvironment,
    path: Path,
    root: Path,
    context: dict[str, Any],
    display: Callable[[Path], str],
) -> str:
    """Render the template at ``path``; raise TemplateIssue with a located message."""
    name = path.resolve().relative_to(root.resolve()).as_posix()
    try:
        template = env.get_template(name)
        return template.render(context)
    except jinja2.TemplateSyntaxError as err:
        where = Path(err.filename) if err.filename else path
        line = err.lineno or 1
        raise TemplateIssue(
            Issue(
                Location(display(where), line, 1),
                f"template syntax error: {err.message}",
            )
        ) from None
    except Exception as err:  # noqa: BLE001 - every template failure becomes a located issue
        file, line, text = _template_frame(err, path)
        message = _runtime_message(err)
        col = _column(text, err)
        raise TemplateIssue(Issue(Location(display(file), line, col), message)) from None


def _template_frame(err: BaseException, default: Path) -> tuple[Path, int, str]:
    """The innermost traceback frame that is in a template (Jinja maps them to template lines)."""
    frames = traceback.extract_tb(err.__traceback__)
    for frame in reversed(frames):
        if frame.filename.endswith(".j2") or (
            frame.filename.endswith((".yaml", ".yml", ".jinja", ".jinja2", ".html", ".txt"))
            and os.path.exists(frame.filename)
        ):
            text = _line_of(frame.filename, frame.lineno or 1)
            return Path(frame.filename), frame.lineno or 1, text
    return default, 1, ""


def _line_of(filename: str, lineno: int) -> str:
    try:
        with open(filename, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if number == lineno:
                    return line
    except OSError:
        pass
    return ""


def _column(text: str, err: BaseException) -> int:
    name = _undefined_name(err)
    if name and text:
        match = re.search(r"\b" + re.escape(name) + r"\b", text)
        if match:
            return match.start() + 1
    if text:
        brace = text.find("{{")
        block = text.find("{%")
        found = [p for p in (brace, block) if p >= 0]
        if found:
            return min(found) + 1
        return len(text) - len(text.lstrip()) + 1
    return 1


def _undefined_name(err: BaseException) -> str | None:
    if isinstance(err, jinja2.UndefinedError):
        match = re.match(r"'([^']+)' is undefined", str(err))
        if match:
            return match[1]
        match = re.search(r"has no attribute '([^']+)'", str(err))
        if match:
            return match[1]
    return None


def _runtime_message(err: BaseException) -> str:
    if isinstance(err, jinja2.UndefinedError):
        name = _undefined_name(err)
        if name and "is undefined" in str(err):
            return (
                f"template variable '{name}' is undefined; pass it with --var {name}=... or in a "
                "values file (or guard it with `is defined` / `| default(...)`)"
            )
        if name and name.startswith("_"):
            return f"template error: {err} (the sandbox hides internal attributes)"
        return f"template error: {err}"
    if isinstance(err, SecurityError):
        return f"template blocked by the sandbox: {err}"
    if isinstance(err, jinja2.TemplateNotFound):
        return (
            f"template {err.name!r} not found in the config directory "
            "(includes and imports are limited to it)"
        )
    if isinstance(err, OverflowError):
        return f"template error: {err}"
    return f"template error: {type(err).__name__}: {err}"
