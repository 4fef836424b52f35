"""Views of a plan (reconciler.render): text, markdown and JSON say the same things."""

from __future__ import annotations

import json

from reconciler.diff import FieldChange, GroupChange, MemberChange
from reconciler.plan import Operation, Plan, Refusal
from reconciler.render import render_json, render_markdown, render_text
from reconciler.state import Group, GroupType, Member
from reconciler.tim.calls import ImportMembers, Joiner, ModifyGroup


def _plan() -> Plan:
    want = Group(id="g1", type=GroupType.Public, name="New")
    change = GroupChange(
        "g1",
        GroupType.Public,
        "update",
        want,
        None,
        fields=[FieldChange("name", "Old", "New")],
        members=[
            MemberChange("a", "add", member=Member(account="a", name_card="A")),
            MemberChange("x", "remove"),
        ],
    )
    ops = [
        Operation("g1", "base", ModifyGroup("g1", name="New")),
        Operation("g1", "import_members", ImportMembers("g1", [Joiner("a")])),
    ]
    return Plan([change], ops, refusals=[Refusal("g1", "would remove the owner 'x'", True)])


def test_text_shows_every_change_the_calls_the_floor_and_refusals() -> None:
    text = render_text(_plan(), 200, color=False)
    for line in (
        "~ group g1 (Public)",
        '~ name: "Old" -> "New"',
        '+ member a (name_card "A")',
        "- member x",
        "API calls: import_group_member 1, modify_group_base_info 1",
        "Minimum time at the rate limit: 0.01 s",
        "Refused: group g1: would remove the owner 'x' (override with --force)",
        "members 1 to add, 0 to modify, 1 to remove; 2 API call(s).",
    ):
        assert line in text, line


def test_markdown_and_json_carry_the_same_counts() -> None:
    md = render_markdown(_plan(), 200)
    assert md.startswith("## tim-reconciler plan") and "| 0 | 1 | 0 | 1 | 0 | 1 | 2 |" in md
    doc = json.loads(render_json(_plan(), 200))
    assert doc["counts"]["members_add"] == 1 and doc["calls_by_api"]["import_group_member"] == 1
    assert doc["changes"][0]["members"][0] == {
        "account": "a",
        "action": "add",
        "fields": [],
        "attributes": {"name_card": "A"},
    }
    assert doc["refusals"][0]["overridable"] is True
    assert [op["api"] for op in doc["operations"]] == [
        "modify_group_base_info",
        "import_group_member",
    ]


HOSTILE = [
    "x</code></summary></details>@here",
    "y```\n</details>\n# @team [click](https://evil.example) <img src=x onerror=alert(1)>",
    "z`` <!-- ``` --> | @org/all",
]


def _hostile_plan() -> Plan:
    changes, ops = [], []
    for n, gid in enumerate(HOSTILE):
        want = Group(id=gid, type=GroupType.Public, name=gid)
        changes.append(
            GroupChange(
                gid,
                GroupType.Public,
                "update",
                want,
                None,
                fields=[FieldChange("name", f"old {gid}", gid)],
                members=[MemberChange(HOSTILE[(n + 1) % 3], "add", member=Member(account="m"))],
            )
        )
        ops.append(Operation(gid, "base", ModifyGroup(gid, name=gid)))
    refusals = [Refusal(gid, f"would remove {gid}", True) for gid in HOSTILE]
    return Plan(changes, ops, refusals=refusals, notes=[f"note on {HOSTILE[0]}"])


def test_no_id_or_value_escapes_the_markdown_layout() -> None:
    """Hostile IDs and values stay text: each group is one <details> block holding its summary
    and one code block; nothing else renders (no heading, link, image, mention outside code)."""
    from markdown_it import MarkdownIt

    md = render_markdown(_hostile_plan(), 200)
    tokens = MarkdownIt("commonmark").parse(md)
    kinds = [t.type for t in tokens if t.level == 0]
    opened = [t for t in tokens if t.type == "html_block" and t.content.startswith("<details>")]
    closed = [t for t in tokens if t.type == "html_block" and t.content == "</details>\n"]
    assert len(opened) == len(closed) == len(HOSTILE)
    # The layout: the heading and the table, one fence for the problems, then per group its
    # summary, its diff and its end; nothing in between.
    fences = [t for t in tokens if t.type == "fence"]
    assert [f.info for f in fences] == ["text"] + ["diff"] * len(HOSTILE)
    assert kinds.count("heading_open") == 1 and "blockquote_open" not in kinds
    assert all(t.type != "link_open" and t.type != "image" for t in tokens)
    for block in opened:
        assert block.content.count("<") == 5 and block.content.count(">") == 5  # its own tags
        assert "@" not in block.content
    text = "\n".join(f.content for f in fences)
    for gid in HOSTILE:  # shown whole, each on one line, inside code
        assert " ".join(gid.splitlines()) in text
    # Outside code and the escaped summaries, no user text at all.
    inline = " ".join(t.content for t in tokens if t.type == "inline")
    assert "@" not in inline and "evil" not in inline
