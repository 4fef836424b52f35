"""A release a team can pin: the version comes from the git tag (setuptools-scm), and the sdist
and wheel build, pass `twine check`, and install into a fresh venv whose `reconciler` runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

import reconciler
import reconciler.config.version as version_module
from reconciler.config.version import refusal

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GIT = shutil.which("git")
needs_git = pytest.mark.skipif(
    GIT is None or not (ROOT / ".git").exists(), reason="no git, or not a git checkout"
)


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "release test",
        "GIT_AUTHOR_EMAIL": "release@test.invalid",
        "GIT_COMMITTER_NAME": "release test",
        "GIT_COMMITTER_EMAIL": "release@test.invalid",
    }
    done = subprocess.run(
        [GIT, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def clone(tmp_path) -> Path:
    """A clone of this repository whose last commit carries the working tree's pyproject.toml,
    so the version configuration under test is the one being edited, and the tree is clean."""
    repo = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", "--no-local", str(ROOT), str(repo))
    for tag in git(repo, "tag", "--list").split():
        git(repo, "tag", "--delete", tag)
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    git(repo, "commit", "--quiet", "--allow-empty", "-am", "the pyproject.toml under test")
    return repo


def scm_version(repo: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "setuptools_scm"], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@needs_git
def test_a_tag_is_the_version_and_a_commit_after_it_is_named(clone):
    head = git(clone, "rev-parse", "--short=7", "HEAD")
    untagged = scm_version(clone)
    assert re.fullmatch(rf"\d+\.\d+\.\d+\.dev\d+\+g{head}\w*", untagged), untagged

    git(clone, "tag", "v9.8.7")
    assert scm_version(clone) == "9.8.7"

    git(clone, "commit", "--quiet", "--allow-empty", "-m", "after the release")
    head = git(clone, "rev-parse", "--short=7", "HEAD")
    after = scm_version(clone)
    assert re.fullmatch(rf"9\.8\.8\.dev1\+g{head}\w*", after), after


def test_the_running_version_is_the_built_one_and_needs_no_git():
    # reconciler/_version.py is written when the package is built or installed; importing the
    # package reads it and never loads setuptools-scm (nor calls git).
    code = (
        "import sys, reconciler, reconciler._version as v;"
        "assert reconciler.__version__ == v.__version__;"
        "assert not any(m.startswith(('setuptools_scm', 'vcs_versioning')) for m in sys.modules);"
        "print(reconciler.__version__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert (ROOT / ".gitignore").read_text().splitlines().count("reconciler/_version.py") == 1


# --- app.required_version -----------------------------------------------------------------------

GROUP = {"id": "g1", "type": "Work", "name": "One", "members": ["alice"]}


def test_a_tool_outside_required_version_refuses_the_config_before_any_call(ws):
    path = ws.write([GROUP], app={**ws.app, "required_version": ">=99, <100"})
    line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if "required_" in t)
    for command in (["validate", "."], ["plan", "."], ["apply", ".", "--auto-approve"]):
        run = ws.cli(*command)
        assert run.code == 1, run
        assert f"{path.name}:{line}:" in run.err, run
        assert ">=99, <100" in run.err and f"reconciler {reconciler.__version__}" in run.err, run
        # Refused before anything else: no other issue, and the app was never reached (the
        # embedded emulator makes its file on the first call).
        assert "error(s)" in run.err and "1 error(s)" in run.err, run
        assert not ws.db.exists(), run
    # Other issues of the config are not reported: they may mean something else to 99.x.
    ws.write([{**GROUP, "frobnicate": 1}], app={**ws.app, "required_version": ">=99"})
    run = ws.cli("validate", ".")
    assert run.code == 1 and "frobnicate" not in run.err and "1 error(s)" in run.err, run


def test_a_tool_inside_required_version_proceeds(ws):
    running = Version(reconciler.__version__).public  # a range names no local part (+g...)
    ws.write([GROUP], app={**ws.app, "required_version": f">={running}"})
    assert ws.cli("validate", ".").code == 0
    ws.converge()


def test_development_builds_count_as_just_below_their_release():
    assert refusal(">=0.1", "0.2.0.dev3+g1a2b3c4") is None
    assert refusal(">=0.2", "0.2.0.dev3+g1a2b3c4") is not None
    assert refusal("~=0.2.0", "0.2.1") is None


@pytest.mark.parametrize("text", ["banana", ">=", "0.2", ""])
def test_an_unwritable_range_is_a_located_config_issue(ws, text):
    path = ws.write([GROUP], app={**ws.app, "required_version": text})
    run = ws.cli("validate", ".")
    assert run.code == 1, run
    assert f"{path.name}:" in run.err and "required_version" in run.err, run


def test_a_saved_plan_carries_required_version_and_apply_refuses_it(ws, monkeypatch):
    required = f"=={Version(reconciler.__version__).base_version}.*"
    ws.write([GROUP], app={**ws.app, "required_version": required})
    assert ws.plan("--out", "plan.json").code == 0
    monkeypatch.setattr(version_module, "__version__", "99.0.0")
    for command in (["apply", "--plan", "plan.json", "--auto-approve"], ["show", "plan.json"]):
        run = ws.cli(*command)
        assert run.code == 1, run
        assert "plan.json:" in run.err and "reconciler 99.0.0" in run.err, run
        assert required in run.err, run
    assert ws.dump()["groups"] == {}
    monkeypatch.undo()
    monkeypatch.delenv("TIM_SECRET_KEY", raising=False)
    assert ws.cli("apply", "--plan", "plan.json", "--auto-approve").code == 0
