"""The way into a team's pipeline: the GitHub Action, the CI examples and the pre-commit hook
pass their platforms' own schemas and work as written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "examples" / "ci"
BIN = Path(sys.executable).parent


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess:
    # The schemas vendored inside check-jsonschema: no network.
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ("vendor.github-actions", ROOT / "action.yml"),
        ("vendor.github-workflows", CI / "github-actions.yml"),
        ("vendor.github-workflows", CI / "release.yml"),
        ("vendor.gitlab-ci", CI / "gitlab-ci.yml"),
    ],
)
def test_ci_files_pass_their_platform_schema(schema, path):
    done = check_jsonschema(schema, path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    # The bug this suite guards against: `run: { ... }` is a mapping, which GitHub rejects.
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: { echo hi; exit 1; }\n"
    )
    assert check_jsonschema("vendor.github-workflows", broken).returncode != 0


def _yaml(path: Path):
    return YAML(typ="safe").load(path.read_text())


def test_pipelines_install_from_the_project_not_a_package_index():
    for path in (CI / "github-actions.yml", CI / "gitlab-ci.yml"):
        assert "pip install tim-reconciler" not in path.read_text(), path
    workflow = _yaml(CI / "github-actions.yml")
    uses = [s.get("uses", "") for job in workflow["jobs"].values() for s in job["steps"]]
    assert sum("/tim-reconciler@" in u for u in uses) == 3
    gitlab = _yaml(CI / "gitlab-ci.yml")
    assert gitlab["variables"]["RECONCILER"].startswith("git+https://")
    assert "@v" in gitlab["variables"]["RECONCILER"]


def test_gitlab_plan_keeps_a_refused_plan_and_tolerates_changes():
    plan = _yaml(CI / "gitlab-ci.yml")["plan"]
    script = "\n".join(plan["script"])
    # Exit 2 is only ever returned with --detailed-exitcode.
    assert "--detailed-exitcode" in script and "-eq 2" in script
    # The refusal's details are uploaded even though the job fails.
    assert plan["artifacts"]["when"] == "always"
    assert "plan.md" in plan["artifacts"]["paths"]


def test_gitlab_plan_script_exit_codes(tmp_path):
    """Run the plan job's script lines (as GitLab does, in one shell with errexit) with a fake
    `reconciler` returning each exit code."""
    script = _yaml(CI / "gitlab-ci.yml")["plan"]["script"]
    for code, job_ok in ((0, True), (2, True), (1, False), (3, False)):
        fake = tmp_path / "bin"
        fake.mkdir(exist_ok=True)
        (fake / "reconciler").write_text(f"#!/bin/sh\necho '## plan {code}'\nexit {code}\n")
        (fake / "reconciler").chmod(0o755)
        env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "TIM_SECRET_KEY": "k"}
        env["CONFIG"] = "groups/"
        done = subprocess.run(
            ["bash", "-e", "-c", "\n".join(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert (done.returncode == 0) is job_ok, (code, done.stdout, done.stderr)
        assert f"## plan {code}" in done.stdout  # the plan is shown whatever the outcome


def test_plans_are_cancelled_per_pull_request_and_applies_queue_per_app():
    """Issue 27: a plan per pull request and environment, a newer push cancelling the older;
    applies one at a time per app, none cancelled by another's arrival (GitHub's default queue
    keeps one pending run and cancels it: `queue: max`). No workflow-level group, which would
    put every pull request's events, applies included, in one queue."""
    workflow = _yaml(CI / "github-actions.yml")
    assert "concurrency" not in workflow
    plan, apply = workflow["jobs"]["plan"]["concurrency"], workflow["jobs"]["apply"]["concurrency"]
    assert (
        "github.event.pull_request.number" in plan["group"]
        and "matrix.environment" in plan["group"]
    )
    assert plan["cancel-in-progress"] is True
    assert apply["group"] == "chat-groups-apply-${{ matrix.environment }}"
    assert apply["cancel-in-progress"] is False and apply["queue"] == "max"
    gitlab = _yaml(CI / "gitlab-ci.yml")
    assert gitlab["apply"]["resource_group"] and "interruptible" not in gitlab["apply"]


def test_action_inputs_and_outputs():
    action = _yaml(ROOT / "action.yml")
    assert action["runs"]["using"] == "composite"
    assert {"command", "config", "values", "plan-file"} <= set(action["inputs"])
    outputs = set(action["outputs"])
    assert {"exitcode", "groups-create", "members-add", "members-remove", "api-calls"} <= outputs
    install = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    assert 'pip" install -q "$GITHUB_ACTION_PATH"' in install


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git_repo(path: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "groups"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)


@needs_git
def test_pre_commit_hook_through_try_repo(tmp_path):
    """The hook with its defaults, on a repository whose config lives in a folder (and which
    holds other YAML), as `pre-commit try-repo` installs and runs it."""
    repo = tmp_path / "team"
    (repo / "groups").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "community" / "community.yaml", repo / "groups")
    (repo / "docker-compose.yml").write_text("services: {}\n")
    _git_repo(repo)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}

    def try_repo() -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "pre-commit"), "try-repo", str(ROOT), "reconciler-validate"]
            + ["--all-files", "--verbose"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    done = try_repo()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK (groups): 3 group(s)" in done.stdout

    config = repo / "groups" / "community.yaml"
    config.write_text(config.read_text().replace("type: Community", "type: Comunity", 1))
    done = try_repo()
    assert done.returncode != 0
    assert "community.yaml:" in done.stdout and "Comunity" in done.stdout


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _action_step(script: str, cwd: Path, tmp: Path, **inputs: str) -> dict[str, str]:
    """One of the action's steps as the runner runs it (inputs as environment variables)."""
    out = tmp / f"outputs-{len(list(tmp.glob('outputs-*')))}"
    out.touch()
    env = {k: v for k, v in os.environ.items() if k != "TIM_SECRET_KEY"}
    env |= {"PATH": f"{BIN}:{env['PATH']}", "GITHUB_OUTPUT": str(out), "RUNNER_TEMP": str(tmp)}
    env |= {"NO_COLOR": "1", "GITHUB_ACTION_PATH": str(ROOT), **inputs}
    done = subprocess.run(
        ["bash", str(ROOT / "action" / script)], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return _outputs(out)


def test_the_action_plans_then_applies_the_saved_plan(tmp_path):
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "community", work / "groups")
    inputs = {"INPUT_CONFIG": "groups", "INPUT_VALUES": "", "INPUT_PLAN_FILE": "plan.json"}
    planned = _action_step("run.sh", work, tmp_path, INPUT_COMMAND="plan", **inputs)
    assert planned["exitcode"] == "2"  # changes present
    assert planned["groups-create"] == "3" and planned["has-changes"] == "true"
    markdown = Path(planned["markdown-file"]).read_text()
    assert markdown.startswith("## tim-reconciler plan")
    applied = _action_step("run.sh", work, tmp_path, INPUT_COMMAND="apply", **inputs)
    assert applied["exitcode"] == "0"
    again = _action_step("run.sh", work, tmp_path, INPUT_COMMAND="plan", **inputs)
    assert again["exitcode"] == "0" and again["has-changes"] == "false"


def test_the_action_comments_once_and_then_updates_its_comment(tmp_path):
    """comment.sh against a fake `gh` that keeps the pull request's comments in a file."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "gh").write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        "store = os.environ['FAKE_COMMENTS']\n"
        "comments = json.load(open(store)) if os.path.exists(store) else []\n"
        "args = sys.argv[1:]\n"
        "if '--method' not in args:\n"
        "    marker = os.environ['MARKER']\n"
        "    print('\\n'.join(str(c['id']) for c in comments if c['body'].startswith(marker)))\n"
        "    sys.exit(0)\n"
        "body = open(args[args.index('-F') + 1].split('@', 1)[1]).read()\n"
        "if args[args.index('--method') + 1] == 'POST':\n"
        "    comments.append({'id': len(comments) + 7, 'body': body})\n"
        "else:\n"
        "    cid = int(args[args.index('--method') + 2].rsplit('/', 1)[1])\n"
        "    next(c for c in comments if c['id'] == cid)['body'] = body\n"
        "json.dump(comments, open(store, 'w'))\n"
    )
    (fake / "gh").chmod(0o755)
    store = tmp_path / "comments.json"
    markdown = tmp_path / "plan.md"
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "FAKE_COMMENTS": str(store)}
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 5}}')
    env |= {"GITHUB_REPOSITORY": "team/groups", "GITHUB_EVENT_PATH": str(event)}
    env |= {"MARKDOWN": str(markdown)}
    env |= {"CONFIG": "groups/", "APP": "1400000000", "VALUES": "v/prod.yaml\n"}
    for text in ("## first plan", "## second plan"):
        markdown.write_text(text + "\n")
        done = subprocess.run(
            ["bash", str(ROOT / "action" / "comment.sh")], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    comments = __import__("json").loads(store.read_text())
    assert len(comments) == 1
    marker = "<!-- tim-reconciler plan: app=1400000000 config=groups/ values=v/prod.yaml args= -->"
    assert comments[0]["body"] == f"{marker}\n## second plan\n"
