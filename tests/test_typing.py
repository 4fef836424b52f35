"""mypy over reconciler/, with the config in pyproject.toml: no error at all (issue 26).

The count went down to 0 while issue 26 was worked on; from here a change that adds a type error
fails here. A ``# type: ignore[code]`` is for a library's wrong stubs or pydantic's dynamic
``create_model`` only, with its reason beside it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_error() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and "Success" in run.stdout, run.stdout[-6000:] + run.stderr[-3000:]
