"""One config revision across writers: which revision of the config was last applied to the app.

A revision is the HEAD commit of the checkout the config directory is in and its commit time,
when nothing tracked under that directory is changed (``of_git``), else the config's digest and
the newest modification time of its files. Every
writer (apply, apply --plan, watch) records the revision it applied in a group of the tool's
own (``REVISION_GROUP_ID``, Introduction), while it holds the app lock, so the record and the
writes it speaks for come from one holder. Revisions are ordered by time: a writer whose
revision is older than the recorded one must not write (it would revert what the newer one
applied): apply refuses without ``--force``, watch holds its writes until it runs that revision.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.state import REVISION_GROUP_ID, GroupType
from reconciler.tim.calls import CreateGroup, ModifyGroup
from reconciler.tim.client import CONTROL, TimClient
from reconciler.tim.errors import GROUP_GONE_CODES, ID_TAKEN_CODES, TimApiError
from reconciler.tim.wire.groups import get_group


@dataclass(frozen=True)
class Revision:
    id: str  # a git commit, or "sha256:<config digest>"
    time: int  # unix seconds: the commit time, or the files' newest modification
    by: str = ""  # who recorded it (user@host (purpose)), for people

    def newer_than(self, other: Revision | None) -> bool:
        return other is None or (self.time > other.time and self.id != other.id)

    def same(self, other: Revision | None) -> bool:
        return other is not None and other.id == self.id

    def describe(self) -> str:
        from reconciler.state import utc_text

        short = self.id[:19] if self.id.startswith("sha256:") else self.id[:12]
        return f"{short} of {utc_text(self.time)}" + (f", applied by {self.by}" if self.by else "")

    def text(self) -> str:
        return json.dumps({"id": self.id, "time": self.time, "by": self.by}, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> Revision | None:
        try:
            data = json.loads(text)
            return cls(str(data["id"]), int(data["time"]), str(data.get("by", "")))
        except (ValueError, KeyError, TypeError):
            return None


def of_git(directory: Path) -> Revision | None:
    """The HEAD commit of the git checkout ``directory`` is in (a clone, or a linked worktree
    such as git-sync's, whose ``.git`` is a file), when nothing tracked under ``directory`` is
    changed; None otherwise. HEAD, not the last commit that touched ``directory``: a shallow
    clone (git-sync's, a CI checkout's) has no history to find that in, and every checkout of
    a commit must give that commit. Read with dulwich, so a container needs no git program,
    and no hook or configured command of the repository ever runs."""
    from dulwich import porcelain
    from dulwich.errors import NotGitRepository
    from dulwich.objects import Commit
    from dulwich.repo import Repo

    try:
        with Repo.discover(str(directory)) as repo:
            head = repo[repo.head()]
            if not isinstance(head, Commit):
                return None
            changes = porcelain.status(repo, untracked_files="no", optional_locks=False)
            under = directory.resolve().relative_to(Path(repo.path).resolve()).as_posix()
            prefix = b"" if under == "." else under.encode() + b"/"
            changed = [*changes.unstaged, *(p for ps in changes.staged.values() for p in ps)]
            if any(os.fsencode(p).startswith(prefix) for p in changed):
                return None
            return Revision(head.id.decode(), int(head.commit_time))
    except (NotGitRepository, KeyError, OSError, ValueError):
        return None


def of_files(directory: Path, files: list[Path], digest: str) -> Revision:
    """The revision of a config read from ``files`` under ``directory`` with ``digest``."""
    commit = of_git(directory)
    if commit is not None:
        return commit
    times = [int(f.stat().st_mtime) for f in files if f.exists()]
    return Revision(f"sha256:{digest}", max(times, default=0))


async def recorded(client: TimClient) -> Revision | None:
    """The revision last recorded for the app (None: none yet)."""
    group = await get_group(client, REVISION_GROUP_ID, CONTROL)
    return None if group is None else Revision.parse(group.introduction or "")


async def record(client: TimClient, revision: Revision, exists: bool = False) -> list[str]:
    """Record ``revision`` as the one applied (the caller holds the app lock), through the
    requests a plan sends: create the record group, or modify it when it exists. ``exists``:
    the record group was read when the lock was taken, so it is modified first (one call
    instead of two; created when it is gone after all). Returns the APIs called (the tool's
    own calls, counted apart from the plan's)."""
    text = revision.text()
    modify = ModifyGroup(REVISION_GROUP_ID, introduction=text)
    called: list[str] = []
    if exists:
        try:
            await client.perform(modify)
            return [modify.api]
        except TimApiError as err:
            if err.code not in GROUP_GONE_CODES:
                raise
        called.append(modify.api)
    request = CreateGroup(
        REVISION_GROUP_ID, GroupType.Private, "tim-reconciler revision", introduction=text
    )
    try:
        if not (await client.perform(request)).existed:
            return [*called, request.api]
    except TimApiError as err:
        if err.code not in ID_TAKEN_CODES:
            raise
    await client.perform(modify)
    return [*called, request.api, modify.api]
