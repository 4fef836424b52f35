"""What every command shares: the command group and its global options, the common options,
exit codes, and how output reaches a person (colour, quiet)."""

from __future__ import annotations

import json
import logging
import math
import os
import sys

import click

from reconciler import __version__, engine
from reconciler.errors import UsageError
from reconciler.logs import FORMATS
from reconciler.logs import configure as configure_logging
from reconciler.render import render_text

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_REFUSED = 0, 1, 2, 3

log = logging.getLogger("reconciler")


class Exit(Exception):
    """Stop with a message on stderr and an exit code (``kind`` names it in JSON)."""

    def __init__(self, code: int, message: str = "", kind: str = "error") -> None:
        super().__init__(message)
        self.code, self.message, self.kind = code, message, kind


def echo_err(text: str) -> None:
    click.echo(text, err=True)


def load(path: str, var: tuple[str, ...], values: tuple[str, ...]):
    return engine.load_config(path, variables(var), list(values))


# Set by the global options for the run: -q/--quiet and --no-color; "printed" once a command
# printed its JSON document (then a failure is told by the exit code, not a second document).
output = {"quiet": False, "color": True, "printed": False}


def print_json(doc: dict | str) -> None:
    """A command's one JSON document on stdout."""
    text = doc if isinstance(doc, str) else json.dumps(doc, indent=2, ensure_ascii=False)
    click.echo(text)
    output["printed"] = True


def use_color(err: bool = False) -> bool:
    stream = sys.stderr if err else sys.stdout
    return output["color"] and stream.isatty() and not os.environ.get("NO_COLOR")


def print_text(text: str, err: bool = False) -> None:
    """Rich markup (render_text with color) on a colour terminal, plain text elsewhere."""
    if use_color(err):
        from rich.console import Console

        Console(highlight=False, soft_wrap=True, stderr=err).print(text)
    else:
        click.echo(text, err=err)


def plan_text(view: dict, err: bool = False) -> str:
    """What ``show_plan`` prints of the plan (without the app's line)."""
    return "" if output["quiet"] else render_text(view, None, use_color(err))


def show_plan(view: dict, err: bool = False, text: str | None = None) -> None:
    """Which app, where, and the plan (``text``: made already by ``plan_text``); nothing with
    -q (a prompt still names the app)."""
    if output["quiet"]:
        return
    click.echo(f"App {view['app']} at {view['endpoint']}\n", err=err)
    print_text(plan_text(view, err) if text is None else text, err=err)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reconciler")
@click.option("--debug", is_flag=True, help="Log every API call (secrets are always redacted).")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and the final summary line.")
@click.option("--no-color", is_flag=True, help="Never colour the output (as NO_COLOR does).")
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="Log lines (stderr) as text or JSON, each with a UTC timestamp.",
)
def cli(debug: bool, quiet: bool, no_color: bool, log_format: str) -> None:
    """Chat groups as code for Tencent Cloud Chat.

    Declare groups and members in YAML; `plan` shows what would change, `apply` makes the live
    app match. Exit codes: 0 ok, 1 error, 2 changes present (plan --detailed-exitcode),
    3 plan refused by a safety guard.
    """
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    output.update(quiet=quiet, color=not no_color)
    configure_logging(level, log_format)
    if not debug:
        logging.getLogger("httpx").setLevel(logging.WARNING)


def options(*options):
    def wrap(func):
        for option in reversed(options):
            func = option(func)
        return func

    return wrap


path_argument = click.argument("path", default=".", type=click.Path(exists=True))
var_option = click.option(
    "--var", multiple=True, metavar="KEY=VALUE", help="Template variable (repeatable)."
)
values_option = click.option(
    "--values",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="YAML file of template variables (repeatable; later files win).",
)
only_option = click.option(
    "--group",
    "only",
    multiple=True,
    metavar="ID|PATTERN",
    help="Only this group, or the groups a shell-style pattern matches (repeatable).",
)


class Number(click.FloatRange):
    """A finite number within a range. click's FloatRange lets NaN through (it compares false
    with every bound) and infinity past a lower bound alone: either would make a timeout or a
    period wait forever or spin."""

    name = "number"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


lock_timeout_option = click.option(
    "--lock-timeout",
    type=Number(0),
    default=engine.LOCK_WAIT_S,
    show_default=True,
    help="Seconds to wait for the app's lock while another writer holds it.",
)
exclude_option = click.option(
    "--exclude-group",
    "exclude",
    multiple=True,
    metavar="ID|PATTERN",
    help="Skip this group, or the groups a pattern matches (repeatable).",
)


def variables(var: tuple[str, ...]) -> dict[str, str]:
    variables = {}
    for pair in var:
        if "=" not in pair:
            raise UsageError(f"--var {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        key = key.strip()
        if not all(part.strip() for part in key.split(".")):
            raise UsageError(
                f"--var {pair!r}: the key {'is empty' if not key else 'has an empty part'}; "
                "expected key=value or a.b=value"
            )
        variables[key] = value
    return variables
