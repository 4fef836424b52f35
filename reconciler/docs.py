"""The reference pages of the documentation (docs/reference/), generated from their one source
each so the site cannot disagree with the tool: the configuration reference from the JSON Schema,
the commands from the click commands' help and options.

``python -m reconciler.docs`` rewrites them; tests/test_docs.py fails when they are out of date.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click

from reconciler.config import json_schema

SECTIONS = (
    ("app", "AppConfig"),
    ("app.limits", "LimitsConfig"),
    ("policy", "Policy"),
    ("groups[]", "GroupSpec"),
)
MEMBERS = ("groups[].members[]", "MemberSpec")
TOPICS = ("groups[].topics[]", "TopicSpec")
PERMISSION_GROUPS = ("groups[].permission_groups[]", "PermissionGroupSpec")


def _kinds(option: dict) -> list[str]:
    kind = option.get("type", [])
    return [k for k in (kind if isinstance(kind, list) else [kind]) if k != "null"]


def _type(prop: dict) -> str:
    if "type" in prop and "enum" not in prop:  # its own type; an anyOf only narrows it
        return " or ".join(_kinds(prop)) or "any"
    options = prop.get("anyOf", [prop])
    names = []
    for option in options:
        if "enum" in option:
            names.append(", ".join(f"`{v}`" for v in option["enum"] if v is not None))
        elif "const" in option:
            names.append(f"`{option['const']}`")
        elif "$ref" in option:
            names.append("mapping")
        else:
            names.extend(_kinds(option))
    return " or ".join(dict.fromkeys(names)) or "any"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def reference_markdown() -> str:
    schema = json_schema()
    defs = schema["$defs"]
    lines: list[str] = []
    for prefix, name in (*SECTIONS, MEMBERS, TOPICS, PERMISSION_GROUPS):
        lines += [
            f"**`{prefix}`**",
            "",
            "| key | type | default | description |",
            "|---|---|---|---|",
        ]
        required = set(defs[name].get("required", []))
        for key, prop in defs[name]["properties"].items():
            default = "required" if key in required else prop.get("default", "")
            if isinstance(default, bool):
                default = str(default).lower()
            default = f"`{default}`" if default not in ("", None, "required") else default or ""
            lines.append(
                f"| `{key}` | {_cell(_type(prop))} | {_cell(default)} | "
                f"{_cell(prop.get('description', ''))} |"
            )
        lines.append("")
    return "\n".join(lines)


def commands_markdown() -> str:
    from reconciler.cli import cli  # the top layer, imported only to document it

    lines = [
        "# Commands reference",
        "",
        "Generated from the commands themselves (`reconciler COMMAND --help`) by",
        "`python -m reconciler.docs`.",
        "",
    ]

    def walk(command: click.Command, name: str) -> None:
        lines.extend([f"## `{name}`", "", inspect.cleandoc(command.help or ""), ""])
        options = [p for p in command.params if isinstance(p, click.Option)]
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        if arguments:
            shown = " ".join(a.human_readable_name for a in arguments)
            lines.extend([f"Arguments: `{shown}`", ""])
        if options:
            lines.extend(["| option | description |", "|---|---|"])
            for option in options:
                flags = ", ".join(f"`{o}`" for o in option.opts + option.secondary_opts)
                text = (option.help or "").replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {flags} | {text} |")
            lines.append("")
        if isinstance(command, click.Group):
            for sub_name, sub in sorted(command.commands.items()):
                walk(sub, f"{name} {sub_name}")

    walk(cli, "reconciler")
    return "\n".join(lines).rstrip("\n") + "\n"


def configuration_markdown() -> str:
    return (
        "# Configuration reference\n\n"
        "Generated from the JSON Schema (`reconciler schema`, committed as "
        "`schemas/reconciler.schema.json`) by `python -m reconciler.docs`: every key of every "
        "section, its type, default and limits.\n\n"
        + json_schema()["description"]
        + "\n\n"
        + reference_markdown().rstrip("\n")
        + "\n"
    )


REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"


def reference_pages() -> dict[Path, str]:
    return {
        REFERENCE / "configuration.md": configuration_markdown(),
        REFERENCE / "commands.md": commands_markdown(),
    }


def main() -> int:
    for path, text in reference_pages().items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
