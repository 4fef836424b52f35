"""Jinja2 templates (*.yaml.j2, *.yml.j2) rendered in a sandbox before parsing.

The environment is ``ImmutableSandboxedEnvironment`` (no access to Python internals, no mutation
of passed-in values) with ``StrictUndefined`` (a missing variable is an error, not an empty
string). A template also has budgets, so that none can hang CI or eat the machine: arithmetic
whose result would be huge (``7 ** 123456789``) is refused; no one operation may build a string
or list over ``SIZE_MAX`` (the size is computed before the value is: ``*``, ``+``, ``~``, ``%``
and ``format`` widths, string methods, filters such as ``join``/``replace``/``indent``, printing a
list, and the output of a macro, ``call`` or ``set`` block); one render may take at most
``RENDER_SECONDS`` and produce at most ``RENDER_MAX_CHARS``.
``{% include %}`` / ``{% import %}`` read only files inside the config directory: the loader
resolves symlinks and refuses anything outside. Nothing else is reachable: no environment
variables, no other files.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.compiler import CodeGenerator
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from reconciler.config.errors import Issue, Location

TEMPLATE_SUFFIXES = (".yaml.j2", ".yml.j2")

INCLUDE_MAX_BYTES = 64_000_000  # an included or imported template
RENDER_SECONDS = 20.0  # per template file; a big config renders in well under a second
RENDER_MAX_CHARS = 200_000_000  # far above any real config, far below what exhausts memory
NUMBER_MAX_BITS = 256  # config integers are 64-bit; a template never needs more than this
SIZE_MAX = 10_000_000  # a string, list or width one operation may produce
# A %-conversion's flags, width and precision; a {}-field's format spec (nested fields allowed).
_PERCENT = re.compile(r"%[-+ #0]*(\d+|\*)?(?:\.(\d+|\*))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*:((?:[^{}]|\{[^{}]*\})*)\}")
_END = object()


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


def _check_size(size: int, what: str) -> None:
    if size > SIZE_MAX:
        raise BudgetError(
            f"{what} would build {size:,} or more characters or items, over the template "
            f"budget ({SIZE_MAX:,}); split the work with a loop"
        )


def _size(*values: Any) -> int:
    """About how many characters ``str()`` of the values take; counting stops just over SIZE_MAX."""
    total, stack = 0, [iter(values)]
    while stack and total <= SIZE_MAX:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            stack.append(itertools.chain.from_iterable(item.items()))
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.append(iter(item))
        else:
            total += max(24, _bits(item) // 3)
    return total


def _width(value: Any) -> int:
    """A value used as a width or precision (``'%*d'``, ``'{:{}}'``, ``indent``)."""
    if isinstance(value, int):
        return abs(value)
    if not isinstance(value, str):
        return 0
    return len(value) if not value.isdigit() else int(value) if len(value) < 12 else SIZE_MAX + 1


@functools.lru_cache(maxsize=1024)
def _format_shape(fmt: str) -> tuple[int, bool]:
    """A format's own size (its text, widths and precisions), and whether values set widths."""
    specs = [m[1] for m in _BRACE_SPEC.finditer(fmt)]
    widths = [n for m in _PERCENT.finditer(fmt) for n in m.groups() if n and n != "*"]
    widths += [n for spec in specs for n in re.findall(r"\d+", spec)]
    for width in widths:
        if len(width) > 12 or int(width) > SIZE_MAX:
            raise BudgetError(f"a format width of {width} is over the template budget")
    return len(fmt) + sum(map(int, widths)), "*" in fmt or "{" in "".join(specs)


def _check_format(fmt: Any, values: Iterable[Any]) -> None:
    """A %- or {}-format's result size: its own size, its values, and widths taken from them."""
    if not isinstance(fmt, str):
        return
    size, dynamic = _format_shape(fmt)
    for value in values:
        if isinstance(value, str):
            size += len(value) + (_width(value) if dynamic else 0)
        elif isinstance(value, int | float) and not dynamic:
            size += 80  # at most 256 bits, or a float
        else:
            size += _size(value) + (0 if isinstance(value, float) else _width(value))
    _check_size(size, "this format")


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


class _SizedConcat(CodeGenerator):
    """Jinja's code generator, with ``a ~ b`` sized before it is joined."""

    def visit_Concat(self, node: Any, frame: Any) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"{join}(environment.joinable((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


class BudgetedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus bounds on what one operation may compute and a deadline per render."""

    # Intercepted operators are also never folded at compile time (a constant 7 ** 123456789
    # would otherwise hang the compiler, before any render starts).
    intercepted_binops = frozenset({"**", "*", "%", "//", "+", "-"})
    code_generator_class = _SizedConcat
    deadline: float = float("inf")

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetError(
                f"the template ran for more than {RENDER_SECONDS:g} s; simplify its loops"
            )

    def joinable(self, parts: tuple[Any, ...]) -> tuple[Any, ...]:
        """``a ~ b``: the parts, once their joined size is known to be within the budget."""
        _check_size(_size(*parts), "joining with ~")
        return parts

    def concat(self, parts: Iterable[str]) -> str:
        """The output of a macro, a ``call``, a ``set`` or ``filter`` block."""
        parts = list(parts)
        _check_size(sum(map(len, parts)), "a macro's or block's output")
        return "".join(parts)

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
        elif op == "+" and _sized(left) and _sized(right):
            _check_size(len(left) + len(right), "adding these two values")
        elif op == "%" and isinstance(left, str):
            _check_format(left, right if isinstance(right, tuple) else (right,))
        return _check_number(self.binop_table[op](left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        __self.tick()
        text = getattr(__obj, "__self__", None)
        if isinstance(text, str):
            name = __obj.__name__
            if name == "join" and args:
                args = (list(args[0]), *args[1:])  # read once here, once by join
            size = _STR_METHOD_SIZES.get(name)
            if size is not None:
                _check_size(size(text, *args, **kwargs), f"str.{name}")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text, name = value.__self__, value.__name__

        def sized(*args: Any, **kwargs: Any) -> str:
            _check_size(_STR_METHOD_SIZES[name](text, *args, **kwargs), f"str.{name}")
            return wrapped(*args, **kwargs)

        return sized


def _text(value: Any) -> str:
    """``str(value)``, once its size is known to be within the budget."""
    _check_size(_size(value), "turning this value into text")
    return str(value)


def _replaced(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    text, old, new = _text(text), _text(old), _text(new)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, len(new) - len(old))


def _format_map_size(text: str, mapping: Any = None) -> int:
    _check_format(text, mapping.values() if isinstance(mapping, Mapping) else ())
    return 0


def _format_size(text: str, *args: Any, **kwargs: Any) -> int:
    _check_format(text, (*args, *kwargs.values()))
    return 0


# The size of a str method's result, from its arguments, before it runs.
_STR_METHOD_SIZES: dict[str, Callable[..., int]] = {
    "format": _format_size,
    "format_map": _format_map_size,
    "join": lambda text, items=(), *_: _size(*items) + len(text) * len(items),
    "replace": _replaced,
    **dict.fromkeys(("center", "ljust", "rjust", "zfill"), lambda _, width, *__: _width(width)),
    "expandtabs": lambda text, tabsize=8: len(text) + text.count("\t") * _width(tabsize),
}

# The size of a filter's result, from its bound arguments, before it runs.
_FILTER_SIZES: dict[str, Callable[[dict[str, Any]], int]] = {
    "center": lambda a: _width(a["width"]),
    "indent": lambda a: len(_text(a["s"])) + (_text(a["s"]).count("\n") + 1) * _width(a["width"]),
    "wordwrap": lambda a: len(_text(a["s"])) * (1 + len(_text(a["wrapstring"] or "\n"))),
    "format": lambda a: _format_size(a["value"], *a["args"], **a["kwargs"]),
    "join": lambda a: _size(*a["value"]) + len(_text(a["d"])) * len(a["value"]),
    "replace": lambda a: _replaced(a["s"], a["old"], a["new"], a["count"]),
    "sum": lambda a: sum(len(v) for v in a["iterable"] if _sized(v)) if _sized(a["start"]) else 0,
    "string": lambda a: _size(a["value"]),
    "pprint": lambda a: _size(a["value"]),
    "tojson": lambda a: _size(a["value"]),
}


def _bounded_filter(env: jinja2.Environment, name: str) -> None:
    original = env.filters[name]
    signature = inspect.signature(original)
    size = _FILTER_SIZES[name]

    def bounded(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        for many in ("value", "iterable"):  # read once here, once by the filter
            if name in ("join", "sum") and many in bound.arguments:
                bound.arguments[many] = list(bound.arguments[many])
        for value in bound.arguments.values():  # `{{ x | tojson }}` with x undefined: name x
            if isinstance(value, jinja2.Undefined):
                value._fail_with_undefined_error()
        _check_size(size(bound.arguments), f"the {name} filter")
        return original(*bound.args, **bound.kwargs)

    for attr in ("jinja_pass_arg",):
        if hasattr(original, attr):
            setattr(bounded, attr, getattr(original, attr))
    env.filters[name] = bounded


def _printable(value: Any) -> Any:
    """``{{ value }}``: a list or mapping is sized before it is turned into text."""
    if isinstance(value, list | tuple | Mapping | set | frozenset):
        _check_size(_size(value), "printing this value")
    return value


def make_environment(root: Path) -> BudgetedEnvironment:
    env = BudgetedEnvironment(
        loader=RootedLoader(root),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        auto_reload=False,
        finalize=_printable,
    )
    for name in _FILTER_SIZES:
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
    values_files: list[str] | tuple[str, ...] = (),
) -> str:
    """Render the template at ``path``; raise TemplateIssue with a located message (an
    undefined value's names the values files that were read)."""
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
        if message.startswith("template variable"):
            read = ", ".join(values_files)
            message += f"; values files read: {read}" if read else "; no values file was given"
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
