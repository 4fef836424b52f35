"""The package's structure stays as written down: the import-linter contracts in pyproject.toml,
and the vendor's wire format only in ``reconciler/tim/`` (and the emulator, the server side)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "reconciler"


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


def test_wire_field_names_and_commands_live_only_in_tim_and_the_emulator() -> None:
    wire = re.compile(r'"(import_group_member|GroupId|Member_Account|MemberList|Result)"')
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        if not path.is_relative_to(PACKAGE / "tim")
        and not path.is_relative_to(PACKAGE / "emulator")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if wire.search(line)
    ]
    assert found == []


def test_no_module_reaches_into_another_modules_private_names() -> None:
    private_import = re.compile(r"from reconciler[\w.]* import .*\b_[a-z]\w*")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in [*PACKAGE.rglob("*.py"), *(ROOT / "tests").glob("*.py")]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private_import.search(line)
    ]
    assert found == []
