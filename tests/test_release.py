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
