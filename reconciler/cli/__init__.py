"""The `reconciler` command: options, prompts, progress and exit codes over ``reconciler.engine``.

Exit codes: 0 ok (no changes), 1 error, 2 changes present (plan --detailed-exitcode),
3 unsafe plan refused by a guard.
"""

from __future__ import annotations

import gc
import json
import sys

import click

from reconciler import engine

# Importing the command modules registers their commands on the group.
from reconciler.cli import apply, commands, serve  # noqa: F401
from reconciler.cli.base import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REFUSED,
    Exit,
    cli,
    echo_err,
    log,
    output,
)
from reconciler.config.errors import ConfigError
from reconciler.errors import (
    CredentialsError,
    EndpointError,
    LockError,
    ObserveError,
    PlanFileError,
    PlanInvalid,
    PlanRefused,
    ReconcilerError,
    StalePlanError,
    UsageError,
)
from reconciler.tim.errors import TimError

# An error's "kind" in the JSON error document, the most specific class first.
KINDS = (
    (ConfigError, "config"),
    (UsageError, "usage"),
    (CredentialsError, "credentials"),
    (EndpointError, "endpoint"),
    (TimError, "api"),
    (ObserveError, "observe"),
    (StalePlanError, "stale_plan"),
    (PlanFileError, "plan_file"),
    (PlanInvalid, "plan_invalid"),
    (PlanRefused, "refused"),
    (LockError, "lock"),
    (ReconcilerError, "error"),
)
# The commands whose --format json promises one JSON document on stdout, also on failure.
JSON_COMMANDS = ("validate", "plan", "show", "apply")

__all__ = ["cli", "main"]


def _wants_json(argv: list[str]) -> bool:
    command = next((a for a in argv if a in cli.commands), None)
    if command not in JSON_COMMANDS:
        return False
    return any(
        a == "--format=json" or (a == "--format" and argv[n + 1 : n + 2] == ["json"])
        for n, a in enumerate(argv)
    )


def error_document(kind: str, message: str, *, location: str | None = None, hint: str = "") -> dict:
    """What ``--format json`` prints on failure (documented in docs/formats.md)."""
    return {"error": {"kind": kind, "message": message, "location": location, "hint": hint or None}}


def _error_for(err: BaseException) -> dict:
    if isinstance(err, ReconcilerError):
        kind = next(k for cls, k in KINDS if isinstance(err, cls))
        location = err.location
        if isinstance(err, ConfigError) and err.issues and err.issues[0].location:
            location = str(err.issues[0].location)
        doc = error_document(kind, str(err), location=location, hint=err.hint)
        if isinstance(err, ConfigError):
            doc["error"]["issues"] = [
                {"location": str(i.location) if i.location else None, "message": i.message}
                for i in err.issues
            ]
        return doc
    if isinstance(err, Exit):
        return error_document(err.kind, err.message)
    if isinstance(err, click.exceptions.Abort):
        return error_document("aborted", "Aborted.")
    if isinstance(err, click.ClickException):
        return error_document("usage", err.format_message())
    if isinstance(err, KeyboardInterrupt):
        return error_document("interrupted", "Interrupted.")
    return error_document("bug", f"unexpected {type(err).__name__}: {engine.redact_url(str(err))}")


def main(argv: list[str] | None = None) -> None:
    # The modules and classes imported live until exit: neither later full collections nor the
    # one at exit (about 80 ms) need walk them.
    gc.freeze()
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(args)
    output["printed"] = False
    try:
        _run(args)
    except SystemExit as stop:
        # Once a command printed its document, the exit code says the rest; before, the
        # failure is the document (a plan's exit 2 is no failure).
        if as_json and stop.code not in (0, 2) and not output["printed"]:
            doc = _error_for(stop.__context__ or stop)
            click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        raise


def _run(args: list[str]) -> None:
    try:
        cli.main(args=args, prog_name="reconciler", standalone_mode=False)
    except Exit as stop:
        if stop.message:
            echo_err(stop.message)
        sys.exit(stop.code)
    except ReconcilerError as err:
        echo_err(err.report())
        sys.exit(EXIT_REFUSED if isinstance(err, PlanRefused) else EXIT_ERROR)
    except click.exceptions.Abort:
        echo_err("Aborted.")
        sys.exit(EXIT_ERROR)
    except click.ClickException as err:
        err.show()
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        echo_err("Interrupted. Run apply again: it continues where it stopped.")
        sys.exit(130)
    except Exception as err:  # a bug, or an answer nobody foresaw: one line, not a traceback
        log.debug("unexpected error", exc_info=True)
        detail = engine.redact_url(str(err))
        echo_err(
            f"Error: unexpected {type(err).__name__}: {detail}. This is a bug in "
            "tim-reconciler or an answer from the server it does not understand; run again "
            "with --debug to see where it happened."
        )
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_OK)
