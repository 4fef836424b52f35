"""Watch next to git-sync: each revision of the config is published as a new directory and a
symlink to it is swapped atomically. Watch follows the link (the config path inside it, a values
file and a template too), reloads on a new revision, keeps the last good one when a revision is
invalid, and reports the revision it runs, the one it records for the app: the git commit of a
synced worktree, else the config's digest."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import wait_until
from test_watch import GROUPS, Watch, start_watch, stop
from test_watch_revision import git

HAVE_GIT = shutil.which("git") is not None
TEMPLATE = "name: Club\n"  # the line of groups.yaml the template renders from the values file


class Publisher:
    """git-sync's contract, done the way it does it: a repository in ``root``, each revision
    checked out as a worktree of its own (``.worktrees/<commit>``, whose ``.git`` is a file),
    then ``link`` swapped to it with a rename; the worktree it replaced is removed. Without
    git, each revision is a plain directory, published the same way."""

    def __init__(self, tmp: Path, link: Path, use_git: bool) -> None:
        self.origin, self.root = tmp / "origin", tmp / "sync"
        self.link, self.use_git = link, use_git
        self.published: Path | None = None
        self.tree: dict[str, str] = {}
        self.count = 0
        self.when = 1_800_000_000

    def publish(self, files: dict[str, str]) -> str:
        """A new revision with ``files`` (path in the repository -> text); returns its id (the
        commit, or the directory's name)."""
        self.count += 1
        if self.use_git:
            self.origin.mkdir(exist_ok=True)
            if not (self.origin / ".git").exists():
                git(self.origin, "init", "-q", "-b", "main")
            for name, text in files.items():
                (self.origin / name).parent.mkdir(parents=True, exist_ok=True)
                (self.origin / name).write_text(text)
            self.when += 100
            git(self.origin, "add", "-A")
            git(self.origin, "commit", "-q", "-m", f"revision {self.count}", when=self.when)
            return self.sync()
        target = self.root / ".worktrees" / f"rev{self.count}"
        self.tree.update(files)  # each revision a whole tree, as a commit is
        for name, text in self.tree.items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_text(text)
        self._swap(target)
        return target.name

    def sync(self) -> str:
        """What git-sync does on a new commit of ``origin``: returns the commit."""
        if not (self.root / ".git").exists():
            git(self.root.parent, "init", "-q", str(self.root))
        git(self.root, "fetch", "-q", "--depth", "1", str(self.origin), "main")
        commit = git(self.root, "rev-parse", "FETCH_HEAD")
        target = self.root / ".worktrees" / commit
        git(self.root, "worktree", "add", "-q", "--detach", str(target), commit)
        assert (target / ".git").is_file()  # a linked worktree, as git-sync makes
        self._swap(target)
        return commit

    def _swap(self, target: Path) -> None:
        swap = self.link.with_name(self.link.name + ".tmp")
        os.symlink(os.path.relpath(target, self.link.parent), swap)
        os.replace(swap, self.link)  # atomic, as git-sync's
        if self.published is not None:  # git-sync removes the worktree it replaced
            if self.use_git:
                git(self.root, "worktree", "remove", "--force", str(self.published))
            else:
                shutil.rmtree(self.published)
        self.published = target


@pytest.mark.parametrize(
    "use_git",
    [
        pytest.param(True, id="git", marks=pytest.mark.skipif(not HAVE_GIT, reason="no git")),
        pytest.param(False, id="directories"),
    ],
)
def test_watch_follows_a_git_sync_link_and_keeps_the_last_good_revision(tmp_path, use_git):
    publisher: Publisher | None = None
    first: dict[str, str] = {}

    def synced(cfg: Path) -> None:
        """Turn the config start_watch wrote into a template and a values file in a synced
        repository, ``cfg`` being git-sync's link to it."""
        nonlocal publisher
        text = (cfg / "groups.yaml").read_text()
        assert TEMPLATE in text
        shutil.rmtree(cfg)
        publisher = Publisher(tmp_path, cfg, use_git)
        first.update(
            {
                "README.md": "the chat groups of the app\n",
                "tim/groups.yaml.j2": text.replace(TEMPLATE, "name: {{ club_name }}\n"),
                "tim/values/prod.yaml": "club_name: Club\n",
            }
        )
        first["id"] = publisher.publish({k: v for k, v in first.items()})

    values = tmp_path / "cfg" / "tim" / "values" / "prod.yaml"
    w = start_watch(tmp_path, GROUPS[:1], "--values", str(values), prepare=synced, at="tim")
    assert publisher is not None
    try:

        def runs(rev: str, reloads: int) -> bool:
            """It runs revision ``rev`` (directories: its digest), after ``reloads`` reloads."""
            status = w.health()
            want = rev if use_git else f"sha256:{status['config_digest']}"
            done = w.metric("reconciler_watch_config_reloads_total", outcome="ok")
            return status["revision_id"] == want and done == reloads

        def info(w: Watch) -> dict[str, float]:
            prefix = "reconciler_watch_config_info{"
            return {k: v for k, v in w.metrics().items() if k.startswith(prefix)}

        assert runs(first["id"], 0), w.health()
        running = w.health()["revision_id"]
        assert info(w) == {f'reconciler_watch_config_info{{revision="{running}"}}': 1.0}
        # The revision it runs is the one it records for the app.
        assert wait_until(lambda: w.health()["recorded_revision"], 10), w.text()
        assert w.health()["recorded_revision"].startswith(running[:12])

        # A new revision: the values file (inside the link) changes the rendered name.
        second = publisher.publish({"tim/values/prod.yaml": "club_name: Club 2\n"})
        assert wait_until(lambda: w.server.dump()["groups"]["club"]["Name"] == "Club 2", 10), (
            w.text()
        )
        assert wait_until(lambda: runs(second, 1), 5), w.health()
        running = w.health()["revision_id"]
        assert running != first["id"]
        assert info(w) == {f'reconciler_watch_config_info{{revision="{running}"}}': 1.0}
        assert wait_until(lambda: w.health()["recorded_revision"].startswith(running[:12]), 10)

        # An invalid revision (a template that does not parse) is not taken.
        broken = publisher.publish({"tim/groups.yaml.j2": "groups: [{{ unclosed\n"})
        assert wait_until(lambda: w.health()["reload_refused_at"] is not None, 10), w.text()
        time.sleep(2.5)  # a few more looks at the files: still one line for this revision
        status = w.get("/status")
        assert status.json()["revision_id"] == running
        if use_git:
            assert status.json()["refused_revision"].startswith(broken[:12])
            assert w.text().count(f"revision {broken[:12]}") == 1, w.text()
        assert w.text().count("config reload (a config file changed) refused") == 1, w.text()
        assert w.metric("reconciler_watch_config_refused") == 1
        assert w.metric("reconciler_watch_config_reloads_total", outcome="refused") == 1
        assert info(w) == {f'reconciler_watch_config_info{{revision="{running}"}}': 1.0}
        for public in (status.text, w.get("/").text, w.get("/metrics").text):
            assert str(tmp_path) not in public and "unclosed" not in public
            assert "groups.yaml" not in public and "prod.yaml" not in public
        assert w.get("/readyz").status_code == 200  # the last good config runs on
        w.rest("group_open_http_svc/modify_group_base_info", {"GroupId": "club", "Name": "X"})
        assert wait_until(lambda: w.server.dump()["groups"]["club"]["Name"] == "Club 2", 10)

        # The next good revision is taken, and the refusal is over.
        fixed = publisher.publish({"tim/groups.yaml.j2": first["tim/groups.yaml.j2"]})
        assert wait_until(lambda: runs(fixed, 2), 10), w.text()
        assert w.health()["refused_revision"] is None and w.health()["reload_refused_at"] is None
        assert w.metric("reconciler_watch_config_refused") == 0
    finally:
        stop(w)


@pytest.mark.skipif(not HAVE_GIT, reason="no git")
def test_a_synced_worktree_gives_the_commit_a_full_clone_gives(tmp_path):
    """CI applies from its own checkout (any depth), the watch from git-sync's shallow worktree:
    both must name the same revision, or one would take the other for an older writer."""
    from reconciler.revision import of_git

    origin = tmp_path / "origin"
    (origin / "tim").mkdir(parents=True)
    git(origin, "init", "-q", "-b", "main")
    (origin / "tim" / "groups.yaml").write_text("groups: []\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "config")
    (origin / "README.md").write_text("later: not the config\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "docs", when=1_800_000_100)
    head = git(origin, "rev-parse", "HEAD")
    link = tmp_path / "config"
    Publisher(tmp_path, link, True).sync()  # the same commits, fetched at depth 1
    clone = tmp_path / "ci"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    revisions = {of_git(d / "tim") for d in (origin, clone, link)}
    assert len(revisions) == 1 and revisions.pop().id == head
    (clone / "tim" / "groups.yaml").write_text("groups: [edited]\n")  # changed: not the commit
    assert of_git(clone / "tim") is None and of_git(clone) is None
