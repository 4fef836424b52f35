"""One config revision across writers: which revision of the config was last applied to the app.

A revision is the git commit of the config and its commit time when the config directory is a
clean checkout, else the config's digest and the newest modification time of its files. Every
writer (apply, apply --plan, watch) records the revision it applied in a group of the tool's
own (``REVISION_GROUP_ID``, Introduction), while it holds the app lock, so the record and the
writes it speaks for come from one holder. Revisions are ordered by time: a writer whose
revision is older than the recorded one must not write (it would revert what the newer one
applied): apply refuses without ``--force``, watch holds its writes until it runs that revision.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reconciler.state import REVISION_GROUP_ID, GroupType
from reconciler.tim.calls import CreateGroup, ModifyGroup
from reconciler.tim.client import TimClient
from reconciler.tim.errors import ID_TAKEN_CODES, TimApiError
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


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def of_files(directory: Path, files: list[Path], digest: str) -> Revision:
    """The revision of a config read from ``files`` under ``directory`` with ``digest``."""
    head = _git(directory, "log", "-1", "--format=%H %ct", "--", ".")
    dirty = _git(directory, "status", "--porcelain", "--untracked-files=no", "--", ".")
    if head and dirty == "":
        commit, when = head.split()
        return Revision(commit, int(when))
    times = [int(f.stat().st_mtime) for f in files if f.exists()]
    return Revision(f"sha256:{digest}", max(times, default=0))


async def recorded(client: TimClient) -> Revision | None:
    """The revision last recorded for the app (None: none yet)."""
    group = await get_group(client, REVISION_GROUP_ID)
    return None if group is None else Revision.parse(group.introduction or "")


async def record(client: TimClient, revision: Revision) -> list[str]:
    """Record ``revision`` as the one applied (the caller holds the app lock), through the
    requests a plan sends: create the record group, or modify it when it exists. Returns the
    APIs called (the tool's own calls, counted apart from the plan's)."""
    text = revision.text()
    request = CreateGroup(
        REVISION_GROUP_ID, GroupType.Private, "tim-reconciler revision", introduction=text
    )
    try:
        if not (await client.perform(request)).existed:
            return [request.api]
    except TimApiError as err:
        if err.code not in ID_TAKEN_CODES:
            raise
    modify = ModifyGroup(REVISION_GROUP_ID, introduction=text)
    await client.perform(modify)
    return [request.api, modify.api]
