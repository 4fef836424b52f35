"""The `reconciler` command: options, prompts, progress and exit codes over ``reconciler.engine``.

Exit codes: 0 ok (no changes), 1 error, 2 changes present (plan --detailed-exitcode),
3 unsafe plan refused by a guard.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path

import click

from reconciler import __version__, engine
from reconciler.engine import Selection
from reconciler.errors import PlanRefused, ReconcilerError, UsageError
from reconciler.logs import FORMATS
from reconciler.logs import configure as configure_logging
from reconciler.render import (
    learned_lines,
    render_json,
    render_markdown,
    render_text,
    summary_line,
)

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_REFUSED = 0, 1, 2, 3

log = logging.getLogger("reconciler")


class Exit(Exception):
    """Stop with a message on stderr and an exit code."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _err(text: str) -> None:
    click.echo(text, err=True)


def _load(path: str, var: tuple[str, ...], values: tuple[str, ...]):
    return engine.load_config(path, _variables(var), list(values))


# Set by the global options for the run: -q/--quiet and --no-color.
_output = {"quiet": False, "color": True}


def _color(err: bool = False) -> bool:
    stream = sys.stderr if err else sys.stdout
    return _output["color"] and stream.isatty() and not os.environ.get("NO_COLOR")


def _print_text(text: str, err: bool = False) -> None:
    """Rich markup (render_text with color) on a colour terminal, plain text elsewhere."""
    if _color(err):
        from rich.console import Console

        Console(highlight=False, soft_wrap=True, stderr=err).print(text)
    else:
        click.echo(text, err=err)


def _show_plan(view: dict, err: bool = False) -> None:
    """Which app, where, and the plan; nothing with -q (a prompt still names the app)."""
    if _output["quiet"]:
        return
    click.echo(f"App {view['app']} at {view['endpoint']}\n", err=err)
    _print_text(render_text(view, None, _color(err)), err=err)


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
    _output.update(quiet=quiet, color=not no_color)
    configure_logging(level, log_format)
    if not debug:
        logging.getLogger("httpx").setLevel(logging.WARNING)


def _options(*options):
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
exclude_option = click.option(
    "--exclude-group",
    "exclude",
    multiple=True,
    metavar="ID|PATTERN",
    help="Skip this group, or the groups a pattern matches (repeatable).",
)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@_options(var_option, values_option)
@click.option(
    "--discover",
    is_flag=True,
    help="Take PATHS as changed files and check the configs they belong to (pre-commit).",
)
def validate(paths, var, values, discover) -> None:
    """Check config files or directories offline: syntax, types, limits, group-type rules."""
    from reconciler.config import config_roots

    roots = config_roots(list(paths)) if discover else list(paths) or ["."]
    if discover and not roots:
        click.echo("No config among the given files.")
    for root in roots:
        config = _load(root, var, values)
        members = sum(g.member_count() for g in config.groups)
        where = f" ({root})" if len(roots) > 1 or discover else ""
        click.echo(
            f"OK{where}: {len(config.groups)} group(s), {members} membership(s) "
            f"in {len(config.files)} file(s)."
        )


@cli.command()
@_options(path_argument, var_option, values_option, only_option, exclude_option)
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
    config = _load(path, var, values)
    selection = Selection(list(only), list(exclude))
    if out:
        engine.check_writable(out)
    the_plan = asyncio.run(engine.plan(config, selection))
    view = engine.plan_view(config, the_plan)
    if fmt == "json":
        click.echo(render_json(view))
    elif fmt == "markdown":
        click.echo(render_markdown(view, None))
    elif _output["quiet"]:
        click.echo(summary_line(view))
    else:
        _show_plan(view)
    for line in learned_lines(the_plan.limits, []):
        _err(line)
    the_plan.raise_if_unsafe(force)
    if out:
        engine.save_plan(out, the_plan, config, selection, forced=force)
        if not _output["quiet"]:
            _err(f"Saved the plan to {out}; apply it with: reconciler apply --plan {out}")
    if detailed_exitcode and the_plan.has_changes:
        raise Exit(EXIT_CHANGES)


def _progress(total: int):
    """A progress bar on a terminal; a log line every few seconds otherwise; nothing with -q."""
    if _output["quiet"]:
        return None, lambda op, ok: None
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
        return bar, lambda op, ok: bar.advance(task)
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


async def _execute(session, operations, started: float, view: dict, fmt: str = "text") -> None:
    bar, step = _progress(len(operations))
    if bar is not None:
        with bar:
            result = await session.apply(operations, step)
    else:
        result = await session.apply(operations, step)
    for note in result.pending_marks:
        _err(f"pending: {note}")
    for line in learned_lines(session.client.limits, operations):
        _err(line)
    for f in [*result.failures, *result.item_failures]:
        _err(f"FAILED group {f.group or '(app)'} {f.api}: {f.message}")
    seconds, retries = time.monotonic() - started, session.client.stats.retries
    if fmt == "json":
        doc = result.document(
            app=view["app"], endpoint=view["endpoint"], seconds=seconds, retries=retries
        )
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        if not _output["quiet"]:
            for line in result.group_lines():
                click.echo(line)
        status = "Apply complete" if result.ok else "Apply finished with failures"
        click.echo(
            f"{status}: {result.calls_done} call(s) in {seconds:.1f} s, {retries} retried, "
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
@_options(var_option, values_option, only_option, exclude_option)
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: the result as one JSON document on stdout (the plan goes to stderr).",
)
@click.option("--allow-destroy", is_flag=True, help="Allow destroying groups with state: absent.")
@click.option("--force", is_flag=True, help="Override the removal guards (not protect: true).")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 1024),
    help="Calls in flight at most, per API (default 16).",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0),
    default=300,
    show_default=True,
    help="Seconds to wait for the app's lock while another apply holds it.",
)
def apply(
    path,
    plan_file,
    var,
    values,
    only,
    exclude,
    auto_approve,
    fmt,
    allow_destroy,
    force,
    parallelism,
    lock_timeout,
):
    """Make the live app match the config (or execute a saved plan exactly)."""
    started = time.monotonic()

    def waiting(lease) -> None:
        _err(
            f"Waiting for the app lock, held by {lease.describe(time.time())} "
            f"(up to {lock_timeout:g} s)..."
        )

    def session(app, base_dir):
        return engine.Session(
            app,
            base_dir,
            parallelism=parallelism,
            lock_timeout_s=lock_timeout,
            on_lock_wait=waiting,
        )

    if plan_file:
        given = [
            flag
            for flag, used in (
                ("--group", only),
                ("--exclude-group", exclude),
                ("--var", var),
                ("--values", values),
                ("--force", force),
            )
            if used
        ]
        if given:
            raise UsageError(
                f"{', '.join(given)} cannot be combined with --plan: a saved plan is applied "
                "exactly as it was made and reviewed. Make a new plan with these options instead."
            )
        saved = engine.read_plan(plan_file, _load(path, var, values) if path else None)
        if saved.view is not None:
            view = saved.view
            _show_plan(view, err=fmt == "json")
        else:  # a plan file from before views were saved: it still applies
            view = {"app": saved.app.sdkappid, "endpoint": saved.app.endpoint}
            _err(f"App {view['app']} at {view['endpoint']}")
        for refusal in saved.forced:
            _err(f"Note: this plan was made with --force, overriding: {refusal}")
        engine.refuse_destroys(saved.destroys(), allow_destroy)

        async def run_saved() -> None:
            async with session(saved.app, saved.base_dir) as s:
                await s.check_fresh(saved)
                await _execute(s, saved.operations, started, view, fmt)

        asyncio.run(run_saved())
        return
    config = _load(path or ".", var, values)
    groups = engine.select(config.groups, Selection(list(only), list(exclude)))

    async def run() -> None:
        async with session(config.app, config.base_dir) as s:
            the_plan = await s.plan(groups, engine.PlanOptions.of(config))
            view = engine.plan_view(config, the_plan)
            _show_plan(view, err=fmt == "json")
            the_plan.raise_if_unsafe(force)
            if not the_plan.has_changes:
                if fmt == "json":
                    await _execute(s, [], started, view, fmt)
                return
            engine.refuse_destroys(the_plan.destroys(), allow_destroy)
            if not auto_approve:
                await _confirm(view)
            await _execute(s, the_plan.operations, started, view, fmt)

    asyncio.run(run())


async def _confirm(view: dict) -> None:
    """Terraform's habit: on a terminal, only the word yes applies; nowhere else is asked."""
    if not sys.stdin.isatty():
        raise Exit(
            EXIT_ERROR,
            "Not applied: no terminal to confirm on. Review the plan and pass "
            "--auto-approve, or save it with plan --out and use apply --plan.",
        )
    if _output["quiet"]:  # what is about to change, even in a quiet run
        _err(f"App {view['app']} at {view['endpoint']}\n{summary_line(view)}")
    question = (
        f"Apply these changes to app {view['app']} at {view['endpoint']}?\n"
        "  Only 'yes' will be accepted to approve.\n\n  Enter a value"
    )
    answer = await asyncio.to_thread(
        click.prompt, question, default="", show_default=False, err=True
    )
    if answer.strip() != "yes":
        raise Exit(EXIT_ERROR, "Not applied: only 'yes' approves.")


@cli.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
def show(plan_file, fmt) -> None:
    """Show a plan saved by plan --out, without calling the API."""
    view = engine.saved_view(engine.read_plan(plan_file))
    if fmt == "json":
        click.echo(render_json(view))
    elif fmt == "markdown":
        click.echo(render_markdown(view, None))
    else:
        _show_plan(view)


@cli.command()
@_options(path_argument, var_option, values_option)
@click.option(
    "--group", "only", multiple=True, metavar="ID", help="Export this group (repeatable)."
)
@click.option("--all", "all_groups", is_flag=True, help="Export every group of the app.")
@click.option(
    "--output", "-o", type=click.Path(), help="A file, or a directory for one file per type."
)
def export(path, var, values, only, all_groups, output) -> None:
    """Write config YAML for live groups, so existing groups can be adopted."""
    if not only and not all_groups:
        raise UsageError("Say which groups to export: --group ID (repeatable) or --all.")
    config = _load(path, var, values)
    for line in asyncio.run(engine.export(config, list(only) or None, output)):
        _err(line)


@cli.command("lock")
@_options(path_argument, var_option, values_option)
@click.option(
    "--break", "break_it", is_flag=True, help="Remove the lock, whoever holds it (a dead run's)."
)
def lock_command(path, var, values, break_it) -> None:
    """Show who holds the app's lock (apply takes it while it writes), or break it."""
    config = _load(path, var, values)
    lease = asyncio.run(engine.lock_holder(config, break_it=break_it))
    if lease is None:
        click.echo("The app lock is free.")
    else:
        verb = "Broke the lock held by" if break_it else "The app is locked by"
        click.echo(f"{verb} {lease.describe(time.time())}.")


def _variables(var: tuple[str, ...]) -> dict[str, str]:
    variables = {}
    for pair in var:
        if "=" not in pair:
            raise UsageError(f"--var {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        variables[key.strip()] = value
    return variables


@cli.command("render")
@_options(path_argument, var_option, values_option)
def render_command(path, var, values) -> None:
    """Print the config with its templates expanded (for review and other validators)."""
    for file, text in engine.rendered(path, _variables(var), list(values)).items():
        click.echo(f"--- # {file}")
        click.echo(text, nl=not text.endswith("\n"))


@cli.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
def fmt_command(paths, check) -> None:
    """Rewrite config files in one canonical layout, keeping comments (templates are skipped)."""
    outcomes = engine.format_files(list(paths), check=check)
    changed = [o.path for o in outcomes if o.changed]
    for path in changed:
        click.echo(f"{'would reformat' if check else 'reformatted'} {path}")
    if not _output["quiet"]:
        verb = "to reformat" if check else "reformatted"
        click.echo(f"{len(changed)} of {len(outcomes)} file(s) {verb}.")
    if check and changed:
        raise Exit(EXIT_ERROR)


@cli.command()
@_options(path_argument, var_option, values_option)
@click.option(
    "--listen",
    default="127.0.0.1:8788",
    show_default=True,
    metavar="HOST:PORT",
    help="Where to receive the vendor's callbacks (and serve /healthz, /metrics).",
)
@click.option(
    "--resync",
    type=click.FloatRange(1),
    default=600,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between full resyncs (a plan and apply of every group, same guards).",
)
@click.option("--dry-run", is_flag=True, help="Log what would be done; change nothing.")
@click.option(
    "--insecure-no-callback-auth",
    is_flag=True,
    help="Accept unsigned callbacks when no callback token is set (loopback only, for tests).",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0),
    default=300,
    show_default=True,
    help="Seconds to wait for the app's lock while an apply holds it.",
)
def watch(
    path, var, values, listen, resync, dry_run, insecure_no_callback_auth, log_format, lock_timeout
) -> None:
    """Keep the app converged: reconcile the groups the vendor's callbacks name, set AVChatRoom
    marks as members come online, and resync everything periodically."""
    from reconciler import watch as watching

    host, port = watching.parse_listen(listen)
    options = watching.WatchOptions(
        host=host,
        port=port,
        resync_s=resync,
        dry_run=dry_run,
        insecure_no_callback_auth=insecure_no_callback_auth,
        log_format=log_format,
        lock_timeout_s=lock_timeout,
    )
    watching.run(lambda: _load(path, var, values), [Path(path), *map(Path, values)], options)


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
@click.option(
    "--profile",
    type=click.Choice(["default", "latest"]),
    default="default",
    show_default=True,
    help="Which reading of the docs to enforce: the seed pages, or the strictest current one.",
)
@click.option(
    "--access-log", is_flag=True, help="One line per request on stderr (secrets redacted)."
)
@click.option(
    "--callback-url",
    metavar="URL",
    help="Send the documented callbacks there (signed when TIM_CALLBACK_TOKEN is set).",
)
def serve(
    host,
    port,
    db,
    sdkappid,
    admin,
    latency_ms,
    rate_limit,
    fault_rate,
    seed,
    profile,
    access_log,
    callback_url,
) -> None:
    """Serve the emulator over HTTP. The secret key comes from TIM_SECRET_KEY."""
    from reconciler.emulator.server import serve as run_server

    key = os.environ.get("TIM_SECRET_KEY")
    if not key:
        raise UsageError("Set TIM_SECRET_KEY: the emulator verifies UserSigs with it.")
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
        profile=profile,
        access_log=access_log,
        announce=lambda url: click.echo(
            f"Emulator of app {sdkappid} listening on {url} (state in {db}); "
            "Ctrl-C stops it.\nIn a config: endpoint: " + url
        ),
        callback_url=callback_url,
        callback_token=os.environ.get("TIM_CALLBACK_TOKEN") or None,
    )


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
    except Exit as stop:
        if stop.message:
            _err(stop.message)
        sys.exit(stop.code)
    except ReconcilerError as err:
        _err(err.report())
        sys.exit(EXIT_REFUSED if isinstance(err, PlanRefused) else EXIT_ERROR)
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
