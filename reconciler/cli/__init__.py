"""The `reconciler` command: options, prompts, progress and exit codes over ``reconciler.engine``.

Exit codes: 0 ok (no changes), 1 error, 2 changes present (plan --detailed-exitcode),
3 unsafe plan refused by a guard.
"""

from __future__ import annotations

import gc
import sys

import click

from reconciler import engine

# Importing the command modules registers their commands on the group.
from reconciler.cli import apply, commands, serve  # noqa: F401
from reconciler.cli.base import EXIT_ERROR, EXIT_OK, EXIT_REFUSED, Exit, cli, echo_err, log
from reconciler.errors import PlanRefused, ReconcilerError

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    # The modules and classes imported live until exit: neither later full collections nor the
    # one at exit (about 80 ms) need walk them.
    gc.freeze()
    try:
        cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
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
