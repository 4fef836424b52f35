"""Issues found in parsed data, kept as data paths until they are reported.

Validation works on plain data without positions. A ``Pending`` issue names a file and a path in
its data (``("groups", 3, "members", 17, "role")``); the loader turns paths into line:col only for
the issues it reports. This module also turns pydantic errors into messages that say what is
wrong and how to fix it.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from reconciler.config.models import MEMBER_TAGS

# Placeholder in a message for the location of ``Pending.related`` ("line 12" or "file:12:3").
AT = "\x00AT\x00"


@dataclass(slots=True)
class Pending:
    file: int  # index into the loader's sources
    path: tuple[Any, ...]
    message: str
    target: str = "value"  # "value": the node at path; "key": its key
    related: tuple[int, tuple[Any, ...], str] | None = None  # (file, path, target)


@functools.lru_cache(maxsize=1024)
def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close and len(word) >= 3:
        close = [c for c in choices if c.startswith(word)][:1]  # an abbreviation
    return f"; did you mean '{close[0]}'?" if close else ""


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    return _suggest(word, tuple(choices))


def show(value: Any, limit: int = 60) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for step in path:
        if isinstance(step, int) and not isinstance(step, bool):
            out += f"[{step}]"
        else:
            out += ("." if out else "") + str(step)
    return out


def _got(value: Any) -> str:
    return "null" if value is None else f"{_type_name(value)} {show(value)}"


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _quote_hint(value: Any) -> str:
    if isinstance(value, bool):
        return f"; quote it if you meant the text: '{str(value).lower()}'"
    if isinstance(value, int | float):
        return f"; quote it if you meant the text: '{value}'"
    return ""


def _unquote_hint(value: Any) -> str:
    """Types are strict (as in the JSON Schema): say how to write the value the right way."""
    if isinstance(value, str):
        return "; write it without quotes (types are strict: text is never converted)"
    if isinstance(value, float) and value.is_integer():
        return f"; write it as {int(value)}"
    if isinstance(value, int) and not isinstance(value, bool):
        return "; write true or false"
    return ""


def describe(error: dict[str, Any], allowed: dict[tuple[str, ...], tuple[str, ...]]) -> str:
    """A message for one pydantic error (path shown separately). ``allowed`` maps a cleaned
    path's shape (field names only) to the keys allowed there, for unknown-key suggestions."""
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"missing required key '{error['loc'][-1]}'"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        shape = tuple(s for s in error["loc"][:-1] if isinstance(s, str) and s not in MEMBER_TAGS)
        choices = allowed.get(shape[-1:] if shape else (), ())
        hint = did_you_mean(key, choices) or (
            f"; allowed keys: {', '.join(choices)}" if choices else ""
        )
        if key in ("secret_key", "secret", "key", "secretkey", "secret_key_value"):
            return (
                f"unknown key '{key}': the secret key never goes in YAML; export it in the "
                "environment variable named by app.secret_key_env (default TIM_SECRET_KEY)"
            )
        if key == "<<":
            return "YAML merge keys (<<) are not supported (YAML 1.2); use a Jinja2 template"
        return f"unknown key '{key}'{hint}"
    if kind == "invalid_key":
        return f"a key must be a name, got {_got(value)}{_quote_hint(value)}"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",")]
        return f"{show(value)} is not allowed; expected {expected}" + (
            did_you_mean(str(value), options) if isinstance(value, str) else ""
        )
    if kind == "string_type":
        return f"expected a string, got {_got(value)}{_quote_hint(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {_got(value)}{_unquote_hint(value)}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {_got(value)}{_unquote_hint(value)}"
    if kind == "finite_number":
        return f"expected a finite number, got {show(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {_got(value)}{_unquote_hint(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping (key: value), got {_got(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {_got(value)}"
    if kind in ("string_too_short",):
        return "must not be empty"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"])).removeprefix("Value error, ")
    if kind.startswith(("greater_than", "less_than")):
        return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {show(value)})".replace(
            "Input", "value"
        ).replace("input", "value")
    return f"{error['msg']} (got {show(value)})"


def _one_branch(errors: list[Any]) -> list[Any]:
    """For a member that failed both branches of ``str | MemberSpec``, keep only the errors of
    the branch its input was meant for: a mapping -> MemberSpec, anything else -> a string."""
    out = []
    for error in errors:
        loc = error["loc"]
        tag = next(
            (
                at
                for at in range(2, len(loc))
                if loc[at] in MEMBER_TAGS and loc[at - 2] == "members"
            ),
            None,
        )
        if tag is not None and tag == len(loc) - 1:
            is_map = isinstance(error["input"], dict)
            if (loc[tag] == "str") == is_map:
                continue
        out.append(error)
    return out


def from_validation_error(
    err: ValidationError,
    file: int,
    prefix: tuple[Any, ...],
    label: str,
    allowed: dict[tuple[str, ...], tuple[str, ...]],
) -> list[Pending]:
    out = []
    for error in _one_branch(err.errors(include_url=False)):
        loc = tuple(s for s in error["loc"] if s not in MEMBER_TAGS)
        target = "value"
        if loc and loc[-1] == "[key]":
            loc, target = loc[:-1], "key"
        if loc and (target == "key" or error["type"] == "invalid_key"):
            # pydantic shows a key as text (nan) or as a number (True as 1): use the key itself.
            loc, target = (*loc[:-1], error["input"]), "key"
        message = describe(error, allowed)
        raw_loc = error["loc"]
        if raw_loc[-1:] == ("[key]",) and "marks" in raw_loc:
            message = (
                "marks are whole numbers (1000 to 2^63-1, or the special 500 and 600); got "
                f"{raw_loc[-2]}"
            )
        if len(raw_loc) >= 3 and raw_loc[-1] == "str" and raw_loc[-3] == "members":
            value = error["input"]
            message = (
                "a member is an account ID or a mapping with `account:`; got "
                f"{_got(value)}{_quote_hint(value)}"
            )
        if error["type"] == "extra_forbidden":
            target = "key"
        if error["type"] == "missing":
            loc = loc[:-1]
        shown = dotted(loc)
        where = f"{label}: {shown}" if shown else label
        out.append(Pending(file, (*prefix, *loc), f"{where}: {message}", target))
    return out
