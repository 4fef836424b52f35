"""`reconciler apply`: the prompt, the progress display and the result."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
import time

import click

from reconciler import engine
from reconciler.cli.base import (
    EXIT_ERROR,
    Exit,
    cli,
    echo_err,
    exclude_option,
    load,
    lock_timeout_option,
    only_option,
    options,
    output,
    plan_text,
    print_json,
    show_plan,
    values_option,
    var_option,
    variables,
)
from reconciler.engine import Selection
from reconciler.errors import LockError, UsageError
from reconciler.render import learned_lines, summary_line


def _progress(total: int):
    """A progress bar on a terminal; a log line every few seconds otherwise; nothing with -q."""
    if output["quiet"]:
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
            echo_err(f"applied {state['done']}/{total} calls ({rate:.0f} calls/s, ETA {eta:.0f} s)")
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
        echo_err(f"pending: {note}")
    for line in learned_lines(session.client.limits, operations):
        echo_err(line)
    for f in [*result.failures, *result.item_failures]:
        echo_err(f"FAILED group {f.group or '(app)'} {f.api}: {f.message}")
    seconds, retries = time.monotonic() - started, session.client.stats.retries
    if fmt == "json":
        doc = result.document(
            app=view["app"], endpoint=view["endpoint"], seconds=seconds, retries=retries
        )
        print_json(doc)
    else:
        if not output["quiet"]:
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
@options(var_option, values_option, only_option, exclude_option)
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
@click.option(
    "--force",
    is_flag=True,
    help="Override the removal guards (not protect: true), and apply a config revision older "
    "than the one last applied.",
)
@click.option(
    "--parallelism",
    type=click.IntRange(1, 1024),
    help="Calls in flight at most, per API (default 16).",
)
@lock_timeout_option
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
        echo_err(
            f"Waiting for the app lock, held by {lease.describe(time.time())} "
            f"(up to {lock_timeout:g} s)..."
        )

    def session(app, base_dir, revision):
        return engine.Session(
            app,
            base_dir,
            parallelism=parallelism,
            lock_timeout_s=lock_timeout,
            on_lock_wait=waiting,
            revision=revision,
            force_revision=force,
        )

    if plan_file:
        given = [
            flag
            for flag, used in (
                ("--group", only),
                ("--exclude-group", exclude),
                ("--force", force),
            )
            if used
        ]
        if given:
            raise UsageError(
                f"{', '.join(given)} cannot be combined with --plan: a saved plan is applied "
                "exactly as it was made and reviewed. Make a new plan with these options instead."
            )
        if not path and (var or values):
            raise UsageError(
                "--var and --values with --plan need the config PATH: they are checked against "
                "the ones the plan was made with"
            )
        saved = engine.read_plan(plan_file)
        config = engine.plan_config(saved, path, variables(var), list(values)) if path else None
        # What is recorded as applied: the given config's revision (a merge commit), or the
        # one the plan was made from.
        revision = engine.config_revision(config) if config else engine.saved_revision(saved)
        if saved.version_note:
            echo_err(f"Note: {saved.version_note}.")

        async def run_saved() -> None:
            # The plan's text is made in a thread while the lock is taken and the plan checked
            # (mostly waiting for answers), and shown before the first write or the refusal.
            made = asyncio.ensure_future(asyncio.to_thread(_saved_text, saved, fmt == "json"))
            view: dict | None = None

            async def show() -> dict:
                shown, text = await made
                show_plan(shown, err=fmt == "json", text=text)
                for refusal in saved.forced:
                    echo_err(f"Note: this plan was made with --force, overriding: {refusal}")
                return shown

            try:
                async with session(saved.app, saved.base_dir, revision) as s:
                    # Reviewed when it was saved: applied without asking again.
                    approval = engine.Approval(allow_destroy=allow_destroy)
                    approved = await s.approve(saved, approval)
                    view = await show()
                    await _execute(s, approved.operations, started, view, fmt)
            finally:
                if view is None:
                    await show()

        with _lock_hint(path, var, values):
            asyncio.run(run_saved())
        return
    config = load(path or ".", var, values)
    groups = engine.select(config.groups, Selection(list(only), list(exclude)))

    async def run() -> None:
        async with session(config.app, config.base_dir, engine.config_revision(config)) as s:
            the_plan = await s.plan(groups, engine.PlanOptions.of(config))
            view = engine.plan_view(config, the_plan)
            show_plan(view, err=fmt == "json")
            waited = [0.0]  # the seconds spent at the prompt: not part of the apply's time

            async def confirm() -> None:
                waited[0] = await _confirm(view)

            approval = engine.Approval(force, allow_destroy, None if auto_approve else confirm)
            approved = await s.approve(the_plan, approval)
            if approved.operations or fmt == "json":  # "No changes." was shown with the plan
                await _execute(s, approved.operations, started + waited[0], view, fmt)

    with _lock_hint(path, var, values):
        asyncio.run(run())


def _saved_text(saved, err: bool) -> tuple[dict, str]:
    """A saved plan's view and the text ``show_plan`` prints of it."""
    view = engine.saved_view(saved)
    return view, plan_text(view, err)


class _Locked(LockError):
    """The app's lock was not freed in time; the hint is the whole command that breaks it."""

    def __init__(self, message: str, command: str) -> None:
        super().__init__(message)
        self.command = command

    @property
    def hint(self) -> str:
        return f"if that run is dead, break the lock with: {self.command}"


@contextlib.contextmanager
def _lock_hint(path, var, values):
    try:
        yield
    except LockError as err:
        words = ["reconciler", "lock", path or "CONFIG"]
        words += [w for v in values for w in ("--values", v)]
        words += [w for v in var for w in ("--var", v)]
        raise _Locked(str(err), shlex.join([*words, "--break"])) from None


async def _confirm(view: dict) -> float:
    """Terraform's habit: on a terminal, only the word yes applies; nowhere else is asked.
    The seconds spent at the prompt (not part of the apply's time)."""
    if not sys.stdin.isatty():
        raise Exit(
            EXIT_ERROR,
            "Not applied: no terminal to confirm on. Review the plan and pass "
            "--auto-approve, or save it with plan --out and use apply --plan.",
        )
    if output["quiet"]:  # what is about to change, even in a quiet run
        echo_err(f"App {view['app']} at {view['endpoint']}\n{summary_line(view)}")
    question = (
        f"Apply these changes to app {view['app']} at {view['endpoint']}?\n"
        "  Only 'yes' will be accepted to approve.\n\n  Enter a value"
    )
    asked = time.monotonic()
    answer = await asyncio.to_thread(
        click.prompt, question, default="", show_default=False, err=True
    )
    if answer.strip() != "yes":
        raise Exit(EXIT_ERROR, "Not applied: only 'yes' approves.")
    return time.monotonic() - asked
