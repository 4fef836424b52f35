"""The package's structure stays as written down: the import-linter contracts in pyproject.toml,
and the vendor's wire format only in ``reconciler/tim/`` (and the emulator, the server side)."""

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

from reconciler import state
from reconciler.emulator import api
from reconciler.tim import wire

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "reconciler"
WIRE = PACKAGE / "tim" / "wire"


def test_the_layering_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "0 broken" in run.stdout


def _strings(path: Path) -> set[str]:
    """The string constants of a module (docstrings and comments aside: what code names)."""
    tree = ast.parse(path.read_text())
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


# A wire field name is spelled as the API spells it: CamelCase, or parts joined by "_"
# (Member_Account). The values the state model shares with the wire (roles, message flags,
# group types) are the domain's own words, not field names.
FIELD_NAME = re.compile(r"^[A-Z][a-z]+(?:[A-Z][a-z]*|_[A-Z][A-Za-z]*)*$")
DOMAIN_VALUES = {
    *get_args(state.Role),
    *get_args(state.MsgFlag),
    *get_args(state.ApplyJoin),
    *get_args(state.InviteJoin),
    *state.TYPE_ALIASES,
}


def wire_names() -> set[str]:
    """Every command the client calls and every field name its wire modules read or write."""
    fields = {
        name
        for path in WIRE.glob("*.py")
        for name in _strings(path)
        if FIELD_NAME.match(name) and name not in DOMAIN_VALUES
    }
    return fields | set(wire.APIS)


def test_wire_field_names_and_commands_live_only_in_tim_and_the_emulator() -> None:
    names = wire_names()
    assert {"GroupId", "Member_Account", "TopicPermissionList", "forbid_send_msg"} <= names
    assert len(wire.APIS) >= 37
    found = [
        f"{path.relative_to(ROOT)}: {sorted(hits)}"
        for path in PACKAGE.rglob("*.py")
        if not path.is_relative_to(PACKAGE / "tim")
        and not path.is_relative_to(PACKAGE / "emulator")
        # limits are keyed by command, as the config's app.limits is: a lookup names one
        for hits in [_strings(path) & names - _limit_keys(path)]
        if hits
    ]
    assert found == []


def _limit_keys(path: Path) -> set[str]:
    """The commands a module names only as the key of a limits lookup (batch_of, rate_of)."""
    tree = ast.parse(path.read_text())
    return {
        arg.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("batch_of", "rate_of")
        for arg in node.args
        if isinstance(arg, ast.Constant) and arg.value in wire.APIS
    }


def _commands(source: str, known: set[str]) -> set[str]:
    return {s for s in _strings(Path(source)) if s in known}


def test_every_command_has_one_home_on_each_side_of_the_wire() -> None:
    """Each command is in exactly one wire module and in the emulator module of the same
    family name; each module states the commands it calls or serves, and names no other."""
    served = {command for _, command in api.HANDLERS}
    known = set(wire.APIS) | served
    homes: dict[str, list[str]] = {}
    for family in wire.FAMILIES:
        name = family.__name__.rsplit(".", 1)[-1]
        named = _commands(family.__file__, known)
        assert named == set(family.COMMANDS), name
        emulated = next(f for f in api.FAMILIES if f.__name__.endswith(f".{name}"))
        assert set(family.COMMANDS) <= set(emulated.HANDLERS), name
        assert family.SERVICE == emulated.SERVICE, name
        for command in family.COMMANDS:
            homes.setdefault(command, []).append(name)
    assert {c: h for c, h in homes.items() if len(h) != 1} == {}
    # A family the client has no module of is named as such (the message APIs, refused as out
    # of scope); a command only the emulator serves lives in its family's module.
    names = {f.__name__.rsplit(".", 1)[-1] for f in wire.FAMILIES}
    unpaired = [f for f in api.FAMILIES if f.__name__.rsplit(".", 1)[-1] not in names]
    assert unpaired == list(api.EMULATOR_ONLY)
    served_in: dict[str, list[str]] = {}
    for family in api.FAMILIES:
        for command in family.HANDLERS:
            served_in.setdefault(command, []).append(family.__name__)
    assert {c: h for c, h in served_in.items() if len(h) != 1} == {}
    for family in api.FAMILIES:  # an emulator module names only the commands it serves
        assert _commands(family.__file__, known) <= set(family.HANDLERS), family.__name__


def test_no_module_reaches_into_another_modules_private_names() -> None:
    private_import = re.compile(r"from reconciler[\w.]* import .*\b_[a-z]\w*")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in [*PACKAGE.rglob("*.py"), *(ROOT / "tests").glob("*.py")]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private_import.search(line)
    ]
    assert found == []
