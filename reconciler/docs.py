"""The README's config reference, generated from the JSON Schema so the two never disagree.

``python -m reconciler.docs`` rewrites the section between the reference markers of README.md;
tests/test_docs.py fails when it is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from reconciler.config import json_schema

START = "<!-- reference:start"
END = "<!-- reference:end -->"
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


def updated_readme(text: str) -> str:
    start = text.index(START)
    start = text.index("\n", start) + 1
    end = text.index(END)
    return text[:start] + reference_markdown() + text[end:]


def main() -> int:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    readme.write_text(updated_readme(readme.read_text()))
    print(f"updated the reference in {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
