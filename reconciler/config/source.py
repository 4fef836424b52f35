"""Config texts: decoding, fast parsing, and finding line:col for a data path only when needed.

Parsing goes through yaml_rs (compiled, no positions). Positions are found afterwards and only
for what is reported: a cheap line scan splits a file into its top-level sections and its group
items, a small block-style resolver walks a path inside one item, and ruamel.yaml (which keeps
positions on every node, but is slow) is the fallback for flow style and odd layouts, applied to
the one item concerned whenever possible.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

import yaml_rs

# Aliases are replayed by the parser; this bounds the events an alias bomb can produce.
ALIAS_LIMITS = yaml_rs.AliasLimits(max_total_replayed_events=2_000_000, max_replay_stack_depth=64)

WHOLE_COMPOSE_MAX = 2_000_000  # characters
_COLUMN_ZERO = re.compile(r"\n[^ \t\r\n#]")
_SYNTAX_POS = re.compile(r"at line (\d+), column (\d+)")
_TOP_KEY = re.compile(
    r"""^(?P<key>"[^"\n]*"|'[^'\n]*'|[^\s#\-?:,\[\]{}&*!|>'"%@`][^\n:#]*?|-[^\s\n:#][^\n:#]*?)"""
    r"""[ \t]*:(?=[ \t]|\r?$)""",
    re.M,
)


class SourceError(Exception):
    """A problem in a text at a known place (line/col 1-based; col may be 1 when unknown)."""

    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.line, self.col, self.message = line, col, message


# Byte-order marks of other encodings: such a file is refused, not guessed at.
_FOREIGN_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
# Characters YAML does not allow unescaped anywhere (C0 controls but tab/LF/CR, DEL, C1 controls
# but NEL), lone surrogates (a template can make them), and the noncharacters U+FFFE/U+FFFF.
# A NUL byte in particular ends the text for a C parser: everything after it would be lost.
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def _position(text: str, at: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, at) + 1
    return text.count("\n", 0, line_start) + 1, at - line_start + 1


# The ASCII characters a YAML text may hold raw: an ASCII text of only these (the usual config)
# is passed at C speed, four times faster than _BAD_CHAR's search.
_ALLOWED_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n\r"


def check_text(text: str) -> None:
    """Refuse characters no YAML text may hold raw, at their line:col (before any parser)."""
    if text.isascii() and not text.encode("ascii").translate(None, _ALLOWED_ASCII):
        return
    match = _BAD_CHAR.search(text)
    if match is None:
        return
    char = match[0]
    line, col = _position(text, match.start())
    if char == "\x00":
        what = "a NUL byte (0x00)"
    elif "\ud800" <= char <= "\udfff":
        what = f"a lone surrogate (U+{ord(char):04X}, not a character)"
    else:
        what = f"the control character U+{ord(char):04X}"
    raise SourceError(
        line,
        col,
        f"{what} is not allowed in a config text; remove it (inside a double-quoted string, "
        "write a control character as an escape such as \\t)",
    )


def decode(data: bytes) -> str:
    """UTF-8 (an optional UTF-8 BOM is dropped) with no NUL or control characters; raise
    SourceError at the first bad byte, so that no parser ever sees a prefix of the file."""
    for bom, name in _FOREIGN_BOMS:
        if data.startswith(bom):
            raise SourceError(
                1,
                1,
                f"the file looks like {name} (it starts with a {name} byte-order mark); "
                "save it as UTF-8",
            )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        head = data[: err.start]
        line = head.count(b"\n") + 1
        line_start = head.rfind(b"\n") + 1
        col = len(head[line_start:].decode("utf-8", errors="replace")) + 1
        bad = data[err.start : err.start + 1].hex()
        raise SourceError(
            line, col, f"not valid UTF-8 (byte 0x{bad}); save the file as UTF-8"
        ) from None
    text = text[1:] if text.startswith("\ufeff") else text
    check_text(text)
    return text


# Where a tag, an explicit or flow-collection key, or a document marker may start. Matches inside
# quoted strings or comments are possible; the YAML scanner then decides (see _check_tokens).
# Each branch begins with the character it consumes, so the engine skips to candidates at C
# speed (a leading lookbehind made it try every position: 0.5 s instead of 0.08 s per 10 MB).
_HAZARD = re.compile(
    r"(?m)[!?\]}.\-](?:"
    r"(?<=!)(?<![^ \t\[\]{},\n].)"  # a tag: at a line start, after a blank or a flow indicator
    r"|(?<=\?)(?<![^ \t\[\]{},\n].)(?=[ \t\r]|$)"  # an explicit key, likewise
    r"|(?<=[\]}])[ \t]*:(?=[ \t\r,\]}]|$)"  # a flow collection as a key
    r"|(?<=-)(?<![^\n].)--(?=[ \t\r]|$)"  # --- at a line start
    r"|(?<=\.)(?<![^\n].)\.\.(?=[ \t\r]|$))"  # ... at a line start
)
SCAN_WHOLE_MAX = 1_000_000  # characters; bigger texts are scanned one suspect chunk at a time
# A flow collection followed by a colon: with the characters below, what a text holds for
# _HAZARD to match at all. Found at C speed (one literal first character a pattern), so that a
# big config without any (the usual case) is not searched with _HAZARD, which tries every list
# item's "-" and flow mapping's "}": 0.3 s per million members.
_FLOW_KEYS = (re.compile(r"\}[ \t]*:"), re.compile(r"\][ \t]*:"))


def _may_hold_hazard(text: str) -> bool:
    return (
        "!" in text
        or "?" in text
        or "---" in text
        or "..." in text
        or any(flow_key.search(text) for flow_key in _FLOW_KEYS)
    )


def _check_tokens(text: str) -> None:
    """Configs are plain data in one YAML document: refuse every tag (yaml_rs ignores most of
    them silently), non-scalar keys and a second document, each at its place."""
    if not _may_hold_hazard(text) or _HAZARD.search(text) is None:
        return
    if len(text) <= SCAN_WHOLE_MAX:
        _scan(text, 0)
        return
    spots = [m.start() for m in _HAZARD.finditer(text)]
    for start, end, row in SourceIndex(text).chunks():
        if any(start <= at < end for at in spots):
            if not _scan(text[start:end], row):
                _scan(text, 0)  # the chunk does not scan alone: scan the whole text
                return


def _scan(text: str, first_row: int) -> bool:
    """Scan ``text`` with ruamel.yaml's scanner; False when it cannot (yaml_rs then reports)."""
    from ruamel.yaml import YAML
    from ruamel.yaml import tokens as T

    content = (
        T.ScalarToken,
        T.BlockMappingStartToken,
        T.BlockSequenceStartToken,
        T.FlowMappingStartToken,
        T.FlowSequenceStartToken,
        T.AliasToken,
        T.AnchorToken,
        T.TagToken,
        T.BlockEntryToken,
    )
    collections = (
        T.BlockMappingStartToken,
        T.BlockSequenceStartToken,
        T.FlowMappingStartToken,
        T.FlowSequenceStartToken,
        T.BlockEntryToken,
    )

    def fail(token: Any, message: str) -> SourceError:
        mark = token.start_mark
        return SourceError(mark.line + first_row + 1, mark.column + 1, message)

    seen_content = ended = False
    after_key = False
    try:
        for token in YAML(typ="safe", pure=True).scan(text):
            if isinstance(token, T.TagToken):
                handle, suffix = token.value
                raise fail(
                    token,
                    f"tag {handle or ''}{suffix or ''} is not allowed: configs are plain data "
                    "(no language-specific, custom or core tags); remove the tag, and quote "
                    "the value if it is text",
                )
            if after_key and not isinstance(token, T.AnchorToken):
                after_key = False
                if isinstance(token, collections):
                    raise fail(
                        token,
                        "a key must be a plain value (a name or a number), not a list or a "
                        "mapping; write the key as text",
                    )
            if isinstance(token, T.KeyToken):
                after_key = True
            elif isinstance(token, T.DocumentStartToken) and seen_content:
                raise fail(
                    token,
                    "a second YAML document starts here; a config file is one document: "
                    "split it into two files, or remove the `---` line",
                )
            elif isinstance(token, T.DocumentEndToken):
                ended = seen_content
            elif isinstance(token, content):
                if ended:
                    raise fail(
                        token,
                        "content after the end of the YAML document (`...`); a config file is "
                        "one document: remove the `...` line or split the file",
                    )
                seen_content = True
    except SourceError:
        raise
    except Exception:  # noqa: BLE001 - not scannable here; the real parser reports the error
        return False
    return True


# --- alias budget ---------------------------------------------------------------------------

# Bytes that alias expansion may produce in one file. yaml_rs bounds the *events* an alias replays;
# this bounds the *bytes* (5,000 aliases of a 100 KB scalar are few events but 500 MB of data).
ALIAS_BYTES_MAX = 8_000_000
_NODE_COST = 16  # per replayed scalar or collection: small nodes cost memory too
_ANCHOR = re.compile(r"(?:^|(?<=[ \t\[\]{},]))&([^\s,\[\]{}]+)", re.M)
_ALIAS = re.compile(r"(?:^|(?<=[ \t\[\]{},]))\*([^\s,\[\]{}]+)", re.M)
_LEAD = re.compile(r"[ \t]*(?:-[ \t]+)*")


def _anchor_extent(text: str, at: int) -> tuple[int, int]:
    """A generous estimate of the text span of the node anchored at ``at``: the rest of its line
    and every following line indented deeper than the key or dash that owns it (continuation
    lines, block collections, block scalars), plus an indentless sequence under a key."""
    line_start = text.rfind("\n", 0, at) + 1
    line_end = text.find("\n", at)
    line_end = len(text) if line_end < 0 else line_end
    head = text[line_start:at]
    stripped = head.rstrip()
    if stripped.endswith(":"):  # the value of a key: owned by the key's column
        owner, indentless = _LEAD.match(head).end(), True  # type: ignore[union-attr]
    elif stripped.endswith("-"):  # a sequence item: owned by its dash
        owner, indentless = len(stripped) - 1, False
    else:
        owner, indentless = len(head) - len(head.lstrip(" ")), False
    end = line_end
    while end < len(text):
        nxt = text.find("\n", end + 1)
        nxt = len(text) if nxt < 0 else nxt
        row = text[end + 1 : nxt]
        body = row.lstrip(" ")
        indent = len(row) - len(body)
        if body and not body.startswith("#"):
            deeper = indent > owner or (indentless and indent == owner and body[:2] in ("- ", "-"))
            if not deeper:
                break
        end = nxt
    return at, end


def check_alias_budget(text: str) -> None:
    """Refuse a text whose aliases would produce more than ALIAS_BYTES_MAX bytes, at the alias
    that crosses the budget. Linear in the text: sizes are computed, never expanded."""
    if "*" not in text:
        return
    aliases = [(m.start(), m[1]) for m in _ALIAS.finditer(text)]
    if not aliases:
        return
    positions = [at for at, _ in aliases]
    anchors: dict[str, list[tuple[int, int]]] = {}
    for match in _ANCHOR.finditer(text):
        anchors.setdefault(match[1], []).append(_anchor_extent(text, match.start()))
    sizes: dict[tuple[int, int], int] = {}

    def target(name: str, at: int) -> tuple[int, int] | None:
        # The latest definition before the alias (YAML: an alias names the last such anchor).
        spans = [span for span in anchors.get(name, ()) if span[0] < at]
        return spans[-1] if spans else None

    def size(span: tuple[int, int], busy: frozenset[tuple[int, int]]) -> int:
        if span in sizes:
            return sizes[span]
        start, end = span
        total = end - start + _NODE_COST
        inside = aliases[bisect.bisect_right(positions, start) : bisect.bisect_left(positions, end)]
        for at, name in inside:
            inner = target(name, at)
            if inner is not None and inner not in busy and inner != span:
                total += size(inner, busy | {span})
        sizes[span] = total
        return total

    produced = 0
    for at, name in aliases:
        span = target(name, at)
        if span is None:
            continue
        produced += size(span, frozenset())
        if produced > ALIAS_BYTES_MAX:
            line, col = _position(text, at)
            raise SourceError(
                line,
                col,
                f"too much alias expansion: the aliases up to this one would produce over "
                f"{ALIAS_BYTES_MAX // 1_000_000} MB of data; write the data out, or use a "
                "template loop",
            )


def check_yaml(text: str) -> None:
    """Every check that must see a whole text before a parser does (see parse_yaml), but
    check_text, which every text passed when it was decoded or rendered."""
    _check_tokens(text)
    check_alias_budget(text)


def parse_yaml(text: str) -> Any:
    """Parse one YAML document; raise SourceError (located as well as the message allows).
    Timestamps stay text, as YAML 1.2 and editors read them (the config checks their form)."""
    check_yaml(text)
    try:
        return yaml_rs.loads(text, parse_datetime=False, alias_limits=ALIAS_LIMITS)
    except yaml_rs.YAMLDecodeError as err:
        raise _located_yaml_error(text, str(err)) from None


def _located_yaml_error(text: str, message: str) -> SourceError:
    pos = _SYNTAX_POS.search(message)
    if pos:
        what = message.strip().splitlines()[-1].strip()
        return SourceError(int(pos[1]), int(pos[2]), f"YAML syntax error: {what}")
    # yaml_rs reports some problems without a position: find the place ourselves.
    dup = re.match(r"duplicate mapping key: (.*)", message)
    if dup:
        found = _find_duplicate_key(text)
        if found:
            (line, col), (first_line, _), key = found
            return SourceError(
                line, col, f"duplicate key {key!r} (first at line {first_line}); remove one of them"
            )
        return SourceError(1, 1, f"duplicate key {dup[1]}; remove one of them")
    tag = re.match(r"Invalid tag: '(.*)'", message)
    if tag:
        line, col = _find_text(text, tag[1])
        return SourceError(
            line,
            col,
            f"tag {tag[1]} is not allowed: configs are plain data (no language-specific tags); "
            "remove the tag",
        )
    if "alias" in message:
        line, col = _find_text(text, "*")
        return SourceError(
            line, col, f"too much alias expansion ({message}); write the data out or use a template"
        )
    return SourceError(1, 1, f"YAML error: {message}")


def _find_text(text: str, needle: str) -> tuple[int, int]:
    at = text.find(needle)
    if at < 0:
        return 1, 1
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def _find_duplicate_key(text: str) -> tuple[tuple[int, int], tuple[int, int], str] | None:
    """(second, first, key) of the first duplicate mapping key, by scanning item by item."""
    index = SourceIndex(text)
    for key, entries in index.top_keys().items():
        if len(entries) > 1:
            return (entries[1][1], 1), (entries[0][1], 1), key
    for start, end, first_row in index.chunks():
        chunk = text[start:end]
        try:
            yaml_rs.loads(chunk, alias_limits=ALIAS_LIMITS)
            continue
        except yaml_rs.YAMLDecodeError as err:
            if "duplicate mapping key" not in str(err):
                continue
        except Exception:  # noqa: BLE001 - any other failure: try ruamel below
            pass
        node = _compose(chunk)
        if node is None:
            continue
        found = _walk_duplicates(node)
        if found:
            second, first, key = found
            return (
                (second[0] + first_row + 1, second[1] + 1),
                (first[0] + first_row + 1, first[1] + 1),
                key,
            )
    return None


def _walk_duplicates(node: Any) -> tuple[tuple[int, int], tuple[int, int], str] | None:
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    stack, seen_nodes = [node], set()
    while stack:
        current = stack.pop()
        if id(current) in seen_nodes:
            continue
        seen_nodes.add(id(current))
        if isinstance(current, MappingNode):
            keys: dict[Any, Any] = {}
            for key_node, value_node in current.value:
                key = _key_value(key_node)
                if key is not None:
                    if key in keys:
                        first = keys[key].start_mark
                        second = key_node.start_mark
                        return (
                            (second.line, second.column),
                            (first.line, first.column),
                            str(key_node.value),
                        )
                    keys[key] = key_node
                stack.append(value_node)
        elif isinstance(current, SequenceNode):
            stack.extend(reversed(current.value))
    return None


def _key_value(node: Any) -> Any:
    """A scalar key as the parser sees it: plain 1000, 0x3E8 and 1000.0 are the same number."""
    value = getattr(node, "value", None)
    if not isinstance(value, str):
        return None
    return _plain_key(value) if getattr(node, "style", None) is None else value


def _plain_key(text: str) -> Any:
    """A plain (unquoted) key's value, comparable with ``==``: true is not 1, .nan is .nan."""
    try:
        value = yaml_rs.loads(text)
    except Exception:  # noqa: BLE001 - not a scalar on its own: compare the text
        return text
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, float) and value != value:
        return (float, "nan")
    return value if isinstance(value, int | float) else text


def _key_is(written: str, step: Any) -> bool:
    """Whether a key as written (``1000``, ``0x3E8``, ``.nan``, ``true``) is the data's key."""
    key = _unquote(written)
    if key == str(step):
        return True
    if isinstance(step, str) or key != written.strip():
        return False
    if isinstance(step, bool):
        step = (bool, step)
    elif isinstance(step, float) and step != step:
        step = (float, "nan")
    return _plain_key(key) == step


def _compose(text: str) -> Any:
    from ruamel.yaml import YAML

    try:
        return YAML(typ="rt").compose(text)
    except Exception:  # noqa: BLE001 - positions are best effort; the caller falls back
        return None


# --- positions ----------------------------------------------------------------------------------


@dataclass
class _Node:
    """A block node inside a list of lines: content starts at (row, col); rows end before end."""

    row: int
    col: int
    end: int
    inline: bool = False  # the value is on the key's line (a scalar or a flow collection)


@dataclass
class SourceIndex:
    """Cheap structural index of one YAML text, built on demand."""

    text: str
    _top: dict[str, list[tuple[int, int]]] | None = None  # key -> [(char offset, line)]
    _items: list[tuple[int, int]] | None = None  # group items: (char offset, line)
    _items_done: bool = False
    _items_end: int = 0
    _whole: Any = None
    _whole_done: bool = False
    _chunk_cache: dict[int, Any] = field(default_factory=dict)
    _lines_cache: dict[int, Any] = field(default_factory=dict)

    # Top-level keys (column 0): offsets and 1-based lines.
    def top_keys(self) -> dict[str, list[tuple[int, int]]]:
        if self._top is None:
            found: dict[str, list[tuple[int, int]]] = {}
            line, last = 1, 0
            # Only lines starting in column 0 can hold a top-level key: find those fast.
            starts = [m.start() + 1 for m in _COLUMN_ZERO.finditer(self.text)]
            for start in [0, *starts]:
                match = _TOP_KEY.match(self.text, start)
                if match is None:
                    continue
                line += self.text.count("\n", last, start)
                last = start
                found.setdefault(_unquote(match["key"]), []).append((start, line))
            self._top = found
        return self._top

    def _block_range(self, key: str) -> tuple[int, int] | None:
        """Char range of a top-level key's block: its line to the next top-level key."""
        top = self.top_keys()
        if key not in top or len(top[key]) != 1:
            return None
        start = top[key][0][0]
        later = [off for entries in top.values() for off, _ in entries if off > start]
        return start, min(later) if later else len(self.text)

    def group_items(self) -> list[tuple[int, int]] | None:
        """(char offset, line) of each item of the top-level `groups` block sequence, or None
        when the layout is not a plain block sequence (then a real parser must answer)."""
        if self._items_done:
            return self._items
        self._items_done = True
        top = self.top_keys().get("groups")
        if not top or len(top) != 1:
            return None
        start, line = top[0]
        first = self.text.find("\n", start)
        if first < 0:
            return None
        colon = _key_end(self.text[start:first], 0)
        after = self.text[start:first][colon + 1 :].strip() if colon is not None else "x"
        if after and not after.startswith("#"):
            return None  # `groups: [...]` (flow style) or an anchor/tag on the key's line
        # The first content line gives the items' indentation; it must be an item.
        pos, line, indent = first + 1, line + 1, None
        while pos < len(self.text):
            nl = self.text.find("\n", pos)
            nl = len(self.text) if nl < 0 else nl
            row = self.text[pos:nl]
            if _is_content(row):
                indent = _indent(row)
                if row[indent : indent + 1] != "-" or row[indent + 1 : indent + 2] not in (
                    "",
                    " ",
                    "\t",
                    "\r",
                ):
                    return None
                break
            pos, line = nl + 1, line + 1
        if indent is None:
            return None
        # The block ends at the first later line in column 0 that is not an item (a key, ---).
        end = len(self.text)
        for match in _COLUMN_ZERO.finditer(self.text, pos):
            at = match.start() + 1
            if indent == 0 and self.text[at] == "-" and self.text[at + 1 : at + 2] in " \t\r\n":
                continue
            end = at
            break
        pattern = re.compile("\n" + " " * indent + r"-(?=[ \t\r\n]|$)")
        items = [(pos, line)]
        cursor = pos
        for match in pattern.finditer(self.text, pos + 1, end):
            at = match.start() + 1
            line += self.text.count("\n", cursor, at)
            cursor = at
            items.append((at, line))
        self._items, self._items_end = items, end
        return items

    def split_groups(self) -> tuple[str, list[tuple[int, int]]] | None:
        """The text without its group items, and each item's (start, end) offsets; None when the
        file is not laid out as a plain block sequence of groups."""
        items = self.group_items()
        if not items:
            return None
        header = self.text[: items[0][0]] + self.text[self._items_end :]
        starts = [offset for offset, _ in items]
        return header, list(zip(starts, [*starts[1:], self._items_end], strict=True))

    def item_location(self, index: int, expected: int) -> tuple[int, int] | None:
        """Line and column (1-based) where group item ``index`` starts, if the scan is sound."""
        items = self.group_items()
        if items is None or len(items) != expected:
            return None
        offset, line = items[index]
        return _content_position(self.text, offset, line)

    def chunks(self) -> list[tuple[int, int, int]]:
        """(start, end, first row 0-based) pieces that parse independently: top-level blocks,
        with the groups block split into items."""
        top = sorted(
            (off, line - 1) for entries in self.top_keys().values() for off, line in entries
        )
        pieces: list[tuple[int, int, int]] = []
        bounds = [*top, (len(self.text), -1)]
        items = self.group_items() or []
        for (start, row), (end, _) in zip(bounds, bounds[1:], strict=False):
            inner = [(off, line - 1) for off, line in items if start < off < end]
            if inner:
                pieces.append((start, inner[0][0], row))
                ends = [off for off, _ in inner[1:]] + [end]
                pieces.extend((off, e, r) for (off, r), e in zip(inner, ends, strict=True))
            else:
                pieces.append((start, end, row))
        return pieces or [(0, len(self.text), 0)]

    # --- locating a data path -------------------------------------------------------------------

    def locate(self, path: tuple[Any, ...], target: str, n_groups: int | None) -> tuple[int, int]:
        """1-based (line, col) of the node at ``path`` (``target`` "key": its key instead)."""
        if not path:
            return 1, 1
        head = path[0]
        if len(path) == 1 and isinstance(head, str):
            top = self.top_keys().get(head)
            if top:
                offset, line = top[0]
                if target == "key":
                    return line, 1
                return self._value_after_key(offset, line)
        if head == "groups" and len(path) >= 2 and isinstance(path[1], int) and n_groups:
            found = self._locate_in_item(path[1], path[2:], target, n_groups)
            if found:
                return found
        elif isinstance(head, str) and len(self.top_keys().get(head, ())) == 1:
            span = self._block_range(head)
            if span:
                line = self.top_keys()[head][0][1]
                found = self._locate_in_chunk(span[0], span[1], line - 1, path, target)
                if found:
                    return found
        found = self._locate_whole(path, target)
        if found:
            return found
        # Last resort: the enclosing group item, or the top-level key.
        if head == "groups" and len(path) >= 2 and isinstance(path[1], int) and n_groups:
            item = self.item_location(path[1], n_groups)
            if item:
                return item
        top = self.top_keys().get(str(head))
        return (top[0][1], 1) if top else (1, 1)

    def _value_after_key(self, offset: int, line: int) -> tuple[int, int]:
        nl = self.text.find("\n", offset)
        nl = len(self.text) if nl < 0 else nl
        rest = self.text[offset:nl]
        first_line = line
        colon = _key_end(rest, 0)
        if colon is not None:
            after = rest[colon + 1 :]
            stripped = after.lstrip(" \t")
            if stripped and not stripped.startswith("#"):
                return line, colon + 2 + len(after) - len(stripped)
        # A block value: its first content line.
        pos = nl + 1
        while pos < len(self.text):
            line += 1
            end = self.text.find("\n", pos)
            end = len(self.text) if end < 0 else end
            row = self.text[pos:end]
            if _is_content(row):
                if _indent(row) or row.startswith("-"):
                    return line, _indent(row) + 1
                break  # the next top-level key: the value is empty

            pos = end + 1
        return first_line, 1

    def _locate_in_item(
        self, index: int, rest: tuple[Any, ...], target: str, n_groups: int
    ) -> tuple[int, int] | None:
        items = self.group_items()
        if items is None or len(items) != n_groups or index >= len(items):
            return None
        start, line = items[index]
        end = items[index + 1][0] if index + 1 < len(items) else self._items_end
        return self._locate_in_chunk(start, end, line - 1, (0, *rest), target)

    def _locate_in_chunk(
        self, start: int, end: int, first_row: int, path: tuple[Any, ...], target: str
    ) -> tuple[int, int] | None:
        cached = self._lines_cache.get(start)
        if cached is None:
            lines = self.text[start:end].split("\n")
            cached = self._lines_cache[start] = (lines, _layout(lines))
        found = resolve_block(cached[0], path, target, cached[1])
        if found is None:
            node = self._chunk_cache.get(start)
            if node is None:
                node = _compose(self.text[start:end])
                self._chunk_cache[start] = node
            found = resolve_nodes(node, path, target) if node is not None else None
        if found is None:
            return None
        return found[0] + first_row + 1, found[1] + 1

    def _locate_whole(self, path: tuple[Any, ...], target: str) -> tuple[int, int] | None:
        if not self._whole_done:
            self._whole_done = True
            # ruamel.yaml needs about a second per megabyte: only for files of ordinary size.
            if len(self.text) <= WHOLE_COMPOSE_MAX:
                self._whole = _compose(self.text)
        if self._whole is None:
            return None
        found = resolve_nodes(self._whole, path, target)
        return (found[0] + 1, found[1] + 1) if found else None


def _content_position(text: str, offset: int, line: int) -> tuple[int, int]:
    """Where the content of the sequence item at ``offset`` (its "-") starts."""
    nl = text.find("\n", offset)
    nl = len(text) if nl < 0 else nl
    row = text[offset:nl]
    after = row[row.index("-") + 1 :]
    stripped = after.lstrip(" \t")
    if stripped and not stripped.startswith("#"):
        return line, len(row) - len(stripped) + 1
    # "-" alone: the content starts on the next non-blank line.
    pos, line = nl + 1, line + 1
    while pos < len(text):
        nxt = text.find("\n", pos)
        nxt = len(text) if nxt < 0 else nxt
        row = text[pos:nxt]
        if row.strip() and not row.lstrip().startswith("#"):
            return line, len(row) - len(row.lstrip(" ")) + 1
        pos, line = nxt + 1, line + 1
    return line, 1


def _unquote(key: str) -> str:
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "'\"":
        return key[1:-1]
    return key


def _key_end(row: str, col: int) -> int | None:
    """Index of the ':' that ends a mapping key starting at ``col`` of ``row``, or None."""
    if col >= len(row):
        return None
    if row[col] in "'\"":
        close = row.find(row[col], col + 1)
        if close < 0:
            return None
        rest = row[close + 1 :]
        stripped = rest.lstrip(" \t")
        if stripped.startswith(":") and (len(stripped) == 1 or stripped[1] in " \t\r"):
            return close + 1 + len(rest) - len(stripped)
        return None
    if row[col] in "[{":
        return None
    i = col
    while True:
        i = row.find(":", i)
        if i < 0:
            return None
        if i + 1 == len(row) or row[i + 1] in " \t\r":
            return i
        i += 1


def _is_content(row: str) -> bool:
    stripped = row.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(row: str) -> int:
    return len(row) - len(row.lstrip(" "))


Layout = tuple[list[int], list[bool], list[bool]]


def _layout(lines: list[str]) -> Layout:
    """Per row: indentation, whether it holds content (not blank, not a comment), and whether
    that content starts with a sequence entry ("- ")."""
    indents = [len(row) - len(row.lstrip(" ")) for row in lines]
    content = [bool(t) and t[0] != "#" for t in (row.strip() for row in lines)]
    dashes = [_dash_at(row, indent) for row, indent in zip(lines, indents, strict=True)]
    return indents, content, dashes


def _dash_at(row: str, col: int) -> bool:
    """Whether ``row`` holds a sequence entry indicator ("-" then space or end) at ``col``."""
    return row[col : col + 1] == "-" and row[col + 1 : col + 2] in ("", " ", "\t", "\r")


def resolve_block(
    lines: list[str],
    path: tuple[Any, ...],
    target: str,
    layout: Layout | None = None,
) -> tuple[int, int] | None:
    """0-based (row, col) of ``path`` in block-style YAML ``lines``, or None when the layout is not
    plain block style (then a real parser must answer). ``target``: "value" or "key"."""
    lines = list(lines)
    indents, content, dashes = layout if layout is not None else _layout(lines)
    indents, dashes = list(indents), list(dashes)
    start = next((r for r, has in enumerate(content) if has), None)
    if start is None:
        return None
    node = _Node(start, indents[start], len(lines))
    if not path:
        return node.row, node.col
    for depth, step in enumerate(path):
        last = depth == len(path) - 1
        if node.inline:
            # Inside an alias (`- *g`): the data is the anchor's, but this use is here.
            return (node.row, node.col) if lines[node.row][node.col : node.col + 1] == "*" else None
        col = node.col
        if _dash_at(lines[node.row], col):
            if not isinstance(step, int):
                return None
            items = [r for r in range(node.row, node.end) if dashes[r] and indents[r] == col]
            if step >= len(items):
                return None
            r = items[step]
            end = items[step + 1] if step + 1 < len(items) else node.end
            after = lines[r][col + 1 :]
            stripped = after.lstrip(" \t")
            if stripped and not stripped.startswith("#"):
                c = len(lines[r]) - len(stripped)
                if stripped[0] in "[{|>&*!" or _key_end(lines[r], c) is None:
                    node = _Node(r, c, end, inline=True)
                else:
                    lines[r] = " " * c + lines[r][c:]  # the item's mapping starts on the dash line
                    indents[r], dashes[r] = c, _dash_at(lines[r], c)
                    node = _Node(r, c, end)
            else:
                nxt = next((x for x in range(r + 1, end) if content[x]), None)
                if nxt is None:
                    return None
                node = _Node(nxt, indents[nxt], end)
            if last:
                return node.row, node.col
            continue
        # A mapping: find the key among rows at this indentation.
        key_row = colon = None
        for r in range(node.row, node.end):
            if indents[r] != col or not content[r]:
                continue
            colon = _key_end(lines[r], col)
            if colon is not None and _key_is(lines[r][col:colon], step):
                key_row = r
                break
        if key_row is None or colon is None:
            return None
        if last and target == "key":
            return key_row, col
        after = lines[key_row][colon + 1 :]
        stripped = after.lstrip(" \t")
        end = next(
            (
                r
                for r in range(key_row + 1, node.end)
                if content[r] and (indents[r] < col or (indents[r] == col and not dashes[r]))
            ),
            node.end,
        )
        if stripped and not stripped.startswith("#"):
            node = _Node(key_row, colon + 1 + len(after) - len(stripped), end, inline=True)
        else:
            nxt = next((x for x in range(key_row + 1, end) if content[x]), None)
            if nxt is None:
                # An empty value (null): point at the key.
                return (key_row, col) if last else None
            node = _Node(nxt, indents[nxt], end)
        if last:
            return node.row, node.col
    return None


def resolve_nodes(root: Any, path: tuple[Any, ...], target: str) -> tuple[int, int] | None:
    """0-based (line, col) of ``path`` in a ruamel node tree."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    node = root
    for depth, step in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, SequenceNode) and isinstance(step, int):
            if step >= len(node.value):
                return None
            node = node.value[step]
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if _key_is(str(getattr(key_node, "value", None)), step):
                    if last and target == "key":
                        mark = key_node.start_mark
                        return mark.line, mark.column
                    node = value_node
                    break
            else:
                return None
        else:
            return None
    mark = node.start_mark
    return mark.line, mark.column
