"""The `reconciler` command: a thin layer over config, observe, plan, apply and export.

Exit codes: 0 ok (no changes), 1 error, 2 changes present (plan --detailed-exitcode),
3 unsafe plan refused by a guard.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import time
from pathlib import Path

import click
import orjson

from reconciler import __version__
from reconciler.heap import collector_paused

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_REFUSED = 0, 1, 2, 3

log = logging.getLogger("reconciler")


class Exit(Exception):
    """Stop with a message on stderr and an exit code."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _err(text: str) -> None:
    click.echo(text, err=True)


def _parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise Exit(EXIT_ERROR, f"--var {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


def _load(path: str, var: tuple[str, ...], values: tuple[str, ...]):
    from reconciler.config import ConfigError, load_config

    try:
        return load_config(path, _parse_vars(var), list(values))
    except ConfigError as err:
        raise Exit(EXIT_ERROR, f"{err}\n{len(err.issues)} error(s) in the configuration.") from None


def _select(groups, only: tuple[str, ...], exclude: tuple[str, ...]):
    known = {g.id for g in groups}
    unknown = [g for g in (*only, *exclude) if g not in known]
    if unknown:
        raise Exit(
            EXIT_ERROR, f"--group/--exclude-group name(s) not in the config: {', '.join(unknown)}"
        )
    return [g for g in groups if (not only or g.id in only) and g.id not in exclude]


def _color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _print_text(text: str, color: bool) -> None:
    if color:
        from rich.console import Console

        Console(highlight=False, soft_wrap=True).print(text)
    else:
        click.echo(text)


def _run(coro):
    from reconciler.connect import CredentialsError
    from reconciler.observe import ObserveError
    from reconciler.tim.errors import TimError

    try:
        return asyncio.run(coro)
    except (TimError, ObserveError, CredentialsError, ValueError) as err:
        raise Exit(EXIT_ERROR, f"Error: {err}{_hint(err)}") from None


def _hint(err: Exception) -> str:
    """What to check for the failures a first run usually meets."""
    from reconciler.tim.errors import TimApiError, TimTransportError

    code = getattr(err, "code", None)
    if isinstance(err, TimApiError) and code in (70001, 70003, 70009, 70013, 70014, 70016, 70020):
        return (
            "\nHint: the UserSig was refused. Check that the secret key in the environment "
            "belongs to app.sdkappid, that app.admin is an App admin account, and that "
            "app.endpoint is the region the app was created in."
        )
    if isinstance(err, TimApiError) and code in (60010, 60004, 60005):
        return "\nHint: app.admin must be an App admin account of this app."
    if isinstance(err, TimTransportError):
        return (
            "\nHint: the endpoint could not be reached. Check app.endpoint, the network and "
            "any proxy; retries with backoff were already made."
        )
    return ""


def _rate_limits(app) -> dict[str, float]:
    return {"get_appid_group_list": 1.0}


async def _observe_and_plan(config, groups, parallelism=None):
    from reconciler.connect import make_client
    from reconciler.observe import observe
    from reconciler.plan import Planner

    planner = Planner(
        groups,
        admin=config.app.admin,
        max_removal_fraction=config.policy.max_removal_fraction,
        min_group_size_for_guard=config.policy.min_group_size_for_guard,
        create_missing_accounts=config.app.create_missing_accounts,
    )

    with collector_paused():
        async with make_client(config.app, config.base_dir, max_in_flight=parallelism) as client:
            observation = await observe(client, groups, planner.add)
        the_plan = planner.finish(observation.missing_accounts)
        gc.freeze()  # the plan lives until the end: later collections need not walk it
    return the_plan


def _guard_exit(plan, force: bool) -> None:
    if plan.errors:
        raise Exit(EXIT_ERROR, f"The plan has {len(plan.errors)} error(s); nothing was applied.")
    blocking = [r for r in plan.refusals if not (force and r.overridable)]
    if blocking:
        removals = plan.counts()["members_remove"]
        overridable = all(r.overridable for r in blocking)
        hint = (
            "Review the removals; if they are intended, run again with --force."
            if overridable
            else "Protected groups (protect: true) are never destroyed or emptied; "
            "set protect: false first if this is intended."
        )
        raise Exit(
            EXIT_REFUSED,
            f"Plan refused by {len(blocking)} guard(s) ({removals} member removal(s) in all; "
            f"see 'Refused:' above). Nothing was applied. {hint}",
        )


def _app_doc(config) -> dict:
    from reconciler.connect import local_db_path

    doc = config.app.model_dump()
    if config.app.endpoint == "local":
        doc["local_db"] = str(local_db_path(config.app, config.base_dir).resolve())
    return doc


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reconciler")
@click.option("--debug", is_flag=True, help="Log every API call (secrets are always redacted).")
@click.option("-q", "--quiet", is_flag=True, help="Only print errors and the result.")
def cli(debug: bool, quiet: bool) -> None:
    """Chat groups as code for Tencent Cloud Chat.

    Declare groups and members in YAML; `plan` shows what would change, `apply` makes the live
    app match. Exit codes: 0 ok, 1 error, 2 changes present (plan --detailed-exitcode),
    3 plan refused by a safety guard.
    """
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if not debug:
        logging.getLogger("httpx").setLevel(logging.WARNING)


var_option = click.option(
    "--var", multiple=True, metavar="KEY=VALUE", help="Template variable (repeatable)."
)
values_option = click.option(
    "--values",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="YAML file of template variables (repeatable; later files win).",
)
group_options = [
    click.option(
        "--group", "only", multiple=True, metavar="ID", help="Only this group (repeatable)."
    ),
    click.option(
        "--exclude-group",
        "exclude",
        multiple=True,
        metavar="ID",
        help="Skip this group (repeatable).",
    ),
]


def _with(options):
    def wrap(func):
        for option in reversed(options):
            func = option(func)
        return func

    return wrap


@cli.command()
@click.argument("path", default=".", type=click.Path(exists=True))
@var_option
@values_option
def validate(path: str, var, values) -> None:
    """Check a config file or directory offline: syntax, types, limits, group-type rules."""
    config = _load(path, var, values)
    members = sum(g.member_count() for g in config.groups)
    click.echo(
        f"OK: {len(config.groups)} group(s), {members} membership(s) "
        f"in {len(config.files)} file(s)."
    )


@cli.command()
@click.argument("path", default=".", type=click.Path(exists=True))
@var_option
@values_option
@_with(group_options)
@click.option(
    "--out", "-o", type=click.Path(dir_okay=False), help="Save the plan for apply --plan."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@click.option("--force", is_flag=True, help="Save the plan even when a removal guard refuses it.")
def plan(path, var, values, only, exclude, out, fmt, detailed_exitcode, force) -> None:
    """Show what apply would change, how many API calls it takes, and what is refused."""
    from reconciler.plan import plan_document
    from reconciler.render import render_json, render_markdown, render_text

    if out and not (Path(out).parent.is_dir() and os.access(Path(out).parent, os.W_OK)):
        # Checked before observing: a big observe should not end in "cannot write the plan".
        raise Exit(EXIT_ERROR, f"--out {out}: the directory does not exist or is not writable")
    config = _load(path, var, values)
    groups = _select(config.groups, only, exclude)
    the_plan = _run(_observe_and_plan(config, groups))
    limits = _rate_limits(config.app)
    if fmt == "text":
        from reconciler.connect import describe_endpoint

        click.echo(
            f"App {config.app.sdkappid} at {describe_endpoint(config.app, config.base_dir)}\n"
        )
    if fmt == "json":
        click.echo(render_json(the_plan, config.app.rate_limit, limits))
    elif fmt == "markdown":
        click.echo(render_markdown(the_plan, config.app.rate_limit, limits))
    else:
        _print_text(render_text(the_plan, config.app.rate_limit, limits, _color()), _color())
    _guard_exit(the_plan, force)
    if out:
        doc = plan_document(
            the_plan, config_digest=config.digest, app=_app_doc(config), desired=groups
        )
        doc["forced"] = force
        Path(out).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        _err(f"Saved the plan to {out}; apply it with: reconciler apply --plan {out}")
    if detailed_exitcode and the_plan.has_changes:
        raise Exit(EXIT_CHANGES)


def _progress(total: int):
    """A progress bar on a terminal; a log line every few seconds otherwise."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task) -> Text:
                return Text(f"{task.speed or 0:.0f} calls/s")

        bar = Progress(
            TextColumn("applying"),
            BarColumn(),
            MofNCompleteColumn(),
            Rate(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        task = bar.add_task("apply", total=total)

        def step(op, ok):
            bar.advance(task)

        return bar, step
    state = {"done": 0, "last": time.monotonic(), "start": time.monotonic()}

    def step(op, ok):
        state["done"] += 1
        now = time.monotonic()
        if now - state["last"] >= 5 or state["done"] == total:
            rate = state["done"] / max(now - state["start"], 1e-9)
            eta = (total - state["done"]) / rate if rate else 0
            _err(f"applied {state['done']}/{total} calls ({rate:.0f} calls/s, ETA {eta:.0f} s)")
            state["last"] = now

    return None, step


async def _execute(config_app, base_dir, operations, parallelism):
    from reconciler.apply import execute
    from reconciler.connect import make_client

    bar, step = _progress(len(operations))
    async with make_client(config_app, base_dir, max_in_flight=parallelism) as client:
        if bar is not None:
            with bar:
                result = await execute(client, operations, progress=step)
        else:
            result = await execute(client, operations, progress=step)
        stats = getattr(client, "stats", None)
    return result, stats


def _report(result, stats, started: float) -> None:
    elapsed = time.monotonic() - started
    retries = getattr(stats, "retries", 0) if stats else 0
    for note in result.pending_marks:
        _err(f"pending: {note}")
    for f in result.failures:
        _err(f"FAILED group {f.group or '(app)'} {f.api}: {f.message}")
    for f in result.item_failures:
        _err(f"FAILED group {f.group or '(app)'} {f.api}: {f.message}")
    status = "Apply complete" if result.ok else "Apply finished with failures"
    click.echo(
        f"{status}: {result.calls_done} call(s) in {elapsed:.1f} s, {retries} retried, "
        f"{len(result.failures) + len(result.item_failures)} failed, "
        f"{result.skipped} skipped after a failure in their group."
    )
    if not result.ok:
        raise Exit(
            EXIT_ERROR, "Re-run apply after fixing the cause: it continues where it stopped."
        )


@cli.command()
@click.argument("path", required=False, type=click.Path(exists=True))
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A plan saved by plan --out.",
)
@var_option
@values_option
@_with(group_options)
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--allow-destroy", is_flag=True, help="Allow destroying groups with state: absent.")
@click.option("--force", is_flag=True, help="Override the removal guards (not protect: true).")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 1024),
    help="Calls in flight at most, per API (default 16).",
)
def apply(
    path, plan_file, var, values, only, exclude, auto_approve, allow_destroy, force, parallelism
):
    """Make the live app match the config (or execute a saved plan exactly)."""
    from reconciler.render import render_text

    started = time.monotonic()
    if plan_file:
        operations, app, base_dir = _load_saved_plan(plan_file, path, var, values)
        destroys = sorted({op.group for op in operations if op.step == "destroy"})
    else:
        config = _load(path or ".", var, values)
        groups = _select(config.groups, only, exclude)
        the_plan = _run(_observe_and_plan(config, groups, parallelism))
        _print_text(
            render_text(the_plan, config.app.rate_limit, _rate_limits(config.app), _color()),
            _color(),
        )
        _guard_exit(the_plan, force)
        if not the_plan.has_changes:
            return
        operations, app, base_dir = the_plan.operations, config.app, config.base_dir
        destroys = the_plan.destroys()
        if not auto_approve:
            if not sys.stdin.isatty():
                raise Exit(
                    EXIT_ERROR,
                    "Not applied: no terminal to confirm on. Review the plan and pass "
                    "--auto-approve, or save it with plan --out and use apply --plan.",
                )
            if not click.confirm("Apply these changes?", default=False):
                raise Exit(EXIT_ERROR, "Not applied.")
    if destroys and not allow_destroy:
        raise Exit(
            EXIT_REFUSED,
            f"Refused: the plan destroys {len(destroys)} group(s) ({', '.join(destroys[:10])}); "
            "pass --allow-destroy to allow it.",
        )
    result, stats = _run(_execute(app, base_dir, operations, parallelism))
    _report(result, stats, started)


def _load_saved_plan(plan_file, path, var, values):
    """Read a plan file, re-observe what it touches, and refuse it if anything changed."""
    from reconciler.config import AppConfig
    from reconciler.observe import observe
    from reconciler.plan import PLAN_FORMAT_VERSION, fingerprint, operations_from_document
    from reconciler.state import Group

    try:
        doc = orjson.loads(Path(plan_file).read_bytes())
        if doc.get("format_version") != PLAN_FORMAT_VERSION:
            raise ValueError(f"format_version {doc.get('format_version')!r} is not supported")
        app = AppConfig(**doc["app"])
        groups = [Group.model_validate(g) for g in doc["groups"]]
        operations = operations_from_document(doc)
    except (ValueError, KeyError, TypeError) as err:
        raise Exit(EXIT_ERROR, f"{plan_file}: not a usable plan file: {err}") from None
    base_dir = Path(plan_file).resolve().parent
    if path:
        config = _load(path, var, values)
        if config.digest != doc["config_digest"]:
            raise Exit(
                EXIT_ERROR,
                f"{plan_file} was made from another version of {path}: run plan again.",
            )

    now: dict[str, str] = {}

    def settle(want, have) -> None:
        now[want.id] = fingerprint(have)

    async def current():
        from reconciler.connect import make_client

        async with make_client(app, base_dir) as client:
            await observe(client, groups, settle)

    with collector_paused():
        _run(current())
    stale = sorted(gid for gid, fp in doc["fingerprints"].items() if now.get(gid) != fp)
    if stale:
        raise Exit(
            EXIT_ERROR,
            f"Saved plan is stale: {len(stale)} group(s) changed since it was made "
            f"({', '.join(stale[:20])}{' ...' if len(stale) > 20 else ''}). Nothing was applied; "
            "run plan again and review the new plan.",
        )
    return operations, app, base_dir


@cli.command()
@click.argument("path", default=".", type=click.Path(exists=True))
@var_option
@values_option
@click.option(
    "--group", "only", multiple=True, metavar="ID", help="Export this group (repeatable)."
)
@click.option("--all", "all_groups", is_flag=True, help="Export every group of the app.")
@click.option(
    "--output", "-o", type=click.Path(), help="A file, or a directory for one file per type."
)
def export(path, var, values, only, all_groups, output) -> None:
    """Write config YAML for live groups, so existing groups can be adopted."""
    from reconciler.export import export_groups

    if not only and not all_groups:
        raise Exit(EXIT_ERROR, "Say which groups to export: --group ID (repeatable) or --all.")
    config = _load(path, var, values)
    written = _run(export_groups(config, list(only) or None, output))
    for line in written:
        _err(line)


@cli.command()
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Write to a file instead of stdout."
)
def schema(output) -> None:
    """Print the JSON Schema of the config format (for editors and CI)."""
    from reconciler.config import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if output:
        Path(output).write_text(text)
    else:
        click.echo(text, nl=False)


@cli.group()
def emulator() -> None:
    """The local Tencent Chat REST emulator."""


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8787, show_default=True, type=int)
@click.option("--db", default=".reconciler/emulator.sqlite3", show_default=True, type=click.Path())
@click.option("--sdkappid", required=True, type=int)
@click.option("--admin", default="administrator", show_default=True)
@click.option("--latency-ms", default=0.0, type=float, help="Delay every answer.")
@click.option("--rate-limit", type=float, help="Calls per second per API; beyond it, error 60007.")
@click.option(
    "--fault-rate", default=0.0, type=float, help="Fraction of requests that fail transiently."
)
@click.option("--seed", type=int, help="Make injected faults reproducible.")
def serve(host, port, db, sdkappid, admin, latency_ms, rate_limit, fault_rate, seed) -> None:
    """Serve the emulator over HTTP. The secret key comes from TIM_SECRET_KEY."""
    from reconciler.emulator.server import serve as run_server

    key = os.environ.get("TIM_SECRET_KEY")
    if not key:
        raise Exit(EXIT_ERROR, "Set TIM_SECRET_KEY: the emulator verifies UserSigs with it.")
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    run_server(
        host=host,
        port=port,
        db=db,
        sdkappid=sdkappid,
        admin=admin,
        secret_key=key,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        fault_rate=fault_rate,
        seed=seed,
    )


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
    except Exit as stop:
        if stop.message:
            _err(stop.message)
        sys.exit(stop.code)
    except click.exceptions.Abort:
        _err("Aborted.")
        sys.exit(EXIT_ERROR)
    except click.ClickException as err:
        err.show()
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        _err("Interrupted. Run apply again: it continues where it stopped.")
        sys.exit(130)
    except Exception as err:  # a bug, or an answer nobody foresaw: one line, not a traceback
        from reconciler.tim.client import redact_url

        log.debug("unexpected error", exc_info=True)
        _err(
            f"Error: unexpected {type(err).__name__}: {redact_url(str(err))}. This is a bug in "
            "tim-reconciler or an answer from the server it does not understand; run again "
            "with --debug to see where it happened."
        )
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_OK)
