"""Jinja2 templates (*.yaml.j2, *.yml.j2) rendered in a sandbox before parsing.

The environment is ``ImmutableSandboxedEnvironment`` (no access to Python internals, no mutation
of passed-in values) with ``StrictUndefined`` (a missing variable is an error, not an empty
string). A template also has budgets, so that none can hang CI or eat the machine: arithmetic
whose result would be huge (``7 ** 123456789``, ``"x" * 10**9``) is refused, and one render may
take at most ``RENDER_SECONDS`` and produce at most ``RENDER_MAX_CHARS``.
``{% include %}`` / ``{% import %}`` read only files inside the config directory: the loader
resolves symlinks and refuses anything outside. Nothing else is reachable: no environment
variables, no other files.
"""

from __future__ import annotations

import os
import re
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from reconciler.config.errors import Issue, Location

TEMPLATE_SUFFIXES = (".yaml.j2", ".yml.j2")

INCLUDE_MAX_BYTES = 64_000_000  # an included or imported template
RENDER_SECONDS = 20.0  # per template file; a big config renders in well under a second
RENDER_MAX_CHARS = 200_000_000  # far above any real config, far below what exhausts memory
NUMBER_MAX_BITS = 256  # config integers are 64-bit; a template never needs more than this
SIZE_MAX = 10_000_000  # a string, list or width one operation may produce
_WIDTH = re.compile(r"%[-+ #0]*(\d+|\*)?(?:\.(\d+|\*))?|\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")


class BudgetError(Exception):
    """A template went over one of its budgets (size of a value, time, output)."""


def _bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _check_number(value: Any) -> Any:
    if isinstance(value, int) and _bits(value) > NUMBER_MAX_BITS:
        raise BudgetError(
            f"a number in the template has more than {NUMBER_MAX_BITS} bits; config values "
            "are at most 64-bit integers"
        )
    return value


def _check_widths(fmt: Any) -> None:
    if isinstance(fmt, str):
        for match in _WIDTH.finditer(fmt):
            for width in match.groups():
                if width and width != "*" and int(width) > SIZE_MAX:
                    raise BudgetError(f"a format width of {width} is over the template budget")


def _sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple | bytes)


class RootedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that never returns a file whose real path is outside ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        super().__init__(str(self.root), encoding="utf-8", followlinks=False)

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        # Check before Jinja opens the file: it must resolve inside the root and be a regular
        # file (a FIFO would block the open; a device would be read forever).
        for base in self.searchpath:
            candidate = Path(base, *split_template_path(template))
            if candidate.is_symlink() or candidate.exists():
                try:
                    real = candidate.resolve(strict=True)
                except (OSError, RuntimeError):
                    raise jinja2.TemplateNotFound(f"{template} (a dangling symlink)") from None
                if not real.is_relative_to(self.root):
                    raise jinja2.TemplateNotFound(
                        f"{template} (it resolves outside the config directory {self.root})"
                    )
                if not real.is_file():
                    raise jinja2.TemplateNotFound(f"{template} (not a regular file)")
                if real.stat().st_size > INCLUDE_MAX_BYTES:
                    raise jinja2.TemplateNotFound(f"{template} (over {INCLUDE_MAX_BYTES:,} bytes)")
                break
        source, filename, uptodate = super().get_source(environment, template)
        real = Path(filename).resolve()
        if not real.is_relative_to(self.root):
            raise jinja2.TemplateNotFound(
                f"{template} (it resolves outside the config directory {self.root})"
            )
        return source, filename, uptodate


class BudgetedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus bounds on what one operation may compute and a deadline per render."""

    # Intercepted operators are also never folded at compile time (a constant 7 ** 123456789
    # would otherwise hang the compiler, before any render starts).
    intercepted_binops = frozenset({"**", "*", "%", "//", "+", "-"})
    deadline: float = float("inf")

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetError(
                f"the template ran for more than {RENDER_SECONDS:g} s; simplify its loops"
            )

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        self.tick()
        if op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            if _bits(left) > 1 and _bits(left) * right > NUMBER_MAX_BITS:
                raise BudgetError(
                    f"{left} ** {right} is too large for a template (more than "
                    f"{NUMBER_MAX_BITS} bits); config values are at most 64-bit integers"
                )
        elif op == "*":
            for seq, count in ((left, right), (right, left)):
                if _sized(seq) and isinstance(count, int) and len(seq) * count > SIZE_MAX:
                    raise BudgetError(
                        f"repeating a value {count} times is over the template budget "
                        f"({SIZE_MAX:,} items or characters); use a loop over a range"
                    )
            if _bits(left) + _bits(right) > NUMBER_MAX_BITS + 1:
                raise BudgetError(
                    f"a product of more than {NUMBER_MAX_BITS} bits is too large for a template"
                )
        elif op == "%" and isinstance(left, str):
            _check_widths(left)
        return _check_number(self.binop_table[op](left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        __self.tick()
        if isinstance(getattr(__obj, "__self__", None), str):
            # str methods: ljust/center/zfill/format... with a huge width or count.
            for arg in (*args, *kwargs.values()):
                if isinstance(arg, int) and arg > SIZE_MAX:
                    raise BudgetError(f"an argument of {arg} is over the template budget")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_widths(value.__self__)  # "{:999999999}".format(1)
        return wrapped


def _bounded_filter(env: jinja2.Environment, name: str) -> None:
    original = env.filters[name]

    def bounded(*args: Any, **kwargs: Any) -> Any:
        for arg in (*args[1:], *kwargs.values()):
            if isinstance(arg, int) and arg > SIZE_MAX:
                raise BudgetError(f"the {name} filter's argument {arg} is over the template budget")
        if name == "format" and args:
            _check_widths(args[0])
        return original(*args, **kwargs)

    for attr in ("jinja_pass_arg",):
        if hasattr(original, attr):
            setattr(bounded, attr, getattr(original, attr))
    env.filters[name] = bounded


def make_environment(root: Path) -> BudgetedEnvironment:
    env = BudgetedEnvironment(
        loader=RootedLoader(root),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    for name in ("center", "indent", "truncate", "wordwrap", "format", "filesizeformat"):
        if name in env.filters:
            _bounded_filter(env, name)
    return env


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
        return _render_budgeted(env, template, context)
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


def _render_budgeted(env: Any, template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render chunk by chunk, stopping at the time and output budgets."""
    env.deadline = time.monotonic() + RENDER_SECONDS
    parts: list[str] = []
    size = 0
    try:
        for part in template.generate(context):
            size += len(part)
            if size > RENDER_MAX_CHARS:
                raise BudgetError(
                    f"the template's output is over {RENDER_MAX_CHARS:,} characters; split the "
                    "config into several files"
                )
            parts.append(part)
            env.tick()
    finally:
        env.deadline = float("inf")
    return "".join(parts)


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
    if isinstance(err, BudgetError):
        return f"template over budget: {err}"
    if isinstance(err, OverflowError | MemoryError | RecursionError):
        return f"template error: {type(err).__name__}: {err}"
    if isinstance(err, ValueError) and "digits" in str(err):  # int -> str digit limit
        return f"template over budget: {err}"
    return f"template error: {type(err).__name__}: {err}"
