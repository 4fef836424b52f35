"""Whole pull-request lifecycles through the action's own scripts (action/run.sh and
action/comment.sh), in the environment GitHub gives them (GITHUB_OUTPUT, GITHUB_EVENT_PATH,
RUNNER_TEMP), with a recording stand-in for `gh`, against an emulator server: plan and comment
on each push, apply the reviewed plan on merge (issue 27).

A repository here is a directory: `main`, and a pull request is a copy of it with an edit. The
config is one template over two values files per environment (common.yaml: the groups;
staging.yaml or production.yaml: the app and a prefix), so both environments of one app are
planned and commented separately.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Server, dump_yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENVS = ("staging", "production")
PREFIX = {"staging": "stg-", "production": "prd-"}

TEMPLATE = """\
app: {{ app | tojson }}
groups:
{% for id, g in groups.items() %}
  - id: {{ prefix }}{{ id }}
    type: Public
{% if g.absent is defined %}
    state: absent
{% else %}
    name: {{ g.name | tojson }}
    owner: boss
    members: {{ (["boss"] + g.members) | tojson }}
{% endif %}
{% endfor %}
"""

# The stand-in for `gh api`: comments kept per pull request in a JSON file; every call logged.
GH = r"""#!/usr/bin/env python3
import json, os, sys
store = os.environ["FAKE_GH"]
state = json.load(open(store)) if os.path.exists(store) else {"calls": [], "comments": []}
args = sys.argv[1:]
state["calls"].append(args)
path = next(a for a in args if a.startswith("repos/"))
if "--method" not in args:  # list a pull request's comments (what --jq selects: ours)
    pr = int(path.split("/")[4])
    marker = os.environ["MARKER"]
    for c in state["comments"]:
        if c["pr"] == pr and c["body"].startswith(marker):
            print(c["id"])
else:
    body = open(args[args.index("-F") + 1].split("@", 1)[1]).read()
    if args[args.index("--method") + 1] == "POST":
        pr = int(path.split("/")[4])
        state["comments"].append({"id": 100 + len(state["comments"]), "pr": pr, "body": body})
    else:
        cid = int(path.rsplit("/", 1)[1])
        next(c for c in state["comments"] if c["id"] == cid)["body"] = body
json.dump(state, open(store, "w"))
"""


class Repo:
    """The team's repository and CI, as GitHub runs the example workflow with the action."""

    def __init__(self, tmp: Path, server: Server) -> None:
        self.tmp, self.server = tmp, server
        self.main = tmp / "main"
        self.groups: dict[str, dict[str, Any]] = {
            "a": {"name": "A", "members": ["u1"]},
            "b": {"name": "B", "members": ["u2"]},
            "c": {"name": "C", "members": ["u3"]},
        }
        self.write(self.main, self.groups)
        self.artifacts: dict[tuple[int, str], Path] = {}
        self.fake = tmp / "bin"
        self.fake.mkdir()
        (self.fake / "gh").write_text(GH)
        (self.fake / "gh").chmod(0o755)
        self.gh_state = tmp / "gh.json"
        self.jobs = 0

    def write(self, repo: Path, groups: dict[str, dict[str, Any]]) -> None:
        (repo / "groups" / "values").mkdir(parents=True, exist_ok=True)
        (repo / "groups" / "groups.yaml.j2").write_text(TEMPLATE)
        values = repo / "groups" / "values"
        (values / "common.yaml").write_text(dump_yaml({"groups": groups}))
        for env in ENVS:
            app = {"sdkappid": 1400000000, "endpoint": self.server.url}
            app["create_missing_accounts"] = True
            (values / f"{env}.yaml").write_text(dump_yaml({"app": app, "prefix": PREFIX[env]}))

    # --- the action, step by step as action.yml runs it -------------------------------------

    def action(self, repo: Path, pr: int, event: str, env: str, **inputs: str) -> dict[str, Any]:
        """One job's use of the action; the outputs, and whether the job succeeded."""
        self.jobs += 1
        job = self.tmp / f"job-{self.jobs}"
        job.mkdir()
        event_path = job / "event.json"
        merged = event == "closed"
        number = {"number": pr, "merged": merged}
        event_path.write_text(json.dumps({"action": event, "pull_request": number}))
        values = f"groups/values/common.yaml groups/values/{env}.yaml"
        base = {k: v for k, v in os.environ.items() if k != "TIM_SECRET_KEY"}
        base |= {"PATH": f"{self.fake}:{BIN}:{base['PATH']}", "NO_COLOR": "1"}
        base |= {"RUNNER_TEMP": str(job), "GITHUB_EVENT_PATH": str(event_path)}
        base |= {"GITHUB_REPOSITORY": "team/groups", "GITHUB_ACTION_PATH": str(ROOT)}
        base |= {"TIM_SECRET_KEY": self.server.key, "FAKE_GH": str(self.gh_state)}
        outputs = job / "outputs"
        outputs.touch()
        command = inputs.pop("command")
        step = base | {"GITHUB_OUTPUT": str(outputs), "INPUT_COMMAND": command}
        step |= {"INPUT_CONFIG": "groups/", "INPUT_VALUES": values, "INPUT_ARGS": ""}
        step |= {"INPUT_PLAN_FILE": "plan.json", "INPUT_ALLOW_DESTROY": "false"}
        step |= {f"INPUT_{k.upper()}": v for k, v in inputs.items()}
        run = subprocess.run(
            ["bash", str(ROOT / "action" / "run.sh")],
            cwd=repo,
            env=step,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        out = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
        out["log"] = run.stdout + run.stderr
        if out.get("markdown-file"):  # the comment step
            mode = "new" if command == "apply" else "update"
            comment = base | {"MARKDOWN": out["markdown-file"], "MODE": mode, "APP": out["app"]}
            comment |= {"CONFIG": "groups/", "VALUES": values, "ARGS": "", "GH_TOKEN": "t"}
            done = subprocess.run(
                ["bash", str(ROOT / "action" / "comment.sh")],
                cwd=repo,
                env=comment,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        code = int(out["exitcode"])
        out["ok"] = code == 0 or code == 2  # the action's last step (fail-on-changes: false)
        return out

    # --- the workflow -----------------------------------------------------------------------

    def open_pr(self, pr: int, edit) -> Path:
        """A pull request from main as it is now: the edit, planned for both environments
        (the plan job, on every push), each plan kept as the run's artifact."""
        repo = self.tmp / f"pr-{pr}"
        shutil.rmtree(repo, ignore_errors=True)
        shutil.copytree(self.main, repo)
        groups = copy.deepcopy(self.groups)
        edit(groups)
        self.write(repo, groups)
        for env in ENVS:
            out = self.action(repo, pr, "synchronize", env, command="plan")
            assert out["ok"] and out["has-changes"] == "true", out["log"]
            artifact = self.tmp / f"plan-{pr}-{env}.json"
            shutil.copy(repo / "plan.json", artifact)
            self.artifacts[pr, env] = artifact
        return repo

    def merge(self, pr: int, edit, **inputs: str) -> dict[str, dict[str, Any]]:
        """Merge the pull request's edit into main as it is now (git's merge of values that
        touch other groups), then the apply job: the reviewed plan of each environment."""
        edit(self.groups)
        self.write(self.main, self.groups)
        results = {}
        for env in ENVS:
            shutil.copy(self.artifacts[pr, env], self.main / "plan.json")
            results[env] = self.action(self.main, pr, "closed", env, command="apply", **inputs)
        return results

    def comments(self, pr: int) -> list[str]:
        state = json.loads(self.gh_state.read_text())
        return [c["body"] for c in state["comments"] if c["pr"] == pr]

    def assert_live_matches_main(self) -> None:
        """The live app is what main declares: a plan of each environment has nothing to do."""
        for env in ENVS:
            values = [
                "--values",
                "groups/values/common.yaml",
                "--values",
                f"groups/values/{env}.yaml",
            ]
            run = subprocess.run(
                [str(BIN / "reconciler"), "plan", "groups/", *values, "--detailed-exitcode"],
                cwd=self.main,
                env={**os.environ, "TIM_SECRET_KEY": self.server.key, "NO_COLOR": "1"},
                capture_output=True,
                text=True,
            )
            assert run.returncode == 0, run.stdout + run.stderr

    def live(self, gid: str) -> dict[str, Any] | None:
        return self.server.dump()["groups"].get(gid)


def rename(gid: str, name: str):
    def edit(groups):
        groups[gid]["name"] = name

    return edit


def add_member(gid: str, account: str):
    def edit(groups):
        groups[gid]["members"].append(account)

    return edit


@pytest.fixture
def repo(tmp_path: Path, server: Server) -> Repo:
    repo = Repo(tmp_path, server)
    for env in ENVS:  # the first apply, without a plan file
        out = repo.action(repo.main, 0, "closed", env, command="apply", plan_file="")
        assert out["exitcode"] == "0", out["log"]
    repo.assert_live_matches_main()
    return repo


def test_each_environment_has_its_own_comment_updated_on_every_push(repo: Repo) -> None:
    repo.open_pr(1, rename("a", "A one"))
    repo.open_pr(1, rename("a", "A two"))  # a second push to the same pull request
    comments = repo.comments(1)
    assert len(comments) == 2
    markers = sorted(c.splitlines()[0] for c in comments)
    assert "values=groups/values/common.yaml groups/values/production.yaml" in markers[0]
    assert "values=groups/values/common.yaml groups/values/staging.yaml" in markers[1]
    assert all("app=1400000000" in m for m in markers)
    assert all('"A two"' in c and '"A one"' not in c for c in comments)
    assert any("prd-a" in c for c in comments) and any("stg-a" in c for c in comments)


@pytest.mark.parametrize("order", [(2, 3), (3, 2)])
def test_pull_requests_touching_other_groups_apply_in_either_order(
    repo: Repo, order: tuple[int, int]
) -> None:
    edits = {2: rename("b", "B two"), 3: add_member("c", "u9")}
    for pr in (2, 3):
        repo.open_pr(pr, edits[pr])  # both planned before either is merged
    for pr in order:
        results = repo.merge(pr, edits[pr])
        for env, out in results.items():
            assert out["ok"] and out.get("stale") is None, (env, out["log"])
        repo.assert_live_matches_main()
    assert repo.live("prd-b")["Name"] == "B two" and repo.live("stg-b")["Name"] == "B two"
    members = {m["Member_Account"] for m in repo.live("prd-c")["MemberList"]}
    assert members == {"boss", "u3", "u9"}


def test_the_second_pull_request_on_the_same_group_is_refused_replanned_and_commented(
    repo: Repo,
) -> None:
    first, second = rename("c", "C first"), add_member("c", "u8")
    repo.open_pr(4, first)
    repo.open_pr(5, second)
    assert all(out["ok"] for out in repo.merge(4, first).values())
    repo.assert_live_matches_main()
    before = repo.server.dump()
    results = repo.merge(5, second)
    for out in results.values():
        assert not out["ok"] and out["exitcode"] == "1" and out["stale"] == "true", out["log"]
    assert repo.server.dump() == before  # the unreviewed change was not applied
    refused = [c for c in repo.comments(5) if "The reviewed plan was not applied" in c]
    assert len(refused) == 2  # one per environment, new comments on the merged pull request
    for env, body in zip(ENVS, sorted(refused, key=lambda c: "staging" not in c), strict=True):
        assert f"group {PREFIX[env]}c changed" in body
        assert "member u8" in body  # the plan of the merged config
    # The follow-up: the merged config planned, reviewed and applied.
    repo.open_pr(6, lambda groups: None)
    assert all(out["ok"] for out in repo.merge(6, lambda groups: None).values())
    repo.assert_live_matches_main()


def test_a_reviewed_destroy_is_applied_with_allow_destroy(repo: Repo) -> None:
    def destroy(groups):
        groups["a"] = {"absent": True}

    repo.open_pr(7, destroy)
    refused = repo.merge(7, destroy)  # allow-destroy: false
    assert all(out["exitcode"] == "3" and not out["ok"] for out in refused.values())
    assert repo.live("prd-a") is not None
    applied = repo.merge(7, lambda groups: None, allow_destroy="true")
    for out in applied.values():
        assert out["ok"] and out["destructive"] == "true" and out["groups-destroy"] == "1"
    assert repo.live("prd-a") is None and repo.live("stg-a") is None
    repo.assert_live_matches_main()
