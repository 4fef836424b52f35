"""The commands that read: validate, plan, show, export, lock, render, fmt, schema."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import click

from reconciler import engine
from reconciler.cli.base import (
    EXIT_CHANGES,
    EXIT_ERROR,
    Exit,
    cli,
    echo_err,
    exclude_option,
    load,
    only_option,
    options,
    output,
    path_argument,
    print_json,
    show_plan,
    values_option,
    var_option,
    variables,
)
from reconciler.engine import Selection
from reconciler.errors import UsageError
from reconciler.render import learned_lines, render_json, render_markdown, summary_line


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@options(var_option, values_option)
@click.option(
    "--discover",
    is_flag=True,
    help="Take PATHS as changed files and check the configs they belong to (pre-commit).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one document listing each config checked (an error document on failure).",
)
def validate(paths, var, values, discover, fmt) -> None:
    """Check config files or directories offline: syntax, types, limits, group-type rules."""
    roots = engine.config_roots(list(paths)) if discover else list(paths) or ["."]
    if discover and not roots and fmt == "text":
        click.echo("No config among the given files.")
    checked = []
    for root in roots:
        config = load(root, var, values)
        members = sum(g.member_count() for g in config.groups)
        checked.append(
            {
                "path": str(root),
                "groups": len(config.groups),
                "memberships": members,
                "files": [str(f) for f in config.files],
            }
        )
        if fmt == "text":
            where = f" ({root})" if len(roots) > 1 or discover else ""
            click.echo(
                f"OK{where}: {len(config.groups)} group(s), {members} membership(s) "
                f"in {len(config.files)} file(s)."
            )
    if fmt == "json":
        print_json({"format_version": 1, "valid": True, "configs": checked})


@cli.command()
@options(path_argument, var_option, values_option, only_option, exclude_option)
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
    config = load(path, var, values)
    selection = Selection(list(only), list(exclude))
    if out:
        inputs = [*config.files, *(Path(v) for v in values)]
        engine.check_writable(out, inputs=inputs, force=force)
    the_plan = asyncio.run(engine.plan(config, selection))
    view = engine.plan_view(config, the_plan)
    if fmt == "json":
        print_json(render_json(view))
    elif fmt == "markdown":
        click.echo(render_markdown(view, None))
    elif output["quiet"]:
        click.echo(summary_line(view))
    else:
        show_plan(view)
    for line in learned_lines(the_plan.limits, []):
        echo_err(line)
    the_plan.raise_if_unsafe(force, applying=False)
    if out:
        engine.save_plan(out, the_plan, config, selection, forced=force)
        if not output["quiet"]:
            echo_err(f"Saved the plan to {out}; apply it with: reconciler apply --plan {out}")
    if detailed_exitcode and the_plan.has_changes:
        raise Exit(EXIT_CHANGES)


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
    """Show a plan saved by plan --out, without calling the API (its MAC is checked with the
    app's secret key, so the key's variable must be set)."""
    saved = engine.read_plan(plan_file)
    if saved.version_note:
        echo_err(f"Note: {saved.version_note}.")
    view = engine.saved_view(saved)
    if fmt == "json":
        print_json(render_json(view))
    elif fmt == "markdown":
        click.echo(render_markdown(view, None))
    else:
        show_plan(view)


@cli.command()
@options(path_argument, var_option, values_option)
@click.option(
    "--group",
    "only",
    multiple=True,
    metavar="ID",
    help="Export this group, or those a shell-style pattern matches (stg-*); repeatable. "
    "A name that matches no group is listed and skipped.",
)
@click.option("--all", "all_groups", is_flag=True, help="Export every group of the app.")
@click.option("--output", "-o", type=click.Path(), help="A file, or a directory (see --layout).")
@click.option(
    "--members-mode",
    type=click.Choice(["authoritative", "additive"]),
    default="authoritative",
    show_default=True,
    help="What each exported member list declares: additive never removes members who join "
    "by themselves (the safe first step when adopting an app).",
)
@click.option(
    "--layout",
    type=click.Choice(["per-type", "per-group"]),
    default="per-type",
    show_default=True,
    help="Into a directory: one file per group type, or one file per group in a directory "
    "per type (work/, community/...; large apps).",
)
@click.option("--strict", is_flag=True, help="Fail, writing nothing, if a --group matches none.")
@click.option(
    "--force", is_flag=True, help="Replace files export did not write (never an app.yaml)."
)
def export(
    path, var, values, only, all_groups, output, members_mode, layout, strict, force
) -> None:
    """Write config YAML for live groups, so existing groups can be adopted."""
    if not only and not all_groups:
        raise UsageError("Say which groups to export: --group ID (repeatable) or --all.")
    config = load(path, var, values)
    lines = engine.export(
        config,
        list(only) or None,
        output,
        members_mode=members_mode,
        layout=layout,
        strict=strict,
        force=force,
        variables=variables(var),
        values=list(values),
    )
    for line in asyncio.run(lines):
        echo_err(line)


@cli.command("lock")
@options(path_argument, var_option, values_option)
@click.option(
    "--break",
    "break_it",
    is_flag=True,
    help="Remove the lock when its lease has expired; a live one needs --id and --force.",
)
@click.option(
    "--id",
    "lock_id",
    metavar="ID",
    help="With --break: the lock ID that `reconciler lock` printed; any other is refused.",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --break --id: break a live lease (its holder stops before its next write).",
)
def lock_command(path, var, values, break_it, lock_id, force) -> None:
    """Show who holds the app's lock and its lock ID (apply takes it while it writes), or
    break it."""
    if (lock_id is not None or force) and not break_it:
        raise UsageError("--id and --force go with --break: lock --break --id ID --force")
    config = load(path, var, values)
    if break_it:
        lease = asyncio.run(engine.break_app_lock(config, lock_id=lock_id, force=force))
    else:
        lease = asyncio.run(engine.lock_holder(config))
    if lease is None:
        click.echo("The app lock is free.")
    else:
        verb = "Broke the lock held by" if break_it else "The app is locked by"
        click.echo(f"{verb} {lease.describe(time.time())}.\nLock ID: {lease.token}")


@cli.command("render")
@options(path_argument, var_option, values_option)
def render_command(path, var, values) -> None:
    """Print the config with its templates expanded (for review and other validators)."""
    for file, text in engine.rendered(path, variables(var), list(values)).items():
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
    if not output["quiet"]:
        verb = "to reformat" if check else "reformatted"
        click.echo(f"{len(changed)} of {len(outcomes)} file(s) {verb}.")
    if check and changed:
        raise Exit(EXIT_ERROR)


@cli.command()
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Write to a file instead of stdout."
)
@click.option("--plan", "plan_file", is_flag=True, help="The plan file's schema instead.")
def schema(output, plan_file) -> None:
    """Print the JSON Schema of the config format (for editors and CI), or of plan files."""
    doc = engine.plan_json_schema() if plan_file else engine.json_schema()
    text = json.dumps(doc, indent=2) + "\n"
    if output:
        Path(output).write_text(text)
    else:
        click.echo(text, nl=False)
